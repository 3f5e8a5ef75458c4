/**
 * Is a restored database the database it was restored from? Two checks, used by the restore drill
 * (test/restore_drill_test.ts) and by `deno task restore-check` after an RDS point-in-time restore
 * (docs/runbook.md#restoring-the-database):
 *
 * - `databaseFingerprint`: per table, the row count and an order-independent hash of every row.
 *   Two databases with equal fingerprints hold the same rows. Run it in the snapshot that was
 *   dumped (`pg_dump --snapshot`) to compare a dump of a database that kept writing.
 * - `reconcileAggregates`: the minute aggregates equal a recount of the raw events they came from
 *   (events and revenue per minute and type) for the days raw events are kept. A point-in-time
 *   restore lands between two commits; since a flush writes raw rows and their aggregates in one
 *   transaction, a consistent restore never differs.
 */
import type { Sql, Tx } from "../shared/mod.ts";

export interface TableFingerprint {
  rows: number;
  /** Sum of a 60-bit hash of each row's text: equal sets of rows give equal sums. */
  hash: string;
}

/** Fingerprints every table of the current schema (partitioned tables once, through the parent). */
export async function databaseFingerprint(
  sql: Sql | Tx,
): Promise<Record<string, TableFingerprint>> {
  // Row text includes timestamptz values, which print in the session's time zone.
  await sql`select set_config('TimeZone', 'UTC', true)`;
  const tables = await sql<{ name: string }[]>`
    select c.relname as name from pg_class c
    where c.relnamespace = current_schema()::regnamespace
      and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`;
  const out: Record<string, TableFingerprint> = {};
  for (const { name } of tables) {
    const [r] = await sql<{ rows: number; hash: string }[]>`
      select count(*)::bigint as rows,
             coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text as hash
      from ${sql(name)} as t`;
    out[name] = { rows: Number(r!.rows), hash: r!.hash };
  }
  return out;
}

export interface AggregateDifference {
  bucket: string;
  eventType: string;
  rawEvents: number;
  aggEvents: number;
  rawRevenueCents: number;
  aggRevenueCents: number;
}

export interface AggregateReconcile {
  /** Minute × type rows compared. */
  compared: number;
  /** Raw events the comparison covered. */
  rawEvents: number;
  differences: AggregateDifference[];
}

/**
 * Compares `agg_minute` with a recount of `events` for every minute from the first day that still
 * has raw events (older aggregates outlive their raw rows by design: retention).
 */
export async function reconcileAggregates(sql: Sql | Tx): Promise<AggregateReconcile> {
  const rows = await sql<
    {
      bucket: Date;
      event_type: string;
      raw_events: number;
      agg_events: number;
      raw_revenue: number;
      agg_revenue: number;
    }[]
  >`
    with since as (select date_trunc('day', min(event_time)) as t from events),
    raw as (
      select date_trunc('minute', event_time) as bucket, event_type, count(*)::bigint as n,
             coalesce(sum(case when event_type = 'purchase'
                               then price_cents * coalesce(quantity, 1) else 0 end), 0)::bigint as rev
      from events group by 1, 2),
    agg as (
      select bucket, event_type, sum(events)::bigint as n, sum(revenue_cents)::bigint as rev
      from agg_minute where bucket >= (select t from since) group by 1, 2)
    select coalesce(raw.bucket, agg.bucket) as bucket,
           coalesce(raw.event_type, agg.event_type) as event_type,
           coalesce(raw.n, 0) as raw_events, coalesce(agg.n, 0) as agg_events,
           coalesce(raw.rev, 0) as raw_revenue, coalesce(agg.rev, 0) as agg_revenue
    from raw full join agg on raw.bucket = agg.bucket and raw.event_type = agg.event_type
    order by 1, 2`;
  const differences: AggregateDifference[] = [];
  let rawEvents = 0;
  for (const r of rows) {
    rawEvents += Number(r.raw_events);
    if (
      Number(r.raw_events) !== Number(r.agg_events) ||
      Number(r.raw_revenue) !== Number(r.agg_revenue)
    ) {
      differences.push({
        bucket: r.bucket.toISOString(),
        eventType: r.event_type,
        rawEvents: Number(r.raw_events),
        aggEvents: Number(r.agg_events),
        rawRevenueCents: Number(r.raw_revenue),
        aggRevenueCents: Number(r.agg_revenue),
      });
    }
  }
  return { compared: rows.length, rawEvents, differences };
}

/** Tables whose fingerprints differ (or exist on one side only), sorted by name. */
export function compareFingerprints(
  a: Record<string, TableFingerprint>,
  b: Record<string, TableFingerprint>,
): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].sort().filter((n) => a[n]?.rows !== b[n]?.rows || a[n]?.hash !== b[n]?.hash);
}
