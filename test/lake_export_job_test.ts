/** The export as a scheduler runs it: built from the configuration alone, bucket created once. */
import assert from "node:assert/strict";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { flushEvents } from "../consumer/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { createLakeExportJob } from "../consumer/lake/mod.ts";
import { createTestDb, eventually, testConfig } from "./harness.ts";
import { createTestLake } from "./lake_fixtures.ts";

Deno.test("createLakeExportJob() exports with the configured bucket, creating it on an emulator", async () => {
  const db = await createTestDb();
  const lake = await createTestLake();
  const bucket = `job-${crypto.randomUUID().slice(0, 8)}`;
  const job = createLakeExportJob({
    sql: db.sql,
    config: testConfig({ sqsEndpoint: lake.endpoint, lakeBucket: bucket, lakePrefix: "raw/" }),
  });
  try {
    const g = createGenerator({ seed: 3, users: 20, products: 5 });
    const now = Date.now();
    const events = Array.from({ length: 200 }, (_, i) => ({
      event: g.next(now - 1000 + i),
      timeMs: now - 1000 + i,
    }));
    await flushEvents({ events, rejects: [], messages: 1, workerId: "t" }, { sql: db.sql });
    let exported = 0;
    assert.ok(await eventually(async () => (exported += (await job.run()).rows) >= 200, 180_000));
    assert.equal(exported, 200);
    const listed = await lake.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.ok((listed.Contents ?? []).length >= 1);
    assert.ok(listed.Contents!.every((o) => o.Key!.startsWith("raw/events/dt=")));
    assert.equal((await job.run()).rows, 0, "a second run has nothing left to export");
  } finally {
    job.close();
    await lake.close();
    await db.close();
  }
});
