/**
 * One flush of 5,000 events of the realistic producer model (`createGenerator({ seed: 1 })`, 50k
 * events/s of event time) into PostgreSQL, with and without the six analytics stages.
 *
 *   deno bench -A bench/flush_bench.ts
 *
 * Each case has its own fresh schema and keeps flushing new events into it (so tables grow as in
 * production); every iteration stores 5,000 new events. Per-stage times: `deno run -A
 * bench/analytics_flush_measure.ts`; end to end through fauxqs: `bench/drain.ts (`deno task bench:drain`)`.
 */
import { analyticsStages, flushEvents, type FlushStage } from "../consumer/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { loadConfig } from "../shared/mod.ts";
import { createTestDb, type TestDb } from "../test/harness.ts";

const SIZE = 5000;
const WARMUP = 2;
const N = 10;
const segmentOf = (userId: string) =>
  ["new", "returning", "loyal"][Number(userId.replace(/\D/g, "") || 0) % 3]!;

function flushCase(name: string, stages: readonly FlushStage[], baseline = false) {
  const gen = createGenerator({ seed: 1 });
  let t = Date.now() - 10 * 60_000;
  let db: TestDb | undefined;
  let runs = 0;
  Deno.bench({
    name,
    group: "flush of 5,000 events",
    baseline,
    n: N,
    warmup: WARMUP,
    async fn(b) {
      db ??= await createTestDb();
      const events = Array.from({ length: SIZE }, () => {
        const event = gen.next(t += 0.02);
        return { event, timeMs: Date.parse(event.timestamp) };
      });
      b.start();
      await flushEvents(
        { events, rejects: [], messages: 25, workerId: "bench" },
        { sql: db.sql, stages, segmentOf },
      );
      b.end();
      if (++runs === N + WARMUP) await db.close(); // deno bench runs fn warmup + n times
    },
  });
}

flushCase("raw events + agg_minute only", [], true);
flushCase("with all six analytics stages", analyticsStages(loadConfig({}, {})));
