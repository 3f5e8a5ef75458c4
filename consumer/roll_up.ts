/**
 * The roll-up job (issue 15): keeps the hour and day rollups (migrations/0040_rollups.sql) equal to
 * the minute tables. Every flush leaves a mark in `rollup_dirty` for each hour its new rows touched;
 * this job, in one REPEATABLE READ transaction (one snapshot), reads a set of marks, recomputes
 * those hours from the minute rows and their days from the hours (replace, not add), and deletes
 * exactly the marks it read. A flush committing meanwhile leaves a mark the job did not read, so
 * its hour stays marked and is rolled again by a later round. An hour without a mark therefore has
 * rollup rows equal to the sum of its minutes, which is what the API's planner relies on.
 *
 * Marks are only inserted by flushes and only deleted here, so the job never waits on a flush and
 * a flush never waits on the job. Two roll-ups at once (a leader hand-over) are kept apart by a
 * transaction-level advisory lock taken with `try`: the second one skips its round.
 */
import type { Sql } from "../shared/mod.ts";
import { backfillUserSets, writeUserSets } from "./user_sets.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface RollUpOptions {
  /** Hours recomputed per transaction (default 24): bounds one transaction's work and locks. */
  hoursPerTransaction?: number;
  /** Transactions per call (default 50); the rest is left for the next round. */
  maxTransactions?: number;
}

export interface RollUpResult {
  /** Hours recomputed (a mark read and deleted). */
  hours: number;
  /** Days recomputed. */
  days: number;
  /** Marks deleted. */
  marks: number;
  /** Whether a concurrent roll-up held the lock (this call then did nothing more). */
  busy: boolean;
}

/** Recomputes every marked hour (oldest first, bounded per call); see the module comment. */
export async function rollUpDirty(
  deps: { sql: Sql },
  options: RollUpOptions = {},
): Promise<RollUpResult> {
  const per = options.hoursPerTransaction ?? 24;
  const rounds = options.maxTransactions ?? 50;
  const total: RollUpResult = { hours: 0, days: 0, marks: 0, busy: false };
  for (let i = 0; i < rounds; i++) {
    const r = await rollUpOnce(deps.sql, per);
    total.hours += r.hours;
    total.days += r.days;
    total.marks += r.marks;
    if (r.busy) return { ...total, busy: true };
    if (r.hours < per) break;
  }
  return total;
}

/**
 * The maintenance capability (`MAINTENANCE_CAPABILITIES.rollUp`): rolls every marked hour, then
 * resolves to the instant below which every hour is rolled up (the earliest hour still marked, at
 * most `before`). Minute rows are pruned only below it.
 */
export async function rollUp(deps: { sql: Sql }, options: { before: Date }): Promise<Date | null> {
  await rollUpDirty(deps);
  await backfillUserSets(deps); // days rolled before migration 0042, a week per round
  const [row] = await deps.sql<{ hour: Date | null }[]>`select min(hour) as hour from rollup_dirty`;
  const before = Math.floor(options.before.getTime() / HOUR_MS) * HOUR_MS;
  const open = row?.hour?.getTime() ?? Infinity;
  return new Date(Math.min(before, open));
}

async function rollUpOnce(sql: Sql, per: number): Promise<RollUpResult> {
  return await sql.begin("isolation level repeatable read", async (tx) => {
    // The first statement takes the snapshot every later statement of this transaction reads.
    const [lock] = await tx<{ ok: boolean }[]>`
      select pg_try_advisory_xact_lock(hashtext(current_schema() || '.scalestream.rollup')) as ok`;
    if (!lock?.ok) return { hours: 0, days: 0, marks: 0, busy: true };
    const marks = await tx<{ hour: Date }[]>`
      select distinct hour from rollup_dirty order by hour limit ${per}`;
    if (marks.length === 0) return { hours: 0, days: 0, marks: 0, busy: false };
    const hours = marks.map((m) => new Date(Math.floor(m.hour.getTime() / HOUR_MS) * HOUR_MS));
    const days = [...new Set(hours.map((h) => Math.floor(h.getTime() / DAY_MS) * DAY_MS))]
      .map((d) => new Date(d));
    const h = hours.map((d) => d.toISOString());
    const d = days.map((x) => x.toISOString());

    await tx`delete from agg_dims_hour where bucket = any(${h}::timestamptz[])`;
    await tx`
      insert into agg_dims_hour
      select date_bin('1 hour', m.bucket, timestamptz 'epoch'), m.event_type, m.category,
             m.device_type, m.country, m.segment, sum(m.events), sum(m.units), sum(m.revenue_cents),
             sum(m.orders), sum(m.cancelled_orders), sum(m.cancelled_revenue_cents)
      from unnest(${h}::timestamptz[]) as x(hour)
      join agg_minute_dims m on m.bucket >= x.hour and m.bucket < x.hour + interval '1 hour'
      group by 1, 2, 3, 4, 5, 6`;
    await tx`
      delete from agg_type_minute m using unnest(${h}::timestamptz[]) as x(hour)
      where m.bucket >= x.hour and m.bucket < x.hour + interval '1 hour'`;
    await tx`
      insert into agg_type_minute
      select m.bucket, m.event_type, sum(m.events), sum(m.units), sum(m.revenue_cents),
             sum(m.orders), sum(m.cancelled_orders), sum(m.cancelled_revenue_cents)
      from unnest(${h}::timestamptz[]) as x(hour)
      join agg_minute_dims m on m.bucket >= x.hour and m.bucket < x.hour + interval '1 hour'
      group by 1, 2`;
    await tx`delete from agg_type_hour where bucket = any(${h}::timestamptz[])`;
    await tx`
      insert into agg_type_hour
      select bucket, event_type, sum(events), sum(units), sum(revenue_cents), sum(orders),
             sum(cancelled_orders), sum(cancelled_revenue_cents)
      from agg_dims_hour where bucket = any(${h}::timestamptz[])
      group by 1, 2`;
    await tx`delete from agg_geo_hour where bucket = any(${h}::timestamptz[])`;
    await tx`
      insert into agg_geo_hour
      select date_bin('1 hour', m.bucket, timestamptz 'epoch'), m.country, m.region, sum(m.events),
             sum(m.purchases), sum(m.revenue_cents)
      from unnest(${h}::timestamptz[]) as x(hour)
      join agg_geo_minute m on m.bucket >= x.hour and m.bucket < x.hour + interval '1 hour'
      group by 1, 2, 3`;
    await tx`delete from agg_product_hour where bucket = any(${h}::timestamptz[])`;
    await tx`
      insert into agg_product_hour
      select date_bin('1 hour', m.bucket, timestamptz 'epoch'), m.product_id, min(m.category),
             sum(m.views), sum(m.carts), sum(m.purchases), sum(m.units), sum(m.revenue_cents)
      from unnest(${h}::timestamptz[]) as x(hour)
      join agg_product_minute m on m.bucket >= x.hour and m.bucket < x.hour + interval '1 hour'
      group by 1, 2`;
    await tx`delete from active_user_hour where bucket = any(${h}::timestamptz[])`;
    await tx`
      insert into active_user_hour
      select distinct date_bin('1 hour', m.bucket, timestamptz 'epoch'), m.user_id, m.device_type,
             m.country, m.region, m.segment
      from unnest(${h}::timestamptz[]) as x(hour)
      join active_user_minute m on m.bucket >= x.hour and m.bucket < x.hour + interval '1 hour'`;
    await tx`delete from active_count_hour where bucket = any(${h}::timestamptz[])`;
    await tx`
      insert into active_count_hour
      select bucket, coalesce(device_type, '*'), coalesce(country, '*'), coalesce(segment, '*'),
             count(distinct user_id)
      from active_user_hour where bucket = any(${h}::timestamptz[])
      group by bucket, cube (device_type, country, segment)`;

    // Days from their hours: an hour not marked in this snapshot is already exact.
    const inDays = (table: string) =>
      sql`
      from unnest(${d}::timestamptz[]) as x(day)
      join ${sql(table)} m on m.bucket >= x.day and m.bucket < x.day + interval '1 day'`;
    await tx`delete from agg_dims_day where bucket = any(${d}::timestamptz[])`;
    await tx`
      insert into agg_dims_day
      select x.day, m.event_type, m.category, m.device_type, m.country, m.segment, sum(m.events),
             sum(m.units), sum(m.revenue_cents), sum(m.orders), sum(m.cancelled_orders),
             sum(m.cancelled_revenue_cents)
      ${inDays("agg_dims_hour")}
      group by 1, 2, 3, 4, 5, 6`;
    await tx`delete from agg_type_day where bucket = any(${d}::timestamptz[])`;
    await tx`
      insert into agg_type_day
      select x.day, m.event_type, sum(m.events), sum(m.units), sum(m.revenue_cents), sum(m.orders),
             sum(m.cancelled_orders), sum(m.cancelled_revenue_cents)
      ${inDays("agg_type_hour")}
      group by 1, 2`;
    await tx`delete from agg_geo_day where bucket = any(${d}::timestamptz[])`;
    await tx`
      insert into agg_geo_day
      select x.day, m.country, m.region, sum(m.events), sum(m.purchases), sum(m.revenue_cents)
      ${inDays("agg_geo_hour")}
      group by 1, 2, 3`;
    await tx`delete from agg_product_day where bucket = any(${d}::timestamptz[])`;
    await tx`
      insert into agg_product_day
      select x.day, m.product_id, min(m.category), sum(m.views), sum(m.carts), sum(m.purchases),
             sum(m.units), sum(m.revenue_cents)
      ${inDays("agg_product_hour")}
      group by 1, 2`;
    await tx`delete from active_user_day where bucket = any(${d}::timestamptz[])`;
    await tx`
      insert into active_user_day
        (bucket, user_id, device_type, country, region, segment, hours)
      select x.day, m.user_id, m.device_type, m.country, m.region, m.segment,
             bit_or(1 << extract(hour from m.bucket at time zone 'UTC')::int)
      ${inDays("active_user_hour")}
      group by 1, 2, 3, 4, 5, 6`;
    // The days' user bitmaps (consumer/user_sets.ts), from the presence rows just written.
    await writeUserSets(tx as unknown as Sql, days);
    await tx`delete from active_count_day where bucket = any(${d}::timestamptz[])`;
    await tx`
      insert into active_count_day
      select bucket, coalesce(device_type, '*'), coalesce(country, '*'), coalesce(segment, '*'),
             count(distinct user_id)
      from active_user_day where bucket = any(${d}::timestamptz[])
      group by bucket, cube (device_type, country, segment)`;

    // Every hour of these days counts as rolled: one without a mark has no minute rows (every flush
    // marks the hours it writes; migration 0016 marked the ones before it), so its empty rollup is
    // exact, and the day can be read from its rollup.
    await tx`
      insert into rollup_hours (hour, rolled_at)
      select generate_series(x.day, x.day + interval '23 hours', interval '1 hour'), now()
      from unnest(${d}::timestamptz[]) as x(day)
      on conflict (hour) do update set rolled_at = excluded.rolled_at`;
    // REPEATABLE READ: this delete sees only the snapshot's rows, so a mark committed since stays.
    const deleted = await tx`
      delete from rollup_dirty where hour = any(${
      marks.map((m) => m.hour.toISOString())
    }::timestamptz[])`;
    return { hours: hours.length, days: days.length, marks: deleted.count, busy: false };
  });
}
