/**
 * `deno task soak [--days 10] [--minutes 5] [--quick] [--json FILE]`: weeks of operation in
 * minutes. The full stack runs as processes — fauxqs, consumer processes (which elect a maintenance
 * leader among themselves), the API — on one accelerated clock (`SCALESTREAM_CLOCK`, shared/clock.ts):
 * `--days` of event time pass in `--minutes` of real time, across daily partitions and retention
 * boundaries (retentions shortened so several expire within the run). This process produces events
 * stamped with that clock and, at every simulated midnight, pauses, lets the consumers drain, and
 * records:
 *   - reconcile: the producer's ledger against `/v1/pipeline/totals` (exact, every day);
 *   - table sizes: rows and bytes of every table (raw events over all partitions);
 *   - read latency: p95 of the dashboard's reads through the API.
 * Every simulated day gets the same number of events, stamped evenly over the day. Verdicts: every
 * day reconciles exactly; every table with an active retention shorter than the run stays bounded
 * (from the first day its retention fully applies, rows never exceed 1.25 × that day's + 50; raw
 * events never exceed retention + 1 days of events); read p95 on the last day ≤ 2 × day 1's + 20 ms
 * (reported; CI asserts only the first two). Rules held for issue 15 are listed, not checked.
 * Prints one JSON object (and writes it to --json); exits 1 when reconcile or boundedness fails.
 * `--quick` (4 days in 1 minute) fits in CI.
 */
import {
  acceleratedClockSpec,
  createClock,
  createSql,
  createSqsClient,
  delay,
  ensureQueues,
  loadConfig,
  migrate,
  parseFlags,
} from "../../shared/mod.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  metaOf,
  type SentMeta,
} from "../../producer/mod.ts";
import { reconcile } from "../../producer/reconcile.ts";
import { createRetentionRegistry, resolveRetention } from "../../consumer/retention_rules.ts";
import { MAINTENANCE_CAPABILITIES } from "../../consumer/run_maintenance.ts";
import { startPrivatePostgres } from "../../test/private_postgres.ts";
import {
  freePort,
  queueEnv,
  spawnConsumer,
  spawnDeno,
  startFauxqsProcess,
  stopAll,
} from "../local_processes.ts";

const DAY_MS = 86_400_000;
const ROOT = new URL("../../", import.meta.url).pathname;

const USAGE =
  "Usage: deno task soak [--days 10] [--minutes 5] [--rate 300] [--consumers 2] [--quick] [--json FILE] [--private-postgres]";
const { values } = (() => {
  try {
    return parseFlags(Deno.args, USAGE, {
      days: { type: "string" },
      minutes: { type: "string" },
      rate: { type: "string" },
      consumers: { type: "string", default: "2" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      "private-postgres": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    });
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
})();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const quick = values.quick;
const days = Number(values.days ?? (quick ? 4 : 10));
const minutes = Number(values.minutes ?? (quick ? 1 : 5));
const rate = Number(values.rate ?? (quick ? 150 : 300));
const consumers = Number(values.consumers);
if (!(days >= 2 && minutes > 0 && rate > 0 && consumers >= 1)) {
  throw new RangeError("--days ≥ 2, --minutes > 0, --rate > 0, --consumers ≥ 1");
}
// Retentions short enough to expire several times within the run.
const RETENTION_DAYS = quick ? 1 : 3;
const shortRetention = quick ? 1 : 2;
const overrides: Record<string, number> = {
  fraud_counters: 1,
  sessions: shortRetention,
  fraud_scores: shortRetention,
  orders: shortRetention,
  alerts: shortRetention,
  anomalies: shortRetention,
  anomaly_baselines: shortRetention,
  user_features: shortRetention,
  user_risk: shortRetention,
  consumer_status: 1,
};
const speed = Math.round((days * DAY_MS) / (minutes * 60_000));

const logDir = await Deno.makeTempDir({ prefix: "scalestream-soak-" });
const suffix = crypto.randomUUID().slice(0, 8);
// A cluster of its own (initdb in a temporary directory) keeps a shared server's load out of the
// figures; otherwise DATABASE_URL or the local PostgreSQL.
const privatePg = values["private-postgres"] ? await startPrivatePostgres() : undefined;
const databaseUrl = privatePg?.url ?? Deno.env.get("DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";
const schema = `soak_${suffix}`;
const admin = createSql(databaseUrl, { max: 1 });
await admin.unsafe(`create schema ${schema}`);
const sql = createSql(databaseUrl, { max: 2, searchPath: schema });

interface DayRecord {
  day: number;
  at: string;
  rows: Record<string, number>;
  bytes: Record<string, number>;
  readP95Ms: Record<string, number>;
  exact: boolean;
  differences: string[];
  drainS: number;
  eventPartitions: number;
}
const records: DayRecord[] = [];
let failure: string | undefined;

try {
  await migrate(sql);
  const fauxqs = await startFauxqsProcess({ logFile: `${logDir}/fauxqs.log` });
  const q = {
    endpoint: fauxqs.endpoint,
    queueName: `soak-${suffix}`,
    dlqName: `soak-${suffix}-dlq`,
  };
  const config = loadConfig({}, {
    sqsEndpoint: q.endpoint,
    queueName: q.queueName,
    dlqName: q.dlqName,
    visibilityTimeoutS: 30,
  });
  const sqs = createSqsClient(config);
  const { queueUrl } = await ensureQueues(sqs, config);

  // The clock starts a few real seconds from now, when the processes are up.
  const realStart = Date.now() + 8_000;
  // Simulated days start at UTC midnights, where the daily partitions and their drops fall.
  const simStart = Math.ceil(realStart / DAY_MS) * DAY_MS;
  const spec = acceleratedClockSpec(simStart, speed, realStart);
  const clock = createClock(spec);
  const env = {
    DATABASE_URL: databaseUrl,
    DB_SCHEMA: schema,
    ...queueEnv(q),
    SCALESTREAM_CLOCK: spec,
    MAINTENANCE_INTERVAL_MS: "1000",
    ANALYTICS_INTERVAL_MS: "1000",
    RETENTION_DAYS: String(RETENTION_DAYS),
    RETENTION_OVERRIDES: Object.entries(overrides).map(([t, d]) => `${t}=${d}`).join(","),
    CONSUMER_WAIT_TIME_S: "1",
    LOG_LEVEL: "info",
  };
  for (let i = 1; i <= consumers; i++) {
    spawnConsumer({
      name: `consumer-${i}`,
      env: { ...env, WORKER_ID: `soak-${i}` },
      logFile: `${logDir}/consumer-${i}.log`,
    });
  }
  const apiPort = freePort();
  spawnDeno("api", [`${ROOT}api/main.ts`], {
    env: { ...env, PORT: String(apiPort), API_RATE_LIMIT_RPS: "0", LOG_LEVEL: "warning" },
    logFile: `${logDir}/api.log`,
  });
  const api = `http://127.0.0.1:${apiPort}`;
  await waitFor(async () => {
    const res = await fetch(`${api}/health`);
    await res.body?.cancel();
    return res.ok;
  }, 30_000);

  const ledger = createLedger();
  const sender = createEventSender<SentMeta>({
    sqs,
    queueUrl,
    maxMessageBytes: 65_536,
    lingerMs: 20,
    maxInflightBatches: 4,
    onAck: (m) => ledger.acked(m),
    onFail: (m) => ledger.failed(m),
  });
  const gen = createGenerator({ seed: 16, users: 2000, products: 200 });
  const rules = resolveRetention(createRetentionRegistry(), {
    retentionDays: RETENTION_DAYS,
    overrides,
  });
  while (Date.now() < realStart) await delay(100);

  // The same number of events every simulated day, stamped evenly over the day and sent once
  // the clock reaches their time: pauses (drain, measurements) delay events, never thin a day out.
  const perDay = Math.round(rate * (minutes * 60) / days);
  let sent = 0;
  for (let day = 1; day <= days; day++) {
    const dayStart = simStart + (day - 1) * DAY_MS;
    for (let i = 0; i < perDay;) {
      while (i < perDay && dayStart + Math.floor((i * DAY_MS) / perDay) <= clock()) {
        const e = gen.next(dayStart + Math.floor((i * DAY_MS) / perDay));
        await sender.send(e, metaOf("unique", e));
        if (++sent % 100 === 0) {
          await sender.send({ ...e, eventId: "bogus" }, metaOf("invalid", null));
        }
        i++;
      }
      if (i < perDay) await delay(20);
    }
    while (clock() < dayStart + DAY_MS) await delay(20);
    await sender.flush();
    // Drain: everything the ledger accepted is stored or rejected.
    const drainStart = Date.now();
    const want = ledger.totals();
    await waitFor(async () => {
      const t = await totals(api);
      return t.stored + t.rejected + t.tooOld + t.tooNew >= want.unique + want.invalid;
    }, 120_000);
    const drainS = (Date.now() - drainStart) / 1000;
    const result = reconcile(ledger.totals(), await totals(api));
    const { rows, bytes, eventPartitions } = await tableSizes();
    const readP95Ms = await readLatency(api, clock());
    records.push({
      day,
      at: new Date(clock()).toISOString(),
      rows,
      bytes,
      readP95Ms,
      exact: result.exact,
      differences: result.differences.map((d) => `${d.field}: ${d.expected} vs ${d.actual}`),
      drainS,
      eventPartitions,
    });
    console.error(
      `day ${day}: exact=${result.exact} events=${rows.events} partitions=${eventPartitions} ` +
        `read p95 ${JSON.stringify(readP95Ms)} drain ${drainS.toFixed(1)} s`,
    );
  }

  // Verdicts.
  const exact = records.every((r) => r.exact);
  const last = records.at(-1)!;
  const bounded: Record<string, string> = {};
  // Rules waiting for what main does not provide yet (run_maintenance.ts) are not run.
  const held = new Set(
    rules.filter((r) =>
      r.requires?.some((q) =>
        (q === "runningTotals" && !MAINTENANCE_CAPABILITIES.runningTotals) ||
        (q === "rollup" && !MAINTENANCE_CAPABILITIES.rollUp)
      )
    ).map((r) => r.table),
  );
  const check = (table: string, keepDays: number) => {
    if (held.has(table)) return (bounded[table] = "held (waits for issue 15)");
    const settled = Math.ceil(keepDays) + 1;
    if (settled + 1 > days) return (bounded[table] = "retention longer than the run");
    const ref = records[settled - 1]!.rows[table] ?? 0;
    const end = last.rows[table] ?? 0;
    // Raw events: whole daily partitions go, so up to `keep` + 1 days of them stay.
    const limit = table === "events" ? (keepDays + 1) * perDay : 1.25 * ref + 50;
    const peak = Math.max(...records.slice(settled - 1).map((r) => r.rows[table] ?? 0));
    bounded[table] = peak <= limit
      ? `bounded (${ref} on day ${settled}, at most ${peak} after, ${end} on day ${days})`
      : `GROWS (${ref} on day ${settled}, ${peak} after, limit ${Math.round(limit)})`;
  };
  check("events", RETENTION_DAYS);
  for (const r of rules) check(r.table, r.days);
  const boundedOk = Object.values(bounded).every((v) => !v.startsWith("GROWS"));
  const first = records[0]!.readP95Ms;
  const flat = Object.entries(last.readP95Ms).every(([k, v]) => v <= 2 * (first[k] ?? 0) + 20);
  const report = {
    days,
    minutes,
    speed,
    rate,
    consumers,
    retentionDays: RETENTION_DAYS,
    overrides,
    eventsSent: ledger.totals().unique,
    verdict: { exact, bounded: boundedOk, readLatencyFlat: flat },
    bounded,
    perDay: records,
    logs: logDir,
  };
  const text = JSON.stringify(report);
  console.log(text);
  if (values.json) await Deno.writeTextFile(values.json, text + "\n");
  if (!exact || !boundedOk) failure = "soak failed: " + JSON.stringify(report.verdict);
  sqs.destroy();
} catch (err) {
  failure = `soak aborted: ${err instanceof Error ? err.stack : String(err)} (logs in ${logDir})`;
} finally {
  await stopAll(15_000);
  await sql.end({ timeout: 2 });
  await admin.unsafe(`drop schema if exists ${schema} cascade`).catch(() => {});
  await admin.end();
  await privatePg?.destroy();
}
if (failure) {
  console.error(failure);
  Deno.exit(1);
}
Deno.exit(0);

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms`);
    await delay(200);
  }
}

async function totals(api: string) {
  const res = await fetch(`${api}/v1/pipeline/totals`);
  if (!res.ok) throw new Error(`totals: HTTP ${res.status}`);
  return await res.json();
}

/** Rows and bytes per table; `events` over all its partitions. */
async function tableSizes() {
  const tables = await sql<{ name: string; bytes: number; partitions: number }[]>`
    select c.relname as name,
           (pg_total_relation_size(c.oid) + coalesce((
              select sum(pg_total_relation_size(i.inhrelid)) from pg_inherits i
              where i.inhparent = c.oid), 0))::bigint as bytes,
           (select count(*) from pg_inherits i where i.inhparent = c.oid)::int as partitions
    from pg_class c
    where c.relnamespace = current_schema()::regnamespace
      and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`;
  const rows: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  let eventPartitions = 0;
  for (const t of tables) {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(t.name)}`;
    rows[t.name] = r!.n;
    bytes[t.name] = Number(t.bytes);
    if (t.name === "events") eventPartitions = t.partitions;
  }
  return { rows, bytes, eventPartitions };
}

/** p95 of 20 requests to each dashboard read, for the last simulated hour and day. */
async function readLatency(api: string, nowMs: number): Promise<Record<string, number>> {
  const hourAgo = new Date(nowMs - 3_600_000).toISOString();
  const dayAgo = new Date(nowMs - DAY_MS).toISOString();
  const to = new Date(nowMs).toISOString();
  const reads: Record<string, string> = {
    totals: "/v1/pipeline/totals",
    traffic1h: `/v1/metrics/traffic?window=1m&from=${hourAgo}&to=${to}`,
    revenue24h: `/v1/metrics/revenue?window=1h&from=${dayAgo}&to=${to}`,
    topProducts: `/v1/top/products?from=${dayAgo}&to=${to}`,
  };
  const out: Record<string, number> = {};
  for (const [name, path] of Object.entries(reads)) {
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const res = await fetch(`${api}${path}`);
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    out[name] = Math.round(ms[Math.ceil(0.95 * ms.length) - 1]! * 10) / 10;
  }
  return out;
}
