/**
 * Anomaly detection on the stored metric streams (seed 003), run periodically (the analytics
 * loop, `deno task maintain`). Each series — traffic overall and per category, per event-time
 * minute from `agg_minute` — keeps an EWMA mean and variance in `anomaly_baselines` and advances
 * one closed minute at a time: a minute whose z-score against the baseline before it reaches the
 * threshold is a spike (or a drop, below minus the threshold). The standard deviation has a Poisson
 * floor (√mean, at least 1) so a flat warm-up cannot turn noise into alerts. Reject-rate spikes come
 * from `ingest_stats`. Bot-like users are reported by the derived stage (stage_bots.ts). One runner
 * at a time (advisory lock); anomalies and their alerts are written in one transaction.
 */
import type { Sql, Tx } from "../shared/mod.ts";
import { type AlertInput, insertAlerts, iso, MINUTE_MS, minuteOf } from "./_analytics_util.ts";

export interface AnomalyOptions {
  zThreshold: number;
  alpha: number;
  warmupMinutes: number;
  rejectRateThreshold: number;
  /** Minimum events received in a minute before its reject rate is judged. */
  rejectMinReceived?: number;
  /** A minute is evaluated once it ended this long ago (late events go to their window first). */
  closeDelayMs?: number;
  /** How far back a new series starts. */
  lookbackMs?: number;
  nowMs?: number;
}

interface Baseline {
  series: string;
  last: number;
  mean: number;
  variance: number;
  n: number;
}

interface Found {
  kind: string;
  series: string;
  bucket: number;
  value: number;
  baseline: number | null;
  z: number | null;
  reason: string;
}

/** Evaluates every closed minute not yet evaluated; returns the anomalies stored. */
export async function detectAnomalies(
  deps: { sql: Sql },
  options: AnomalyOptions,
): Promise<number> {
  const nowMs = options.nowMs ?? Date.now();
  const end = minuteOf(nowMs - (options.closeDelayMs ?? 2 * MINUTE_MS)); // exclusive
  const lookback = options.lookbackMs ?? 24 * 3_600_000;
  return await deps.sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`
      select pg_try_advisory_xact_lock(hashtext('scalestream.anomalies')) as ok`;
    if (!lock?.ok) return 0;
    const baselines = new Map<string, Baseline>();
    for (
      const b of await tx<
        { series: string; last_bucket: Date; mean: number; variance: number; n: number }[]
      >`
      select series, last_bucket, mean, variance, n from anomaly_baselines for update`
    ) {
      baselines.set(b.series, {
        series: b.series,
        last: b.last_bucket.getTime(),
        mean: b.mean,
        variance: b.variance,
        n: b.n,
      });
    }
    const found: Found[] = [];
    await trafficSeries(tx, baselines, found, options, end, lookback);
    await rejectRates(tx, baselines, found, options, end, lookback);
    await saveBaselines(tx, baselines);
    if (found.length === 0) return 0;
    found.sort((a, b) => a.bucket - b.bucket || (a.series < b.series ? -1 : 1));
    const stored = await tx<{ kind: string; series: string; bucket: Date; reason: string }[]>`
      insert into anomalies (kind, series, bucket, value, baseline, z_score, reason)
      select * from unnest(${found.map((f) => f.kind)}::text[], ${
      found.map((f) => f.series)
    }::text[],
        ${found.map((f) => iso(f.bucket))}::timestamptz[], ${found.map((f) => f.value)}::float8[],
        ${found.map((f) => f.baseline)}::float8[], ${found.map((f) => f.z)}::float8[],
        ${found.map((f) => f.reason)}::text[])
      on conflict (kind, series, bucket) do nothing
      returning kind, series, bucket, reason`;
    const alerts: AlertInput[] = stored.map((s) => ({
      kind: "anomaly",
      dedupeKey: `anomaly:${s.kind}:${s.series}:${s.bucket.toISOString()}`,
      severity: "warning",
      title: `${s.kind.replace("_", " ")} on ${s.series} at ${s.bucket.toISOString()}`,
      details: { kind: s.kind, series: s.series, bucket: s.bucket.toISOString(), reason: s.reason },
    }));
    await insertAlerts(tx, alerts);
    return stored.length;
  });
}

async function trafficSeries(
  tx: Tx,
  baselines: Map<string, Baseline>,
  found: Found[],
  o: AnomalyOptions,
  end: number,
  lookback: number,
): Promise<void> {
  const starts = [...baselines.values()].filter((b) => b.series.startsWith("traffic:"))
    .map((b) => b.last + MINUTE_MS);
  const from = starts.length > 0 ? Math.max(end - lookback, Math.min(...starts)) : end - lookback;
  if (from >= end) return;
  const rows = await tx<{ bucket: Date; category: string; events: number }[]>`
    select bucket, category, sum(events)::bigint as events from agg_minute
    where bucket >= ${iso(from)} and bucket < ${iso(end)}
    group by bucket, category order by bucket`;
  const values = new Map<string, Map<number, number>>();
  const put = (series: string, bucket: number, n: number) => {
    let m = values.get(series);
    if (m === undefined) values.set(series, m = new Map());
    m.set(bucket, (m.get(bucket) ?? 0) + n);
  };
  for (const r of rows) {
    const t = r.bucket.getTime();
    put("traffic:all", t, r.events);
    if (r.category !== "") put(`traffic:category:${r.category}`, t, r.events);
  }
  for (
    const series of new Set([
      ...values.keys(),
      ...[...baselines.keys()].filter((s) => s.startsWith("traffic:")),
    ])
  ) {
    const m = values.get(series) ?? new Map<number, number>();
    let b = baselines.get(series);
    let t: number;
    if (b === undefined) {
      const first = Math.min(...m.keys());
      if (!Number.isFinite(first)) continue;
      b = { series, last: first - MINUTE_MS, mean: 0, variance: 0, n: 0 };
      baselines.set(series, b);
    }
    for (t = b.last + MINUTE_MS; t < end; t += MINUTE_MS) {
      step(b, t, m.get(t) ?? 0, o, found, "traffic");
    }
  }
}

function step(b: Baseline, t: number, x: number, o: AnomalyOptions, found: Found[], what: string) {
  if (b.n >= o.warmupMinutes) {
    const sd = Math.max(Math.sqrt(b.variance), Math.sqrt(b.mean), 1);
    const z = (x - b.mean) / sd;
    if (Math.abs(z) >= o.zThreshold) {
      const kind = z > 0 ? `${what}_spike` : `${what}_drop`;
      found.push({
        kind,
        series: b.series,
        bucket: t,
        value: x,
        baseline: b.mean,
        z,
        reason: `${x} events in the minute vs baseline ${b.mean.toFixed(1)} ± ${
          sd.toFixed(1)
        } (z = ${z.toFixed(1)}, threshold ${o.zThreshold})`,
      });
    }
  }
  if (b.n === 0) {
    b.mean = x;
    b.variance = 0;
  } else {
    const diff = x - b.mean;
    const incr = o.alpha * diff;
    b.mean += incr;
    b.variance = (1 - o.alpha) * (b.variance + diff * incr);
  }
  b.n++;
  b.last = t;
}

async function rejectRates(
  tx: Tx,
  baselines: Map<string, Baseline>,
  found: Found[],
  o: AnomalyOptions,
  end: number,
  lookback: number,
): Promise<void> {
  const series = "rejects:rate";
  const b = baselines.get(series) ??
    { series, last: end - lookback - MINUTE_MS, mean: 0, variance: 0, n: 0 };
  baselines.set(series, b);
  const from = b.last + MINUTE_MS;
  if (from >= end) return;
  const rows = await tx<{ bucket: Date; received: number; rejected: number }[]>`
    select bucket, sum(received)::bigint as received, sum(rejected)::bigint as rejected
    from ingest_stats where bucket >= ${iso(from)} and bucket < ${iso(end)}
    group by bucket order by bucket`;
  const min = o.rejectMinReceived ?? 100;
  for (const r of rows) {
    const rate = r.received > 0 ? r.rejected / r.received : 0;
    if (r.received >= min && rate >= o.rejectRateThreshold) {
      found.push({
        kind: "reject_rate",
        series,
        bucket: r.bucket.getTime(),
        value: rate,
        baseline: o.rejectRateThreshold,
        z: null,
        reason: `${r.rejected} of ${r.received} events rejected as invalid (${
          (rate * 100).toFixed(1)
        }%, threshold ${(o.rejectRateThreshold * 100).toFixed(1)}%)`,
      });
    }
  }
  b.last = end - MINUTE_MS;
  b.n += rows.length;
}

async function saveBaselines(tx: Tx, baselines: Map<string, Baseline>): Promise<void> {
  const b = [...baselines.values()].sort((x, y) => (x.series < y.series ? -1 : 1));
  if (b.length === 0) return;
  await tx`
    insert into anomaly_baselines (series, last_bucket, mean, variance, n)
    select * from unnest(${b.map((x) => x.series)}::text[], ${
    b.map((x) => iso(x.last))
  }::timestamptz[],
      ${b.map((x) => x.mean)}::float8[], ${b.map((x) => x.variance)}::float8[], ${
    b.map((x) => x.n)
  }::int[])
    on conflict (series) do update set last_bucket = excluded.last_bucket, mean = excluded.mean,
      variance = excluded.variance, n = excluded.n`;
}
