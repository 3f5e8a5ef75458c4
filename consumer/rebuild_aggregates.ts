/**
 * The batch layer: recomputes the per-minute aggregates of a time range from the raw events
 * (backfill, reprocessing after a fix). One transaction: the range's rows of `agg_minute`,
 * `agg_minute_dims`, `agg_geo_minute`, `agg_product_minute` and `active_user_minute` are deleted and
 * rebuilt with set-based `insert … select … group by`. Segments are the ones the flush stored with each
 * event (`user_features` for rows stored before it did); order and cancellation columns follow the streaming
 * rule (an order belongs to its earliest line; it is cancelled when an `order_cancelled` for it is
 * stored). Run it for ranges the consumers are not writing to, or pause them: a flush committing
 * into the range during a rebuild is kept only if it commits after the rebuild.
 */
import type { Sql, Tx } from "../shared/mod.ts";
import { iso, MINUTE_MS, minuteOf } from "./_analytics_util.ts";

export interface RebuildRange {
  from: Date | number;
  to: Date | number;
}

export interface RebuildResult {
  from: string;
  to: string;
  events: number;
  rows: Record<string, number>;
}

/** Rebuilds `[from, to)` (whole minutes: `from` rounds down, `to` rounds up). */
export async function rebuildAggregates(
  range: RebuildRange,
  deps: { sql: Sql },
): Promise<RebuildResult> {
  const fromMs = minuteOf(+range.from);
  const toRaw = +range.to;
  const toMs = toRaw % MINUTE_MS === 0 ? toRaw : minuteOf(toRaw) + MINUTE_MS;
  if (!(fromMs < toMs)) {
    throw new RangeError(`Rebuild range is empty: "${iso(fromMs)}" to "${iso(toMs)}"`);
  }
  const from = iso(fromMs);
  const to = iso(toMs);
  return await deps.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('scalestream.rebuild'))`;
    // The running totals move by what the rebuild changes: the range's old sums come off below,
    // its new sums go on after the insert (shard 0).
    await addRangeToTotals(tx, from, to, -1);
    for (
      const table of [
        "agg_minute",
        "agg_minute_dims",
        "agg_geo_minute",
        "agg_product_minute",
        "active_user_minute",
      ]
    ) {
      await tx`delete from ${tx(table)} where bucket >= ${from} and bucket < ${to}`;
    }
    const rows: Record<string, number> = {};
    const ev = tx`
      select e.event_id, e.event_time, e.event_type, e.user_id, e.product_id, e.category,
        e.price_cents, e.quantity, e.device_type, e.country, e.region, e.order_id,
        date_trunc('minute', e.event_time) as bucket,
        coalesce(e.segment, f.segment, 'unknown') as segment,
        case when e.event_type = 'purchase' then coalesce(e.price_cents, 0) * coalesce(e.quantity, 1)
             else 0 end as revenue
      from events e left join user_features f using (user_id)
      where e.event_time >= ${from} and e.event_time < ${to}`;
    rows.agg_minute = (await tx`
      insert into agg_minute (bucket, event_type, category, device_type, segment, events, units,
                              revenue_cents)
      select bucket, event_type, coalesce(category, ''), device_type, segment, count(*),
             coalesce(sum(quantity), 0), sum(revenue)
      from (${ev}) e group by 1, 2, 3, 4, 5`).count;
    rows.agg_minute_dims = (await tx`
      with e as (${ev}),
      lines as (
        select order_id, sum(coalesce(price_cents, 0) * coalesce(quantity, 1)) as revenue,
          min(event_time) as first_at from events
        where event_type = 'purchase' and order_id is not null
          and order_id in (select order_id from e where event_type = 'purchase')
        group by order_id),
      firsts as (
        select distinct on (e.order_id) e.order_id, e.bucket, coalesce(e.category, '') as category,
               e.device_type, e.country, e.segment
        from e join lines l on l.order_id = e.order_id and e.event_time = l.first_at
        where e.event_type = 'purchase'
        order by e.order_id, e.event_id),
      ord as (
        select f.bucket, f.category, f.device_type, f.country, f.segment, count(*) as orders,
          count(*) filter (where c.order_id is not null) as cancelled_orders,
          coalesce(sum(l.revenue) filter (where c.order_id is not null), 0) as cancelled_revenue
        from firsts f join lines l using (order_id)
        left join (select distinct order_id from events where event_type = 'order_cancelled') c
          using (order_id)
        group by 1, 2, 3, 4, 5),
      agg as (
        select bucket, event_type, coalesce(category, '') as category, device_type, country,
               segment, count(*) as events, coalesce(sum(quantity), 0) as units,
               sum(revenue) as revenue
        from e group by 1, 2, 3, 4, 5, 6)
      insert into agg_minute_dims (bucket, event_type, category, device_type, country, segment,
        events, units, revenue_cents, orders, cancelled_orders, cancelled_revenue_cents)
      select coalesce(a.bucket, o.bucket), coalesce(a.event_type, 'purchase'),
             coalesce(a.category, o.category), coalesce(a.device_type, o.device_type),
             coalesce(a.country, o.country), coalesce(a.segment, o.segment),
             coalesce(a.events, 0), coalesce(a.units, 0), coalesce(a.revenue, 0),
             coalesce(o.orders, 0), coalesce(o.cancelled_orders, 0), coalesce(o.cancelled_revenue, 0)
      from agg a full join ord o on a.event_type = 'purchase' and a.bucket = o.bucket
        and a.category = o.category and a.device_type = o.device_type and a.country = o.country
        and a.segment = o.segment`).count;
    rows.agg_geo_minute = (await tx`
      insert into agg_geo_minute (bucket, country, region, events, purchases, revenue_cents)
      select bucket, country, region, count(*), count(*) filter (where event_type = 'purchase'),
             sum(revenue)
      from (${ev}) e group by 1, 2, 3`).count;
    rows.agg_product_minute = (await tx`
      insert into agg_product_minute (bucket, product_id, category, views, carts, purchases, units,
                                      revenue_cents)
      select bucket, product_id, min(coalesce(category, '')),
        count(*) filter (where event_type = 'product_click'),
        count(*) filter (where event_type = 'add_to_cart'),
        count(*) filter (where event_type = 'purchase'),
        coalesce(sum(quantity) filter (where event_type = 'purchase'), 0), sum(revenue)
      from (${ev}) e
      where product_id is not null and event_type in ('product_click', 'add_to_cart', 'purchase')
      group by 1, 2`).count;
    rows.active_user_minute = (await tx`
      insert into active_user_minute (bucket, user_id, country, region, device_type, segment, events)
      select distinct on (bucket, user_id, country, region) bucket, user_id, country, region,
             device_type, segment, count(*) over (partition by bucket, user_id, country, region)
      from (${ev}) e where event_type <> 'inventory_update'
      order by bucket, user_id, country, region, event_time, event_id`).count;
    await addRangeToTotals(tx, from, to, 1);
    // Every rebuilt hour is rolled again from its new minutes.
    await tx`
      insert into rollup_dirty (hour, batch_id)
      select generate_series(date_trunc('hour', ${from}::timestamptz),
                             ${to}::timestamptz - interval '1 microsecond', interval '1 hour'),
             pg_current_xact_id()::text::bigint
      on conflict do nothing`;
    const [n] = await tx<{ n: number }[]>`
      select count(*)::bigint as n from events where event_time >= ${from} and event_time < ${to}`;
    return { from, to, events: n?.n ?? 0, rows };
  });
}

/** Adds `sign` × the range's `agg_minute` sums per event type to the running totals' shard 0. */
async function addRangeToTotals(tx: Tx, from: string, to: string, sign: 1 | -1): Promise<void> {
  await tx`
    insert into pipeline_totals (shard, kind, n, units, revenue_cents)
    select 0, event_type, ${sign} * sum(events), ${sign} * sum(units), ${sign} * sum(revenue_cents)
    from agg_minute where bucket >= ${from} and bucket < ${to} group by event_type
    order by event_type
    on conflict (shard, kind) do update set
      n = pipeline_totals.n + excluded.n,
      units = pipeline_totals.units + excluded.units,
      revenue_cents = pipeline_totals.revenue_cents + excluded.revenue_cents`;
}
