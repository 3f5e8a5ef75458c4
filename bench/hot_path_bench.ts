/**
 * Hot paths on their own, filling what `consumer_bench.ts` (decode + validate + pre-aggregate per
 * message), `producer_bench.ts` (generate + serialize + pack) and `flush_bench.ts` (a 5,000-event
 * flush with and without the analytics stages) leave out:
 *
 *   - schema validation of one event and its encoding (`encodeEvent`): zod (`validateEvent`, the
 *     reference) beside the compiled validator the hot path uses (`compiledValidator`, ajv built
 *     from zod's JSON Schema), and the whole per-event decode before and after, side by side in
 *     one run (group "validation"; `--filter validation` runs only it);
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
import {
  applyEventAliases,
  checkInputLimits,
  compiledValidator,
  CONTRACT_SCHEMAS,
  decodeEvent,
  encodeEvent,
  type Event,
  validateEvent,
} from "../shared/mod.ts";
import { createTestDb } from "../test/harness.ts";

const sample = makeEvents(1000, 11);
const asJson = sample.map((e) => JSON.parse(JSON.stringify(e)) as unknown);
let v = 0;
Deno.bench("validateEvent (zod), one event", { group: "schema", baseline: true }, () => {
  const r = validateEvent(asJson[v++ % asJson.length]);
  if (!r.ok) throw new Error(r.reason);
});
// The producer's events as a consumer sees them (JSON.parse of a message). "before" is the decode
// path as it was: limits, aliases, then the strict zod schema; "after" is `decodeEvent` today.
let d = 0;
const next = () => asJson[d++ % asJson.length];
Deno.bench("validation: zod safeParse, strict schema (before)", {
  group: "validation",
  baseline: true,
}, () => {
  if (!CONTRACT_SCHEMAS.strict.safeParse(next()).success) throw new Error("invalid");
});
Deno.bench("validation: zod safeParse, lenient schema", { group: "validation" }, () => {
  if (!CONTRACT_SCHEMAS.lenient.safeParse(next()).success) throw new Error("invalid");
});
const compiledStrict = compiledValidator("strict");
const compiledLenient = compiledValidator("lenient");
Deno.bench("validation: compiled (ajv), strict schema", { group: "validation" }, () => {
  if (!compiledStrict(next())) throw new Error("invalid");
});
Deno.bench("validation: compiled (ajv), lenient schema (after)", { group: "validation" }, () => {
  if (!compiledLenient(next())) throw new Error("invalid");
});
Deno.bench("validation: decode one event before (limits + aliases + zod strict)", {
  group: "validation",
}, () => {
  const value = next();
  if (checkInputLimits(value) !== null) throw new Error("limits");
  const r = validateEvent(applyEventAliases(value), "strict");
  if (!r.ok) throw new Error(r.reason);
});
Deno.bench(
  "validation: decode one event after (decodeEvent: limits + aliases + compiled + normalise)",
  {
    group: "validation",
  },
  () => {
    const r = decodeEvent(next());
    if (!r.ok) throw new Error(r.reason);
  },
);

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
