/**
 * The lake export on real PostgreSQL, fauxqs's S3 and DuckDB: every stored event lands in the
 * lake once, in its event-time partition; a run that dies between upload and watermark is resumed
 * without duplicates or gaps; a flush that commits late (out of order) is neither skipped nor
 * exported early.
 */
import assert from "node:assert/strict";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { type AcceptedEvent, flushEvents } from "../consumer/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { exportToLake, readWatermark, syncLake } from "../consumer/lake/mod.ts";
import { openLakeDb } from "../consumer/lake/duckdb_lake.ts";
import type { Sql } from "../shared/mod.ts";
import { createTestDb, eventually } from "./harness.ts";
import { createTestLake, exportAll, type TestLake } from "./lake_fixtures.ts";

const HOUR = 3_600_000;

/** `n` seeded events between `startMs` and `startMs + spanMs`, flushed in chunks of `chunk`. */
async function store(
  sql: Sql,
  n: number,
  startMs: number,
  spanMs: number,
  seed: number,
  chunk = 500,
): Promise<AcceptedEvent[]> {
  const g = createGenerator({ seed, users: 300, products: 50 });
  const all: AcceptedEvent[] = [];
  for (let i = 0; i < n; i++) {
    const timeMs = startMs + Math.floor((i * spanMs) / n);
    all.push({ event: g.next(timeMs), timeMs });
  }
  for (let i = 0; i < all.length; i += chunk) {
    await flushEvents({
      events: all.slice(i, i + chunk),
      rejects: [],
      messages: 1,
      workerId: "test",
    }, { sql });
  }
  return all;
}

async function lakeIds(
  lake: TestLake,
): Promise<{ ids: string[]; byPartition: Map<string, number> }> {
  await syncLake({ s3: lake.s3, bucket: lake.bucket }, { cacheDir: lake.cacheDir });
  const db = await openLakeDb(lake.cacheDir);
  try {
    const ids = (await db.query("select event_id from events order by event_id")).rows.map((r) =>
      String(r[0])
    );
    // The partition in the path must be the event's own hour.
    const bad = await db.query(
      "select count(*) from events where dt <> cast(event_time as date) or hour <> hour(event_time)",
    );
    assert.equal(bad.rows[0]![0], 0, "every event sits in its event-time partition");
    const parts = await db.query("select dt::varchar, hour, count(*) from events group by all");
    return {
      ids,
      byPartition: new Map(parts.rows.map((r) => [`${r[0]}/${r[1]}`, Number(r[2])])),
    };
  } finally {
    db.close();
  }
}

async function storedIds(sql: Sql): Promise<string[]> {
  return (await sql<{ id: string }[]>`select event_id::text as id from events order by 1`)
    .map((r) => r.id);
}

async function listKeys(lake: TestLake): Promise<string[]> {
  const out = await lake.s3.send(new ListObjectsV2Command({ Bucket: lake.bucket }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

Deno.test("exportToLake() puts every stored event in the lake once, late ones in their own hour", async () => {
  const db = await createTestDb();
  const lake = await createTestLake();
  try {
    const now = Date.now();
    await store(db.sql, 3000, now - 3 * HOUR, 3 * HOUR, 1);
    await exportAll(db.sql, lake, { maxRows: 1000 });
    // Late events: stored after the first export, with event times hours earlier.
    await store(db.sql, 400, now - 5 * HOUR, 2 * HOUR, 2, 100);
    const results = await exportAll(db.sql, lake, { maxRows: 1000 });
    assert.ok(results.some((r) => r.rows > 0));

    const { ids, byPartition } = await lakeIds(lake);
    const stored = await storedIds(db.sql);
    assert.equal(ids.length, 3400);
    assert.deepEqual(ids, stored, "the lake holds exactly the stored events");
    const expected = await db.sql<{ p: string; n: number }[]>`
      select to_char(event_time, 'YYYY-MM-DD/FMHH24') as p, count(*)::int as n
      from events group by 1`;
    for (const { p, n } of expected) {
      const [dt, h] = p.split("/");
      assert.equal(byPartition.get(`${dt}/${Number(h)}`), n, `partition ${p}`);
    }
    // Every object is in a committed manifest entry and vice versa.
    const manifest = await db.sql<{ key: string }[]>`
      select o ->> 'key' as key from lake_exports, jsonb_array_elements(objects) o
      where state = 'committed' order by 1`;
    assert.deepEqual(manifest.map((m) => m.key), await listKeys(lake));
    assert.match(
      manifest[0]!.key,
      /^events\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/part-\d{20}-\d{20}\.parquet$/,
    );
  } finally {
    await lake.close();
    await db.close();
  }
});

Deno.test("exportToLake() resumes a run that crashed between upload and watermark, with no duplicate or gap", async () => {
  const db = await createTestDb();
  const lake = await createTestLake();
  try {
    const now = Date.now();
    await exportAll(db.sql, lake); // the schema's own migration rows: start from a clean watermark
    await store(db.sql, 2000, now - 4 * HOUR, 4 * HOUR, 3);
    const deps = { sql: db.sql, s3: lake.s3, bucket: lake.bucket };
    const crash = new Error("crash after the first upload");
    // Other sessions' transactions may hold the snapshot's xmin back for a while: retry until a
    // run gets as far as uploading, and stop it right there.
    let crashed = false;
    assert.ok(
      await eventually(async () => {
        try {
          await exportToLake(deps, {
            afterUpload: () => {
              throw crash;
            },
          });
        } catch (err) {
          if (err !== crash) throw err;
          crashed = true;
        }
        return crashed;
      }, 180_000),
      "no export run reached an upload",
    );
    // The state a killed process leaves: an object uploaded, the range pending from the
    // watermark, the watermark not moved past it.
    const [pending] = await db.sql<{ from_batch: number; n: number }[]>`
      select min(from_batch) as from_batch, count(*)::int as n
      from lake_exports where state = 'pending'`;
    assert.equal(pending!.n, 1);
    assert.equal(pending!.from_batch, await readWatermark(db.sql));
    assert.equal((await listKeys(lake)).length, 1);

    // More flushes commit before the next run: the resumed run must not widen its range.
    await store(db.sql, 500, now - HOUR, HOUR, 4);
    const first = await exportToLake(deps, { maxBatches: 1 });
    assert.equal(first.resumed, true);
    await exportAll(db.sql, lake);

    const { ids } = await lakeIds(lake);
    assert.deepEqual(ids, await storedIds(db.sql));
    assert.equal(new Set(ids).size, ids.length, "no event twice");
    const [states] = await db.sql<{ pending: number; committed: number }[]>`
      select count(*) filter (where state = 'pending')::int as pending,
             count(*) filter (where state = 'committed')::int as committed from lake_exports`;
    assert.equal(states!.pending, 0);
    assert.ok(states!.committed >= 2);
  } finally {
    await lake.close();
    await db.close();
  }
});

Deno.test("exportToLake() waits for a flush that commits after a later one, then exports it once", async () => {
  const db = await createTestDb();
  const lake = await createTestLake();
  const slow = db.connect(1);
  try {
    const now = Date.now();
    const g = createGenerator({ seed: 5, users: 50, products: 10 });
    const batch = (n: number): AcceptedEvent[] =>
      Array.from(
        { length: n },
        (_, i) => ({ event: g.next(now - 1000 + i), timeMs: now - 1000 + i }),
      );
    // The slow flush takes its transaction id first and commits last.
    let release!: () => void;
    const released = new Promise<void>((r) => release = r);
    let started!: () => void;
    const begun = new Promise<void>((r) => started = r);
    const slowBatch = batch(50);
    const slowFlush = flushEvents(
      { events: slowBatch, rejects: [], messages: 1, workerId: "slow" },
      {
        sql: slow,
        // Takes its transaction id, then waits before its statement: it holds no row lock the
        // fast flush needs (the same minute's counter rows).
        inTransaction: async (tx) => {
          await tx`select pg_current_xact_id()`;
          started();
          await released;
        },
      },
    );
    await begun;
    await flushEvents({ events: batch(70), rejects: [], messages: 1, workerId: "fast" }, {
      sql: db.sql,
    });
    const deps = { sql: db.sql, s3: lake.s3, bucket: lake.bucket };
    const during = await exportToLake(deps);
    // Nothing at or above the open flush's transaction may be exported yet: the fast batch waits.
    assert.equal(during.rows, 0, "the later, committed flush is held back behind the open one");

    release();
    await slowFlush;
    await exportAll(db.sql, lake);
    const { ids } = await lakeIds(lake);
    assert.equal(ids.length, 120);
    assert.deepEqual(ids, await storedIds(db.sql));
  } finally {
    await lake.close();
    await db.close();
  }
});
