/**
 * `deno task bench:drain`: how fast consumers + PostgreSQL drain a queue that already holds N
 * events, with the derived stage on and off, side by side in one run.
 *
 *   deno task bench:drain [--events 100000] [--shoppers 20000] [--consumers 2] [--modes off,on]
 *                         [--shared-pg] [--json]
 *
 * Per mode: a fresh database on a private PostgreSQL 15 cluster with production durability
 * (test/private_postgres.ts BENCH_SETTINGS; `--shared-pg` uses DATABASE_URL instead and cannot
 * measure the server's CPU), a fresh queue on a fauxqs child process, N events of the realistic
 * shopper model (`--shoppers` concurrent sessions) packed by the real sender. Then `--consumers`
 * in-process consumers drain it; "on" also runs their derived workers and waits for the outbox to
 * empty. Measured: events/s from consumer start to the last event stored (and derived), CPU per
 * event of this process (consumers) and of the PostgreSQL server (postmaster and backends, from
 * /proc), WAL bytes per event (`pg_current_wal_lsn`). Reconcile: every event stored once; with
 * "on", the minute tables equal a rebuild and the derived tables equal an independent computation.
 * Prints one JSON object (`--json`) or a table; exits 1 unless every mode reconciles exactly.
 */
import process from "node:process";
import {
  analyticsStages,
  createConsumer,
  type DerivedWorker,
  rebuildAggregates,
  startDerivedWorker,
} from "../consumer/mod.ts";
import { createEventSender, createGenerator } from "../producer/mod.ts";
import {
  createSql,
  createSqsClient,
  type Event,
  loadConfig,
  migrate,
  revenueCents,
  type Sql,
} from "../shared/mod.ts";
import {
  BENCH_SETTINGS,
  type PrivatePostgres,
  startPrivatePostgres,
} from "../test/private_postgres.ts";
import { startFauxqsProcess } from "./local_processes.ts";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";

const arg = (name: string, dflt: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i < 0 ? dflt : Deno.args[i + 1]!;
};
const flag = (name: string) => Deno.args.includes(`--${name}`);
const total = Number(arg("events", "100000"));
const shoppers = Number(arg("shoppers", "20000"));
const consumers = Number(arg("consumers", "2"));
const modes = arg("modes", "off,on").split(",") as ("off" | "on")[];
const sharedPg = flag("shared-pg");
const MIN = 60_000;
const SESSION_TIMEOUT_MS = 30 * MIN;
const MAX_PRODUCTS_PER_HOUR = 50;
const TICK_US = 10_000; // /proc CPU times are in clock ticks of 10 ms

const config = loadConfig({}, {
  flushMaxEvents: 5000,
  flushConcurrency: 2,
  waitTimeS: 1,
  visibilityTimeoutS: 120,
});
const segmentOf = (userId: string) =>
  ["new", "returning", "loyal"][Number(userId.replace(/\D/g, "") || 0) % 3]!;

// The events, generated once and sent to each mode's queue.
const gen = createGenerator({ seed: 1, users: shoppers * 5, concurrentSessions: shoppers });
const startMs = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
const events: Event[] = [];
for (let i = 0; i < total; i++) events.push(gen.next(startMs + i / 50));
const users = new Set(events.map((e) => e.userId)).size;

const pg: PrivatePostgres | null = sharedPg ? null : await startPrivatePostgres(BENCH_SETTINGS);
const results: Record<string, ModeResult> = {};
try {
  for (const mode of modes) results[mode] = await runMode(mode);
} finally {
  await pg?.destroy();
}

interface ModeResult {
  seconds: number;
  eventsPerSec: number;
  clientCpuUsPerEvent: number;
  pgCpuUsPerEvent: number | null;
  walBytesPerEvent: number;
  flushes: number;
  exact: boolean;
  failures: string[];
}

async function runMode(mode: "off" | "on"): Promise<ModeResult> {
  const baseUrl = pg
    ? pg.url
    : Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const dbName = `drain_${mode}_${Date.now()}`;
  const admin = createSql(baseUrl, { max: 1 });
  await admin.unsafe(`create database ${dbName}`);
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  const sql = createSql(url.toString(), { max: 4 });
  await migrate(sql);
  const fauxqs = await startFauxqsProcess();
  const sqs = createSqsClient({ sqsEndpoint: fauxqs.endpoint, awsRegion: "us-east-1" });
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
  };
  try {
    const q = await sqs.send(
      new CreateQueueCommand({
        QueueName: `drain-${mode}`,
        Attributes: { VisibilityTimeout: "120" },
      }),
    );
    const queueUrl = q.QueueUrl!;
    const sender = createEventSender({
      sqs,
      queueUrl,
      maxMessageBytes: 65_536,
      lingerMs: 50,
      maxInflightBatches: 8,
    });
    for (const e of events) await sender.send(e, undefined);
    await sender.flush();

    const pools: Sql[] = Array.from(
      { length: consumers },
      () => createSql(url.toString(), { max: 4 }),
    );
    const workers: DerivedWorker[] = mode === "on"
      ? pools.map((p) => startDerivedWorker({ sql: p }, { stages: analyticsStages(config) }))
      : [];
    const running = pools.map((p, i) =>
      createConsumer({
        sql: p,
        sqs,
        queueUrl,
        config,
        workerId: `drain-${i + 1}`,
        segmentOf,
        onFlush: (r) => workers[i]?.submit(r),
      })
    );
    const pgCpu0 = pg ? await serverCpuTicks(pg.dataDir) : 0;
    const [w0] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    for (const c of running) c.start();
    const deadline = Date.now() + 600_000;
    for (;;) {
      const stored = running.reduce((s, c) => s + c.stats.stored, 0);
      if (stored >= total || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    if (mode === "on") {
      await Promise.all(workers.map((w) => w.idle()));
      for (;;) {
        const [o] = await sql<{ n: number }[]>`select count(*)::int as n from core_batches`;
        if (o!.n === 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const [w1] = await sql<{ bytes: string }[]>`
      select pg_wal_lsn_diff(pg_current_wal_lsn(), ${w0!.lsn}::pg_lsn)::bigint::text as bytes`;
    const pgCpu = pg ? (await serverCpuTicks(pg.dataDir)) - pgCpu0 : null;
    await Promise.all(running.map((c) => c.stop()));
    await Promise.all(workers.map((w) => w.stop()));
    const flushes = running.reduce((s, c) => s + c.stats.flushes, 0);
    await Promise.all(pools.map((p) => p.end()));

    const [n] = await sql<{ n: number }[]>`select count(*)::int as n from events`;
    check(n!.n === total, `events stored ${n!.n} ≠ sent ${total}`);
    const [t] = await sql<{ n: number }[]>`
      select coalesce(sum(n), 0)::int as n from pipeline_totals where kind not in
        ('rejected', 'too_old', 'too_new', 'duplicates')`;
    check(t!.n === total, `running totals ${t!.n} ≠ sent ${total}`);
    if (mode === "on") await reconcileDerived(sql, events, startMs, check);
    return {
      seconds: round(seconds, 2),
      eventsPerSec: Math.round(total / seconds),
      clientCpuUsPerEvent: round((cpu.user + cpu.system) / total, 1),
      pgCpuUsPerEvent: pgCpu === null ? null : round(pgCpu * TICK_US / total, 1),
      walBytesPerEvent: Math.round(Number(w1!.bytes) / total),
      flushes,
      exact: failures.length === 0,
      failures: failures.slice(0, 10),
    };
  } finally {
    await sql.end();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await admin.end();
    fauxqs.kill("SIGTERM");
    await fauxqs.status;
  }
}

/** CPU ticks of the server: the postmaster, its live children, and its exited children. */
async function serverCpuTicks(dataDir: string): Promise<number> {
  const pid = Number((await readAsRoot(`${dataDir}/postmaster.pid`)).split("\n")[0]);
  const fields = (p: number) => {
    const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  };
  const f = fields(pid); // [state, ppid, …]; utime is field 14 of /proc/pid/stat, index 11 here
  let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const c = fields(Number(entry.name));
      if (Number(c[1]) === pid) ticks += Number(c[11]) + Number(c[12]);
    } catch { /* exited meanwhile */ }
  }
  return ticks;
}

async function readAsRoot(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    const out = await new Deno.Command("cat", { args: [path] }).output();
    return new TextDecoder().decode(out.stdout);
  }
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

const on = results.on, off = results.off;
const cpuOf = (r?: ModeResult) =>
  r && r.pgCpuUsPerEvent !== null ? round(r.clientCpuUsPerEvent + r.pgCpuUsPerEvent, 1) : null;
const summary = {
  events: total,
  shoppers,
  usersSeen: users,
  consumers,
  postgres: sharedPg ? "shared (DATABASE_URL)" : "private cluster, BENCH_SETTINGS",
  eventsPerSecOn: on?.eventsPerSec ?? null,
  eventsPerSecOff: off?.eventsPerSec ?? null,
  ratioOnOff: on && off ? round(on.eventsPerSec / off.eventsPerSec, 2) : null,
  cpuUsPerEvent: cpuOf(on) ?? cpuOf(off),
  cpuUsPerEventOff: cpuOf(off),
  walBytesPerEvent: (on ?? off)?.walBytesPerEvent ?? null,
  walBytesPerEventOff: off?.walBytesPerEvent ?? null,
  exact: Object.values(results).every((r) => r.exact),
  modes: results,
  loadAvg1m: Deno.loadavg()[0],
};
if (flag("json")) console.log(JSON.stringify(summary));
else console.log(JSON.stringify(summary, null, 2));
if (!summary.exact) Deno.exit(1);

async function reconcileDerived(
  sql: Sql,
  events: readonly Event[],
  startMs: number,
  check: (ok: boolean, what: string) => void,
) {
  // Windowed aggregates: streamed rows equal a rebuild from the raw events.
  const from = new Date(startMs - 60 * MIN);
  const to = new Date(startMs + 60 * MIN);
  const tables = [
    "agg_minute",
    "agg_minute_dims",
    "agg_geo_minute",
    "agg_product_minute",
    "active_user_minute",
  ];
  const snap = async () => {
    const out: Record<string, string[]> = {};
    for (const t of tables) {
      out[t] = (await sql`select * from ${sql(t)}`).map((r) => JSON.stringify(r)).sort();
    }
    return out;
  };
  const streamed = await snap();
  await rebuildAggregates({ from, to }, { sql });
  const rebuilt = await snap();
  for (const t of tables) {
    const a = streamed[t]!, b = rebuilt[t]!;
    check(a.length === b.length && a.every((x, i) => x === b[i]), `${t} differs from a rebuild`);
  }

  const byUser = new Map<string, { e: Event; t: number }[]>();
  for (const e of events) {
    const list = byUser.get(e.userId) ?? [];
    list.push({ e, t: Date.parse(e.timestamp) });
    byUser.set(e.userId, list);
  }

  // Sessions: maximal runs with gaps ≤ 30 min.
  const expectedSessions: string[] = [];
  for (const [user, list] of byUser) {
    list.sort((a, b) => a.t - b.t);
    let cur: { start: number; last: number; n: number; pv: number; pu: number } | null = null;
    const emit = () =>
      cur && expectedSessions.push(`${user}|${cur.start}|${cur.last}|${cur.n}|${cur.pv}|${cur.pu}`);
    for (const { e, t } of list) {
      if (cur === null || t - cur.last > SESSION_TIMEOUT_MS) {
        emit();
        cur = { start: t, last: t, n: 0, pv: 0, pu: 0 };
      }
      cur.last = t;
      cur.n++;
      if (e.eventType === "page_view") cur.pv++;
      if (e.eventType === "purchase") cur.pu++;
    }
    emit();
  }
  const gotSessions = (await sql<
    { u: string; s: Date; l: Date; n: number; pv: number; pu: number }[]
  >`select user_id as u, started_at as s, last_at as l, events as n, page_views as pv,
           purchases as pu from sessions`).map((r) =>
    `${r.u}|${r.s.getTime()}|${r.l.getTime()}|${r.n}|${r.pv}|${r.pu}`
  );
  check(sameSet(expectedSessions, gotSessions), "sessions differ from independent computation");

  // User features, histograms included.
  const expectedFeatures: string[] = [];
  for (const [user, list] of byUser) {
    const cats: Record<string, number> = {}, devs: Record<string, number> = {};
    const hours: Record<string, number> = {};
    let purchases = 0, monetary = 0;
    for (const { e, t } of list) {
      devs[e.deviceType] = (devs[e.deviceType] ?? 0) + 1;
      const h = String(new Date(t).getUTCHours());
      hours[h] = (hours[h] ?? 0) + 1;
      if (e.category !== undefined) cats[e.category] = (cats[e.category] ?? 0) + 1;
      if (e.eventType === "purchase") {
        purchases++;
        monetary += revenueCents(e);
      }
    }
    expectedFeatures.push(
      `${user}|${list.length}|${purchases}|${monetary}|${canon(cats)}|${canon(devs)}|${
        canon(hours)
      }`,
    );
  }
  const gotFeatures = (await sql<
    {
      u: string;
      ev: number;
      pu: number;
      mo: number;
      c: Record<string, number>;
      d: Record<string, number>;
      h: Record<string, number>;
    }[]
  >`select user_id as u, events::int as ev, purchases::int as pu, monetary_cents::bigint as mo,
           categories as c, devices as d, hours as h from user_features`).map((r) =>
    `${r.u}|${r.ev}|${r.pu}|${Number(r.mo)}|${canon(r.c)}|${canon(r.d)}|${canon(r.h)}`
  );
  check(
    sameSet(expectedFeatures, gotFeatures),
    "user_features differ from independent computation",
  );

  // Item pairs: products a user viewed (bought) within the same event-time hour.
  const groups = new Map<string, Set<string>>();
  for (const e of events) {
    const kind = e.eventType === "purchase"
      ? "purchase"
      : e.eventType === "product_click" || e.eventType === "add_to_cart"
      ? "view"
      : null;
    if (kind === null || e.productId === undefined) continue;
    const hour = Math.floor(Date.parse(e.timestamp) / 3_600_000);
    const k = `${e.userId}|${hour}|${kind}`;
    const set = groups.get(k) ?? new Set<string>();
    set.add(e.productId);
    groups.set(k, set);
  }
  const pairs = new Map<string, number[]>();
  for (const [k, set] of groups) {
    if (set.size > MAX_PRODUCTS_PER_HOUR) continue;
    const purchase = k.endsWith("|purchase");
    for (const a of set) {
      for (const b of set) {
        if (a === b) continue;
        const p = pairs.get(`${a}|${b}`) ?? [0, 0];
        p[purchase ? 1 : 0]!++;
        pairs.set(`${a}|${b}`, p);
      }
    }
  }
  const expectedPairs = [...pairs].map(([k, [v, p]]) => `${k}|${v}|${p}`);
  const gotPairs = (await sql<{ a: string; b: string; v: number; p: number }[]>`
    select product_a as a, product_b as b, co_views::int as v, co_purchases::int as p
    from item_pairs where co_views > 0 or co_purchases > 0`).map((r) =>
    `${r.a}|${r.b}|${r.v}|${r.p}`
  );
  check(sameSet(expectedPairs, gotPairs), "item_pairs differ from independent computation");

  // Fraud: one score per purchase line; user risk counts every scored line once.
  const buys = events.filter((e) => e.eventType === "purchase").length;
  const [f] = await sql<{ scores: number; risk: number }[]>`
    select (select count(*) from fraud_scores)::int as scores,
           (select coalesce(sum(scored_orders), 0) from user_risk)::int as risk`;
  check(f!.scores === buys && f!.risk === buys, `fraud ${JSON.stringify(f)} ≠ ${buys} purchases`);
}

function canon(h: Record<string, number>): string {
  return JSON.stringify(Object.entries(h).map(([k, v]) => [k, Number(v)]).sort());
}

function sameSet(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort(), y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}
