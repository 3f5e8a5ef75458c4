/**
 * Hot paths on their own, filling what `consumer_bench.ts` (decode + validate + pre-aggregate per
 * message), `producer_bench.ts` (generate + serialize + pack) and `flush_bench.ts` (a 5,000-event
 * flush with and without the analytics stages) leave out:
 *
 *   - schema validation of one event (`validateEvent`, zod) and its encoding (`encodeEvent`);
 *   - pre-aggregation of a whole flush (`preAggregate`, 5000 events);
 *   - the flush transaction without stages on real PostgreSQL (`flushEvents`: build the `unnest`
 *     arrays, insert, upsert the aggregates, counters): 500 and 5,000 new events, and a 5,000-event
 *     redelivery (all duplicates).
 *
 *   deno bench -A bench/hot_path_bench.ts
 *
 * PostgreSQL: DATABASE_URL or 127.0.0.1:5432 (a fresh schema, dropped at the end); the flush group
 * is skipped on the embedded PGlite.
 */
import { type AcceptedEvent, flushEvents, preAggregate } from "../consumer/mod.ts";
import { makeEvents } from "../test/consumer_support.ts";
import { encodeEvent, type Event, validateEvent } from "../shared/mod.ts";
import { createTestDb } from "../test/harness.ts";

const sample = makeEvents(1000, 11);
const asJson = sample.map((e) => JSON.parse(JSON.stringify(e)) as unknown);
let v = 0;
Deno.bench("validateEvent (zod), one event", { group: "schema", baseline: true }, () => {
  const r = validateEvent(asJson[v++ % asJson.length]);
  if (!r.ok) throw new Error(r.reason);
});
let w = 0;
Deno.bench("encodeEvent (ASCII-safe JSON), one event", { group: "schema" }, () => {
  encodeEvent(sample[w++ % sample.length]);
});

const accepted = (events: readonly Event[]): AcceptedEvent[] =>
  events.map((event) => ({ event, timeMs: Date.parse(event.timestamp) }));
const flush5000 = accepted(makeEvents(5000, 12));
const segmentOf = (userId: string) => userId.length % 3 === 0 ? "loyal" : "new";
Deno.bench("preAggregate, 5000 events", { group: "pre-aggregation" }, () => {
  preAggregate(flush5000, segmentOf);
});

const db = await createTestDb();
if (Deno.env.get("BENCH_DEBUG")) console.error(`schema ${db.schema}`);
// deno bench has no teardown hook and async work in `unload` never finishes: drop the schema from
// a short synchronous child process.
globalThis.addEventListener("unload", () => {
  new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./loadtest/drop_schema.ts", import.meta.url).pathname,
      db.url,
      db.schema,
    ],
    stdout: "null",
  }).outputSync();
});
let seed = 100;
for (const size of [500, 5000]) {
  Deno.bench(`flushEvents, ${size} new events (one transaction)`, {
    group: "flush (PostgreSQL)",
    ignore: db.embedded,
    n: size === 5000 ? 20 : 50,
    warmup: 3,
  }, async (b) => {
    const events = accepted(makeEvents(size, seed++));
    b.start();
    await flushEvents({ events, rejects: [], messages: Math.ceil(size / 200), workerId: "bench" }, {
      sql: db.sql,
      segmentOf,
    });
    b.end();
  });
}
const replay = accepted(makeEvents(5000, 7));
await flushEvents({ events: replay, rejects: [], messages: 25, workerId: "bench" }, {
  sql: db.sql,
  segmentOf,
});
Deno.bench("flushEvents, 5000 duplicates (a redelivery)", {
  group: "flush (PostgreSQL)",
  ignore: db.embedded,
  n: 20,
  warmup: 3,
}, async () => {
  await flushEvents({ events: replay, rejects: [], messages: 25, workerId: "bench" }, {
    sql: db.sql,
    segmentOf,
  });
});
