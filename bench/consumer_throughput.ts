/**
 * End-to-end consumer throughput with the analytics stages on, and an exact reconciliation.
 *
 *   deno run -A bench/consumer_throughput.ts [--consumers N] [--events N] [--stages all|none]
 *
 * Preloads an in-process fauxqs with `--events` (default 100,000) events of the realistic producer
 * model (`createGenerator({ seed: 1 })`, packed by the real event sender, 50k events/s of event
 * time), then starts N in-process consumers (each with its own PostgreSQL pool, flushMaxEvents
 * 5000, flushConcurrency 2) on a fresh migrated schema and measures events/s from their start to
 * the last stored event. Afterwards it checks, exactly: stored events; every windowed aggregate
 * table against `rebuildAggregates` over the same range; sessions, user features (histograms
 * included), item pairs, fraud scores and user risk against values computed here from the sent
 * events. Prints one JSON line; exits 1 when any check fails.
 */
import {
  analyticsStages,
  createConsumer,
  type FlushStage,
  rebuildAggregates,
} from "../consumer/mod.ts";
import { createEventSender, createGenerator } from "../producer/mod.ts";
import { type Event, loadConfig, revenueCents, type Sql } from "../shared/mod.ts";
import { createTestDb, createTestSqs } from "../test/harness.ts";
import process from "node:process";

const arg = (name: string, dflt: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i < 0 ? dflt : Deno.args[i + 1]!;
};
const consumers = Number(arg("consumers", "1"));
const total = Number(arg("events", "100000"));
const withStages = arg("stages", "all") !== "none";
const MIN = 60_000;
const SESSION_TIMEOUT_MS = 30 * MIN;
const MAX_PRODUCTS_PER_HOUR = 50;

const config = loadConfig({}, {
  flushMaxEvents: 5000,
  flushConcurrency: 2,
  waitTimeS: 1,
  visibilityTimeoutS: 120,
});
const stages: FlushStage[] = withStages ? analyticsStages(config) : [];
const segmentOf = (userId: string) =>
  ["new", "returning", "loyal"][Number(userId.replace(/\D/g, "") || 0) % 3]!;

const db = await createTestDb();
const q = await createTestSqs({ visibilityTimeoutS: 120 });
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
};
try {
  // 1. Preload the queue with packed events.
  const gen = createGenerator({ seed: 1 });
  const startMs = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
  const events: Event[] = [];
  for (let i = 0; i < total; i++) events.push(gen.next(startMs + i / 50));
  const sender = createEventSender({
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    maxMessageBytes: 65_536,
    lingerMs: 50,
    maxInflightBatches: 8,
  });
  for (const e of events) await sender.send(e, undefined);
  await sender.flush();
  console.error(`preloaded ${total} events in ${sender.stats.messages} messages`);

  // 2. Run N consumers until every event is stored.
  const pools: Sql[] = Array.from({ length: consumers }, () => db.connect(4));
  const running = pools.map((sql, i) =>
    createConsumer({
      sql,
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      config,
      workerId: `tp-${i + 1}`,
      stages,
      segmentOf,
    })
  );
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (const c of running) c.start();
  const deadline = Date.now() + 300_000;
  let stored = 0;
  while (Date.now() < deadline) {
    stored = running.reduce((s, c) => s + c.stats.stored, 0);
    if (stored >= total) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = process.cpuUsage(cpu0);
  await Promise.all(running.map((c) => c.stop()));
  const flushErrors = running.reduce((s, c) => s + c.stats.flushErrors, 0);
  const flushes = running.reduce((s, c) => s + c.stats.flushes, 0);

  // 3. Reconcile exactly.
  const [n] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`;
  check(n!.n === total, `events stored ${n!.n} ≠ sent ${total}`);
  if (withStages) await reconcile(db.sql, events, startMs);

  console.log(JSON.stringify({
    consumers,
    stages: withStages ? "all" : "none",
    events: stored,
    flushes,
    flushErrors,
    seconds: Number(seconds.toFixed(2)),
    eventsPerS: Math.round(stored / seconds),
    // CPU of this process (consumers and fauxqs together), not of PostgreSQL.
    processCpuUsPerEvent: Number(((cpu1.user + cpu1.system) / stored).toFixed(1)),
    loadAvg1m: Deno.loadavg()[0],
    exact: failures.length === 0,
    failures: failures.slice(0, 10),
  }));
} finally {
  await q.close();
  await db.close();
}
if (failures.length > 0) Deno.exit(1);

async function reconcile(sql: Sql, events: readonly Event[], startMs: number) {
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
