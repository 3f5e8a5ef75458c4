/**
 * `deno task bench:api --days D [--json]`: the serving layer under load (issue 15). Loads D days of
 * history into a schema of its own (`bench_api_<D>d_<perMinute>`, reused by later runs; `--reload`
 * writes it again), starts the API in a child process, and drives every dashboard read with
 * autocannon: warm (through the 1 s cache, `--connections` for `--duration` s) and cold (each
 * request with `Cache-Control: no-cache`, one connection, `--cold` requests). Prints, per
 * endpoint, warm requests/s, warm p95 and cold p95 (ms), plus the history size; one JSON object
 * with `--json`. Ranges end where the history ends, so a reused history is read the same way. As
 * under live traffic, the last hour carries a roll-up mark (its reads come from the minute
 * tables); `--all-rolled` leaves every hour clean instead. `--gzip` sends `Accept-Encoding: gzip` as
 * browsers do (default: none, so answers go uncompressed). The report gives each answer's size as
 * sent and the load average at start and end.
 *
 *   flock /tmp/scalestream-bench.lock deno task bench:api --days 7 --json
 */
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createSql, loadConfig, migrate } from "../../shared/mod.ts";
import { backfillUserSets } from "../../consumer/mod.ts";
import { loadHistory } from "./history.ts";

const { values } = parseArgs({
  options: {
    days: { type: "string", default: "7" },
    "per-minute": { type: "string", default: "500" },
    users: { type: "string", default: "20000" },
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "10" },
    cold: { type: "string", default: "40" },
    only: { type: "string" },
    reload: { type: "boolean", default: false },
    "all-rolled": { type: "boolean", default: false },
    gzip: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const days = Number(values.days);
const perMinute = Number(values["per-minute"]);
const users = Number(values.users);
const durationS = Number(values.duration);
const connections = Number(values.connections);
const coldRequests = Number(values.cold);
if (![days, perMinute, users, durationS, connections, coldRequests].every((n) => n > 0)) {
  throw new RangeError("--days, --per-minute, --users, --duration, --connections and --cold > 0");
}
const url = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `bench_api_${days}d_${perMinute}`;
const say = (msg: string) => console.error(`[bench:api] ${msg}`);

const admin = createSql(url, { max: 1 });
interface Meta {
  endMs: number;
  events: number;
  loadS: number;
  rollUpS: number;
  users: number;
}
const [row] = await admin<{ meta: string | null }[]>`
  select obj_description(oid, 'pg_namespace') as meta from pg_namespace where nspname = ${schema}`;
let meta: Meta | null = row?.meta ? JSON.parse(row.meta) : null;
if (meta === null || values.reload) {
  await admin.unsafe(`drop schema if exists ${schema} cascade`);
  await admin.unsafe(`create schema ${schema}`);
}
const sql = createSql(url, { max: 4, searchPath: schema });
await migrate(sql);
if (meta === null || values.reload) {
  say(`loading ${days} days × ${perMinute} events/minute into ${schema}`);
  let last = 0;
  const h = await loadHistory({ sql, config: loadConfig({}) }, {
    days,
    perMinute,
    users,
    onProgress: (done, total) => {
      if (performance.now() - last > 10_000) {
        last = performance.now();
        say(`${done}/${total} minutes`);
      }
    },
  });
  meta = { endMs: h.endMs, events: h.events, loadS: h.loadS, rollUpS: h.rollUpS, users };
  await admin.unsafe(`comment on schema ${schema} is '${JSON.stringify(meta)}'`);
  say(
    `loaded ${h.events} events in ${h.loadS.toFixed(0)} s, rolled up in ${h.rollUpS.toFixed(0)} s`,
  );
}
// A history loaded before migration 0042 gets its days' user bitmaps, as the maintenance leader's
// roll-up would write them (a week per round), before anything is measured.
for (let n, t0 = performance.now(), days = 0; (n = await backfillUserSets({ sql })) > 0;) {
  days += n;
  say(`user bitmaps of ${days} days written (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  if (n < 7) await sql`vacuum (analyze) user_set_day, user_ordinal`;
}
const sizes = await sql<{ table: string; rows: number; bytes: number }[]>`
  select c.relname as table, greatest(c.reltuples, 0)::bigint as rows,
         pg_total_relation_size(c.oid)::bigint as bytes
  from pg_class c
  where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p')
    and not c.relispartition
  order by 3 desc`;
const [eventsRow] = await sql<{ n: number; bytes: number }[]>`
  select count(*)::bigint as n,
    (select sum(pg_total_relation_size(c.oid))::bigint from pg_class c
     where c.relnamespace = current_schema()::regnamespace and c.relname like 'events%') as bytes
  from events`;
await admin.end();
// Live traffic keeps the current hour marked: its minutes are read from agg_minute_dims.
const lastHour = new Date(Math.floor((meta.endMs - 1) / 3_600_000) * 3_600_000);
if (!values["all-rolled"]) {
  await sql`insert into rollup_dirty (hour, batch_id) values (${lastHour}, -1)
    on conflict do nothing`;
}

// The API in a child process.
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("./api_server.ts", import.meta.url).pathname, url, schema],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let port = 0;
for (let buf = ""; port === 0;) {
  const { value, done } = await lines.read();
  if (done) throw new Error("The API server ended before listening");
  buf += value;
  port = Number(/PORT (\d+)/.exec(buf)?.[1] ?? 0);
}
const base = `http://127.0.0.1:${port}`;

const end = meta.endMs;
const iso = (ms: number) => new Date(ms).toISOString();
const hour = `window=1m&from=${iso(end - 3_600_000)}&to=${iso(end)}`;
const spanDays = Math.min(7, days);
const week = `window=1h&from=${iso(end - spanDays * 86_400_000)}&to=${iso(end)}`;
const weekLabel = `${spanDays}d`;
const endpoints: Record<string, string> = {};
for (const [name, range] of [["1h", hour], [weekLabel, week]] as const) {
  endpoints[`traffic ${name}`] = `/v1/metrics/traffic?${range}`;
  endpoints[`revenue ${name}`] = `/v1/metrics/revenue?${range}`;
  endpoints[`revenue ${name} books+mobile`] =
    `/v1/metrics/revenue?${range}&category=books&device=mobile`;
  endpoints[`funnel ${name}`] = `/v1/metrics/funnel?${range}`;
  endpoints[`active-users ${name}`] = `/v1/metrics/active-users?${range}`;
  endpoints[`geo ${name}`] = `/v1/metrics/geo?${range}`;
  endpoints[`top products ${name}`] = `/v1/top/products?${range}&by=revenue&limit=10`;
  endpoints[`top categories ${name}`] = `/v1/top/categories?${range}&by=revenue&limit=20`;
}
endpoints["fraud alerts"] = "/v1/fraud/alerts?limit=8";
endpoints["inventory alerts"] = `/v1/inventory/alerts?limit=8&at=${iso(end)}`;
endpoints["anomalies"] = "/v1/anomalies?limit=6";
endpoints["pipeline totals"] = "/v1/pipeline/totals";
const only = values.only?.split(",");

/** Runs autocannon and collects every response time (autocannon reports no p95). */
function run(opts: autocannon.Options) {
  return new Promise<{ rps: number; p95: number; non2xx: number; n: number }>((resolve, reject) => {
    const times: number[] = [];
    const instance = autocannon(opts, (err: unknown, r: autocannon.Result) => {
      if (err) return reject(err);
      times.sort((a, b) => a - b);
      const p95 = times[Math.min(times.length - 1, Math.ceil(0.95 * times.length) - 1)] ?? NaN;
      resolve({
        rps: Math.round(r.requests.total / ((r.duration as number) || durationS)),
        p95: Math.round(p95 * 10) / 10,
        non2xx: r.non2xx,
        n: times.length,
      });
    });
    instance.on("response", (_c: unknown, _s: number, _b: number, ms: number) => times.push(ms));
  });
}

const results: Record<
  string,
  {
    path: string;
    bytes: number;
    warmRps: number;
    warmP95Ms: number;
    coldP95Ms: number;
    non2xx: number;
  }
> = {};
// `--gzip`: ask as browsers do (the API then sends each answer's gzip variant, made once).
const encoding: Record<string, string> = values.gzip ? { "accept-encoding": "gzip" } : {};
const uptimeAtStart = new TextDecoder().decode(
  (await new Deno.Command("uptime").output()).stdout,
).trim();
try {
  for (const [name, path] of Object.entries(endpoints)) {
    if (only && !only.some((o) => name.startsWith(o))) continue;
    const cold = await run({
      url: base + path,
      connections: 1,
      amount: coldRequests,
      headers: { "cache-control": "no-cache", ...encoding },
    });
    const warm = await run({
      url: base + path,
      connections,
      duration: durationS,
      headers: encoding,
    });
    // The size of the answer as sent (compressed with `--gzip`).
    const sample = await fetch(base + path, {
      headers: { "accept-encoding": encoding["accept-encoding"] ?? "identity" },
    });
    const length = sample.headers.get("content-length");
    const bytes = length !== null ? Number(length) : (await sample.arrayBuffer()).byteLength;
    if (length !== null) await sample.body?.cancel();
    results[name] = {
      path,
      bytes,
      warmRps: warm.rps,
      warmP95Ms: warm.p95,
      coldP95Ms: cold.p95,
      non2xx: warm.non2xx + cold.non2xx,
    };
    if (!values.json) {
      console.log(
        `${name.padEnd(32)} warm ${String(warm.rps).padStart(6)} req/s p95 ${warm.p95} ms · ` +
          `cold p95 ${cold.p95} ms${warm.non2xx + cold.non2xx ? ` · NON-2XX` : ""}`,
      );
    }
  }
} finally {
  child.kill("SIGTERM");
  await child.status;
  await sql`delete from rollup_dirty where batch_id = -1`;
  await sql.end({ timeout: 2 });
}

const load = new TextDecoder().decode(
  (await new Deno.Command("uptime").output()).stdout,
).trim();
const report = {
  date: new Date().toISOString(),
  command: `deno task bench:api ${Deno.args.join(" ")}`.trim(),
  uptimeAtStart,
  uptime: load,
  settings: {
    acceptEncoding: encoding["accept-encoding"] ?? null,
    connections,
    durationS,
    coldRequests,
    coldConnections: 1,
    lastHourMarked: !values["all-rolled"],
  },
  history: {
    schema,
    days,
    perMinute,
    users: meta.users,
    events: meta.events,
    rawRows: eventsRow!.n,
    rawBytes: eventsRow!.bytes,
    loadS: Math.round(meta.loadS),
    rollUpS: Math.round(meta.rollUpS),
    end: iso(end),
    tables: Object.fromEntries(
      sizes.filter((s) => s.rows > 0).map((s) => [s.table, { rows: s.rows, bytes: s.bytes }]),
    ),
  },
  endpoints: results,
};
if (values.json) console.log(JSON.stringify(report, null, 2));
else console.log(`history: ${JSON.stringify(report.history)}\n${load}`);
