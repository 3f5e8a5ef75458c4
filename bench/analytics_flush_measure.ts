/**
 * A short measurement (not a test): the cost of the analytics stages on one flush of 5,000 events.
 * `deno run -A bench/analytics_flush_measure.ts [flushes] [--no-reads] [--async-commit]` — runs the same flushes with
 * and without the stages on fresh schemas and prints the median flush time, the cost per event,
 * the median time of each stage, and the CPU time per flush of the PostgreSQL backend and of this
 * process (less sensitive to a loaded machine than wall time); then API read latencies.
 * `--async-commit` runs the flushes with `synchronous_commit = off`, to show what it would buy.
 */
import { flushEvents, type FlushStage } from "../consumer/mod.ts";
import { accepted, segmentOf, stages } from "../test/analytics_fixtures.ts";
import { createGenerator } from "../producer/mod.ts";
import { createTestDb } from "../test/harness.ts";
import { OpenAPIHono } from "@hono/zod-openapi";
import { registerAnalyticsRoutes } from "../api/routes/analytics/register.ts";

const flushes = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 12);
const SIZE = 5000;
const asyncCommit = Deno.args.includes("--async-commit");

/** CPU time (user + system, ms) of a process so far, from /proc (Linux; 10 ms ticks). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU per measured flush of the PostgreSQL backend and of this process (load-independent). */
const cpu: Record<string, { pgMs: number; denoMs: number }> = {};

async function measure(
  name: string,
  withStages: readonly FlushStage[],
): Promise<number[]> {
  const db = await createTestDb();
  try {
    const sql = db.connect(1); // one connection: one backend whose CPU time we can read
    // `--async-commit`: what synchronous_commit = off would buy (not a recommendation: a commit
    // acknowledged but not yet durable breaks delete-after-commit; see docs/analytics.md).
    if (asyncCommit) await sql`set synchronous_commit = off`;
    const [{ pid }] = await sql<[{ pid: number }]>`select pg_backend_pid() as pid`;
    let pg0 = 0, deno0 = 0;
    // Generated up front, so the CPU time of this process is the flushes' own.
    // 10,000 users and 500 products; 5,000 events span 100 ms of event time (50k events/s).
    const gen = createGenerator({ seed: 1, users: 10_000, products: 500 });
    let t = Date.now() - 10 * 60_000;
    const batches = Array.from(
      { length: flushes },
      () => accepted(Array.from({ length: SIZE }, () => gen.next(t += 0.02))),
    );
    const times: number[] = [];
    for (let i = 0; i < flushes; i++) {
      const input = { events: batches[i]!, rejects: [], messages: 25, workerId: "m" };
      if (i === 2) [pg0, deno0] = [cpuMs(pid), cpuMs(Deno.pid)];
      const started = performance.now();
      await flushEvents(input, { sql, stages: withStages, segmentOf });
      times.push(performance.now() - started);
    }
    const n = flushes - 2;
    cpu[name] = {
      pgMs: Math.round((cpuMs(pid) - pg0) / n * 10) / 10,
      denoMs: Math.round((cpuMs(Deno.pid) - deno0) / n * 10) / 10,
    };
    return times.slice(2); // the first flushes warm caches and plans
  } finally {
    await db.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const names = stages.map((s) => s.name);
const spent: number[][] = names.map(() => []);
const timed: FlushStage[] = stages.map((stage, i) => async (ctx) => {
  const started = performance.now();
  await stage(ctx);
  spent[i]!.push(performance.now() - started);
});
const base = median(await measure("base", []));
const full = median(await measure("withStages", timed));
const perStage = Object.fromEntries(
  names.map((n, i) => [n, Math.round(median(spent[i]!.slice(2)) * 10) / 10]),
);
const out = {
  eventsPerFlush: SIZE,
  flushesMeasured: flushes - 2,
  baseMs: Math.round(base * 10) / 10,
  withStagesMs: Math.round(full * 10) / 10,
  stagesUsPerEvent: Math.round(((full - base) * 1000 / SIZE) * 10) / 10,
  baseEventsPerS: Math.round(SIZE / base * 1000),
  withStagesEventsPerS: Math.round(SIZE / full * 1000),
  perStageMedianMs: perStage,
  cpuMsPerFlush: cpu,
  synchronousCommit: asyncCommit ? "off" : "on",
  loadAvg1m: Deno.loadavg()[0],
};

// Read latency of the API routes on the data of 8 flushes (40,000 events), through app.request().
async function readLatency(): Promise<Record<string, { p50Ms: number; p95Ms: number }>> {
  const db = await createTestDb();
  try {
    const gen = createGenerator({ seed: 2, users: 10_000, products: 500 });
    let t = Date.now() - 30 * 60_000;
    for (let i = 0; i < 8; i++) {
      const batch = Array.from({ length: SIZE }, () => gen.next(t += 20));
      const input = { events: accepted(batch), rejects: [], messages: 25, workerId: "m" };
      await flushEvents(input, { sql: db.sql, stages, segmentOf });
    }
    const app = new OpenAPIHono();
    registerAnalyticsRoutes(app, { sql: db.sql });
    const paths: Record<string, (i: number) => string> = {
      recommendations: (i) => `/v1/users/u-${1 + (i * 37) % 10_000}/recommendations`,
      funnel5m: () => `/v1/metrics/funnel?window=5m`,
      revenue1m: () => `/v1/metrics/revenue?window=1m&category=books`,
      topProducts: () => `/v1/top/products?window=1h&by=views`,
      userSessions: (i) => `/v1/users/u-${1 + (i * 37) % 10_000}/sessions`,
    };
    const out: Record<string, { p50Ms: number; p95Ms: number }> = {};
    for (const [name, path] of Object.entries(paths)) {
      const ms: number[] = [];
      for (let i = 0; i < 100; i++) {
        const started = performance.now();
        const res = await app.request(path(i));
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path(i)} answered ${res.status}`);
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      out[name] = {
        p50Ms: Math.round(ms[50]! * 10) / 10,
        p95Ms: Math.round(ms[95]! * 10) / 10,
      };
    }
    return out;
  } finally {
    await db.close();
  }
}
const reads = Deno.args.includes("--no-reads") ? {} : { readLatency: await readLatency() };
console.log(JSON.stringify({ ...out, ...reads }, null, 2));
