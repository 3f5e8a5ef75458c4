/**
 * `GET /v1/metrics/{traffic,revenue,funnel,active-users,geo,rejects}`: series over event-time
 * buckets of 1m, 5m or 1h, rolled up from the 1-minute aggregates the consumer writes.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import type { Env } from "hono";
import type { Sql } from "../../../shared/mod.ts";
import {
  type Family,
  grainOfWindow,
  type PlanOptions,
  unionOf,
  userSetsAllowed,
  withPlan,
} from "./_planner.ts";
import { countUsers, scopeKey } from "./_user_sets.ts";
import { type AnalyticsDeps, readRoutes } from "./_read_routes.ts";
import { Filters, iso, money, RangeQuery, ratio, resolveRange, SeriesQuery } from "./_common.ts";

const RangeOut = z.object({ from: z.string(), to: z.string(), window: z.string() });

const TrafficOut = z.object({
  range: RangeOut,
  buckets: z.array(z.object({
    bucket: z.string(),
    events: z.number(),
    byType: z.record(z.string(), z.number()),
  })),
}).openapi("TrafficSeries");

const RevenueOut = z.object({
  range: RangeOut,
  buckets: z.array(z.object({
    bucket: z.string(),
    orders: z.number(),
    units: z.number(),
    revenue: z.number(),
    cancelledOrders: z.number(),
    cancelledRevenue: z.number(),
    netRevenue: z.number(),
    averageOrderValue: z.number().nullable(),
  })),
}).openapi("RevenueSeries");

const FunnelStep = z.object({
  views: z.number(),
  carts: z.number(),
  purchases: z.number(),
  viewToCart: z.number().nullable(),
  cartToPurchase: z.number().nullable(),
  viewToPurchase: z.number().nullable(),
});
const FunnelOut = z.object({
  range: RangeOut,
  total: FunnelStep,
  buckets: z.array(FunnelStep.extend({ bucket: z.string() })),
}).openapi("Funnel");

const ActiveOut = z.object({
  range: RangeOut,
  distinctUsers: z.number(),
  buckets: z.array(z.object({ bucket: z.string(), users: z.number() })),
}).openapi("ActiveUsers");

const GeoOut = z.object({
  range: RangeOut,
  regions: z.array(z.object({
    country: z.string(),
    region: z.string(),
    users: z.number(),
    events: z.number(),
    purchases: z.number(),
    revenue: z.number(),
  })),
}).openapi("Geography");

const RejectsOut = z.object({
  range: RangeOut,
  buckets: z.array(z.object({
    bucket: z.string(),
    invalid: z.number(),
    tooOld: z.number(),
    tooNew: z.number(),
  })),
}).openapi("Rejects");

type F = z.infer<typeof Filters>;
type R = ReturnType<typeof resolveRange>;
const nil = (v: string | undefined) => v ?? null;

/** What the series reads need: a pool, and planner limits (tests force each grain). */
export interface SeriesDeps {
  sql: Sql;
  plan?: PlanOptions;
}

function rangeOut(r: R, window: string) {
  return { from: r.from.toISOString(), to: r.to.toISOString(), window };
}

const hasFilter = (f: F) =>
  f.category !== undefined || f.device !== undefined || f.country !== undefined ||
  f.segment !== undefined;

/** Unfiltered reads come from the per-event-type tables; filtered ones from every dimension. */
const TYPE_FAMILY: Family = {
  minute: "agg_minute_dims",
  rolledMinute: "agg_type_minute",
  hour: "agg_type_hour",
  day: "agg_type_day",
};
export const DIMS_FAMILY: Family = {
  minute: "agg_minute_dims",
  hour: "agg_dims_hour",
  day: "agg_dims_day",
};
const GEO_FAMILY: Family = { minute: "agg_geo_minute", hour: "agg_geo_hour", day: "agg_geo_day" };
const PRESENCE_FAMILY: Family = {
  minute: "active_user_minute",
  hour: "active_user_hour",
  day: "active_user_day",
  dayHours: true,
};

function dimsWhere(sql: Sql, f: F) {
  return sql`
    and (${nil(f.category)}::text is null or category = ${nil(f.category)})
    and (${nil(f.device)}::text is null or device_type = ${nil(f.device)})
    and (${nil(f.country)}::text is null or country = ${nil(f.country)})
    and (${nil(f.segment)}::text is null or segment = ${nil(f.segment)})`;
}

interface DimBucket {
  bucket: Date;
  event_type: string;
  events: number;
  units: number;
  revenue: number;
  orders: number;
  cancelled_orders: number;
  cancelled_revenue: number;
}

/** Sums per bucket and event type, filtered, from the narrowest tables that answer exactly. */
async function dimSeries(deps: SeriesDeps, r: R, f: F): Promise<DimBucket[]> {
  const filtered = hasFilter(f);
  const family = filtered ? DIMS_FAMILY : TYPE_FAMILY;
  const plan = filtered ? { ...deps.plan, rolledMinutes: false } : deps.plan ?? {};
  return await withPlan(deps.sql, r, [grainOfWindow(r.windowMs)], plan, async (sql, [pieces]) => {
    const cols = sql`bucket, event_type, events, units, revenue_cents, orders, cancelled_orders,
      cancelled_revenue_cents`;
    const rows = unionOf(sql, pieces!, family, cols, filtered ? dimsWhere(sql, f) : sql``);
    return await sql<DimBucket[]>`
      select date_bin(${r.interval}::interval, bucket, timestamptz 'epoch') as bucket, event_type,
        sum(events)::bigint as events, sum(units)::bigint as units,
        sum(revenue_cents)::bigint as revenue, sum(orders)::bigint as orders,
        sum(cancelled_orders)::bigint as cancelled_orders,
        sum(cancelled_revenue_cents)::bigint as cancelled_revenue
      from (${rows}) x
      group by 1, 2 order by 1, 2`;
  });
}

function funnelOf(views: number, carts: number, purchases: number) {
  return {
    views,
    carts,
    purchases,
    viewToCart: ratio(carts, views),
    cartToPurchase: ratio(purchases, carts),
    viewToPurchase: ratio(purchases, views),
  };
}

export type SeriesQueryIn = z.infer<typeof SeriesQuery>;

/** `GET /v1/metrics/traffic`. */
export async function trafficSeries(q: SeriesQueryIn, deps: SeriesDeps) {
  const r = resolveRange(q);
  const buckets = new Map<
    number,
    { bucket: string; events: number; byType: Record<string, number> }
  >();
  for (const row of await dimSeries(deps, r, q)) {
    const t = row.bucket.getTime();
    let b = buckets.get(t);
    if (!b) buckets.set(t, b = { bucket: row.bucket.toISOString(), events: 0, byType: {} });
    b.events += row.events;
    b.byType[row.event_type] = row.events;
  }
  return { range: rangeOut(r, q.window), buckets: [...buckets.values()] };
}

/** `GET /v1/metrics/revenue`. */
export async function revenueSeries(q: SeriesQueryIn, deps: SeriesDeps) {
  const r = resolveRange(q);
  const rows = (await dimSeries(deps, r, q)).filter((x) => x.event_type === "purchase");
  const buckets = rows.map((x) => {
    const net = x.revenue - x.cancelled_revenue;
    const kept = x.orders - x.cancelled_orders;
    return {
      bucket: x.bucket.toISOString(),
      orders: x.orders,
      units: x.units,
      revenue: money(x.revenue),
      cancelledOrders: x.cancelled_orders,
      cancelledRevenue: money(x.cancelled_revenue),
      netRevenue: money(net),
      averageOrderValue: kept > 0 ? money(net / kept) : null,
    };
  });
  return { range: rangeOut(r, q.window), buckets };
}

/** `GET /v1/metrics/funnel`. */
export async function funnelSeries(q: SeriesQueryIn, deps: SeriesDeps) {
  const r = resolveRange(q);
  const per = new Map<number, { bucket: string; v: number; c: number; p: number }>();
  for (const x of await dimSeries(deps, r, q)) {
    const t = x.bucket.getTime();
    let b = per.get(t);
    if (!b) per.set(t, b = { bucket: x.bucket.toISOString(), v: 0, c: 0, p: 0 });
    if (x.event_type === "page_view" || x.event_type === "product_click") b.v += x.events;
    if (x.event_type === "add_to_cart") b.c += x.events;
    if (x.event_type === "purchase") b.p += x.events;
  }
  const all = [...per.values()];
  const sum = (k: "v" | "c" | "p") => all.reduce((s, b) => s + b[k], 0);
  return {
    range: rangeOut(r, q.window),
    total: funnelOf(sum("v"), sum("c"), sum("p")),
    buckets: all.map((b) => ({ bucket: b.bucket, ...funnelOf(b.v, b.c, b.p) })),
  };
}

/**
 * `GET /v1/metrics/active-users`: a bucket that one clean rollup row covers reads its count (per
 * filter combination, '*' = any); any other bucket, and the range total, count distinct users over
 * the presence rows of days, hours and minutes, the coarsest that is exact.
 */
export async function activeUsers(q: SeriesQueryIn, deps: SeriesDeps) {
  if (q.category !== undefined) {
    throw new HTTPException(400, {
      message: `Filter "category" is not supported for active users`,
    });
  }
  const r = resolveRange(q);
  const window = grainOfWindow(r.windowMs);
  const plan = { ...deps.plan, rolledMinutes: false };
  const { device, country, segment } = q;
  const sets = userSetsAllowed(deps.plan) && device === undefined && country === undefined &&
    segment === undefined;
  return await withPlan(deps.sql, r, [window, "day"], plan, async (sql, [series, whole]) => {
    await sql`set local work_mem = '64MB'`; // the hash of a week's distinct users
    const where = sql`
      and (${nil(device)}::text is null or device_type = ${nil(device)})
      and (${nil(country)}::text is null or country = ${nil(country)})
      and (${nil(segment)}::text is null or segment = ${nil(segment)})`;
    const counted = series!.filter((p) => p.grain === window && p.grain !== "minute");
    const distinct = series!.filter((p) => !counted.includes(p));
    const countTable = window === "day" ? "active_count_day" : "active_count_hour";
    const countArms = counted.map((p) =>
      sql`select bucket, users from ${sql(countTable)}
        where bucket >= ${p.from} and bucket < ${p.to} and device_type = ${device ?? "*"}
          and country = ${country ?? "*"} and segment = ${segment ?? "*"}`
    );
    const presence = unionOf(sql, distinct, PRESENCE_FAMILY, sql`bucket, user_id`, where);
    // distinct, then count: a hash aggregate, where count(distinct) would sort every row.
    const fromPresence = sql`
      select bucket, count(*)::bigint as users from (
        select distinct date_bin(${r.interval}::interval, bucket, timestamptz 'epoch') as bucket,
               user_id
        from (${presence}) x) y
      group by 1`;
    const all = [...countArms, fromPresence].reduce((a, b) => sql`${a} union all ${b}`);
    const [rows, total] = await Promise.all([
      sql<{ bucket: Date; users: number }[]>`
        select bucket, users::bigint as users from (${all}) y where users > 0 order by 1`,
      // Unfiltered: from the per-day user bitmaps (a week ORs ≤ 8 of them); filtered: presence.
      sets
        ? countUsers(sql, whole!, { byRegion: false, country: null }).then((m) => m.get("*") ?? 0)
        : sql<{ users: number }[]>`
          select count(*)::bigint as users from (
            select distinct user_id
            from (${unionOf(sql, whole!, PRESENCE_FAMILY, sql`user_id`, where)}) x) y`
          .then((t) => t[0]?.users ?? 0),
    ]);
    return {
      range: rangeOut(r, q.window),
      distinctUsers: total,
      buckets: rows.map((x) => ({ bucket: x.bucket.toISOString(), users: x.users })),
    };
  });
}

export type GeoQueryIn = z.infer<typeof GeoQuery>;
const GeoQuery = RangeQuery.extend({ country: Filters.shape.country });

/** `GET /v1/metrics/geo`: sums and distinct users per region over the range. */
export async function geoRegions(q: GeoQueryIn, deps: SeriesDeps) {
  const r = resolveRange(q);
  const country = nil(q.country);
  const plan = { ...deps.plan, rolledMinutes: false };
  return await withPlan(deps.sql, r, ["day"], plan, async (sql, [pieces]) => {
    await sql`set local work_mem = '64MB'`; // the hash of a week's distinct users per region
    const where = sql`and (${country}::text is null or country = ${country})`;
    const geo = unionOf(
      sql,
      pieces!,
      GEO_FAMILY,
      sql`country, region, events, purchases, revenue_cents`,
      where,
    );
    const counted = userSetsAllowed(deps.plan)
      ? countUsers(sql, pieces!, { byRegion: true, country })
      : undefined;
    const users = unionOf(sql, pieces!, PRESENCE_FAMILY, sql`country, region, user_id`, where);
    const u = counted
      ? sql`select null::text as country, null::text as region, 0::bigint as users where false`
      : sql`
        select country, region, count(*)::bigint as users
        from (select distinct country, region, user_id from (${users}) x) y group by 1, 2`;
    const [rows, byRegion] = await Promise.all([
      sql<
        {
          country: string;
          region: string;
          users: number;
          events: number;
          purchases: number;
          revenue: number;
        }[]
      >`
      with g as (
        select country, region, sum(events)::bigint as events, sum(purchases)::bigint as purchases,
               sum(revenue_cents)::bigint as revenue
        from (${geo}) x group by 1, 2),
      u as (${u})
      select g.country, g.region, coalesce(u.users, 0)::bigint as users, g.events, g.purchases,
             g.revenue
      from g left join u using (country, region)
      order by g.revenue desc, g.events desc, g.country, g.region limit 500`,
      counted,
    ]);
    if (byRegion) {
      for (const x of rows) x.users = byRegion.get(scopeKey(x.country, x.region)) ?? 0;
    }
    return {
      range: rangeOut(r, q.window),
      regions: rows.map((x) => ({ ...x, revenue: money(x.revenue) })),
    };
  });
}

export type RangeQueryIn = z.infer<typeof RangeQuery>;

/** `GET /v1/metrics/rejects` (by arrival time, from the rejects table itself). */
export async function rejectSeries(q: RangeQueryIn, deps: SeriesDeps) {
  const { sql } = deps;
  const r = resolveRange(q);
  const rows = await sql<{ bucket: Date; invalid: number; too_old: number; too_new: number }[]>`
    select date_bin(${r.interval}::interval, received_at, timestamptz 'epoch') as bucket,
      count(*) filter (where kind = 'invalid')::bigint as invalid,
      count(*) filter (where kind = 'too_old')::bigint as too_old,
      count(*) filter (where kind = 'too_new')::bigint as too_new
    from rejects where received_at >= ${r.from} and received_at < ${r.to}
    group by 1 order by 1`;
  return {
    range: rangeOut(r, q.window),
    buckets: rows.map((x) => ({
      bucket: iso(x.bucket)!,
      invalid: x.invalid,
      tooOld: x.too_old,
      tooNew: x.too_new,
    })),
  };
}

/**
 * The query with `from`/`to` resolved and rounded to its bucket: the cache key, and what the
 * computation then reads, so one key always means one range.
 */
export function canonical<Q extends Record<string, unknown>>(q: Q): Q {
  if (typeof q.window !== "string") return q;
  const r = resolveRange(q as unknown as Parameters<typeof resolveRange>[0]);
  return { ...q, from: r.from.toISOString(), to: r.to.toISOString() };
}

/** The metric series routes, to mount at `/v1/metrics`; every answer goes through the cache. */
export function metricRoutes<E extends Env>(deps: AnalyticsDeps): OpenAPIHono<E> {
  const { app, get } = readRoutes<E>(deps.cache);
  const series = <Q extends Record<string, unknown>>(
    path: string,
    summary: string,
    query: z.ZodType<Q>,
    body: z.ZodType,
    bodyDescription: string,
    compute: (q: Q, deps: SeriesDeps) => Promise<unknown>,
    extra: { description?: string } = {},
  ) =>
    get(
      { path, summary, ...extra, query, body, bodyDescription, cached: true, canonical },
      ({ query: q }) => compute(q, deps),
    );

  series(
    "/traffic",
    "Events per bucket by event type",
    SeriesQuery,
    TrafficOut,
    "Event counts per bucket",
    trafficSeries,
  );
  series(
    "/revenue",
    "Orders, units, revenue, cancellations and average order value per bucket",
    SeriesQuery,
    RevenueOut,
    "Revenue per bucket; cancelled orders are netted out",
    revenueSeries,
  );
  series(
    "/funnel",
    "View → add to cart → purchase counts and rates per bucket",
    SeriesQuery,
    FunnelOut,
    "Funnel per bucket and in total",
    funnelSeries,
    {
      description: "Views are page_view and product_click events; with a category filter, only " +
        "events that carry that category count.",
    },
  );
  series(
    "/active-users",
    "Exact distinct users per bucket and over the whole range",
    SeriesQuery,
    ActiveOut,
    "Distinct users",
    activeUsers,
    {
      description: "Filters device, country and segment apply to the user's first event in " +
        "each minute; category is not a user attribute and is rejected.",
    },
  );
  series(
    "/geo",
    "Users, events, purchases and revenue by country and region",
    GeoQuery,
    GeoOut,
    "Geographic distribution over the range",
    geoRegions,
  );
  series(
    "/rejects",
    "Invalid, too-old and too-new events per bucket of arrival time",
    RangeQuery,
    RejectsOut,
    "The late and rejected tally",
    rejectSeries,
  );
  return app;
}
