/**
 * One `lake jobs` run at a time: the scheduled task may start while the last run is still going,
 * and the second run must then do nothing. Real PostgreSQL; the lock is per schema.
 */
import assert from "node:assert/strict";
import { tryLakeJobsLock } from "../consumer/lake/run_lake_jobs.ts";
import { createTestDb, testDatabaseUrl } from "./harness.ts";
import { createTestLake } from "./lake_fixtures.ts";

const { embedded } = await testDatabaseUrl();
const ROOT = new URL("..", import.meta.url);

/** Runs `lake jobs` as the task does, on the test schema; stdout and stderr as one text. */
async function runLakeJobsCli(
  db: { url: string; schema: string },
  env: Record<string, string>,
): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "consumer/lake/main.ts", "jobs"],
    cwd: ROOT,
    env: {
      DATABASE_URL: db.url,
      DB_SCHEMA: db.schema,
      AWS_REGION: "us-east-1",
      LOG_FORMAT: "json",
      NO_COLOR: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // JSON log lines and the summary line share stdout in a container's log format.
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test({
  name: "tryLakeJobsLock() refuses a second holder until the first releases",
  ignore: embedded, // PGlite serves one connection; the lock needs a session of its own
  async fn() {
    const db = await createTestDb();
    const other = db.connect(2);
    try {
      const release = await tryLakeJobsLock(db.sql);
      assert.ok(release, "the first run takes the lock");
      assert.equal(await tryLakeJobsLock(other), null);
      await release();
      const again = await tryLakeJobsLock(other);
      assert.ok(again, "the lock is free after release");
      await again();
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name: "`lake jobs` logs the completion line the production alarm counts, then frees the lock",
  ignore: embedded,
  async fn() {
    const db = await createTestDb();
    const lake = await createTestLake();
    try {
      const { code, text } = await runLakeJobsCli(db, {
        LAKE_S3_ENDPOINT: lake.endpoint,
        LAKE_BUCKET: lake.bucket,
        LAKE_CACHE_DIR: lake.cacheDir,
      });
      assert.equal(code, 0, text);
      const lines = text.split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const summary = lines.find((l) => "exported" in l);
      assert.equal(summary?.exported, 0, text);
      assert.equal(summary?.differences, 0);
      // deploy/cdk/lake_jobs_task.ts filters on `{ $.message = "Lake jobs finished*" }`.
      const finished = lines.filter((l) => String(l.message).startsWith("Lake jobs finished"));
      assert.equal(finished.length, 1, text);
      const release = await tryLakeJobsLock(db.sql);
      assert.ok(release, "the run released its lock");
      await release();
    } finally {
      await lake.close();
      await db.close();
    }
  },
});

Deno.test({
  name: "`lake jobs` exits 0 without exporting when another run holds the lock",
  ignore: embedded,
  async fn() {
    const db = await createTestDb();
    const release = await tryLakeJobsLock(db.sql);
    assert.ok(release);
    try {
      const { code, text } = await runLakeJobsCli(db, { LAKE_BUCKET: "never-used" });
      assert.equal(code, 0, text);
      assert.ok(text.split("\n").includes(JSON.stringify({ skipped: true })), text);
      assert.match(text, /Another lake jobs run holds the lock/);
      const [state] = await db.sql<{ n: number }[]>`select count(*)::int as n from lake_exports`;
      assert.equal(state!.n, 0, "the skipped run claimed no export range");
    } finally {
      await release();
      await db.close();
    }
  },
});
