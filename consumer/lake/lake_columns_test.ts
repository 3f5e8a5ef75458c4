import assert from "node:assert/strict";
import { LAKE_COLUMNS, objectKey, padBatch, partitionOf } from "./lake_columns.ts";

Deno.test("partitionOf() names the UTC day and hour of an event time in microseconds", () => {
  const us = Date.parse("2026-03-04T23:59:59.999Z") * 1000 + 999;
  assert.deepEqual(partitionOf(us), { dt: "2026-03-04", hour: "23" });
  assert.deepEqual(partitionOf(Date.parse("2026-03-05T00:00:00Z") * 1000), {
    dt: "2026-03-05",
    hour: "00",
  });
});

Deno.test("objectKey() is the same for the same range and sorts in export order", () => {
  const p = { dt: "2026-03-04", hour: "07" };
  assert.equal(
    objectKey("lake/", p, 42, 1000),
    "lake/events/dt=2026-03-04/hour=07/part-00000000000000000042-00000000000000001000.parquet",
  );
  assert.equal(objectKey("", p, 5, 9), objectKey("", p, 5, 9));
  assert.ok(padBatch(999) < padBatch(1000));
});

Deno.test("docs/lake.md describes every lake column", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/lake.md", import.meta.url));
  for (const c of LAKE_COLUMNS) {
    assert.match(doc, new RegExp(`^\\| \`${c.name}\` +\\|`, "m"), `docs/lake.md lacks ${c.name}`);
  }
});
