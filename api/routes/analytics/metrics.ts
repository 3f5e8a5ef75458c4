/**
 * `GET /v1/metrics/{traffic,revenue,funnel,active-users,geo,rejects}`: series over event-time
 * buckets of 1m, 5m or 1h, rolled up from the 1-minute aggregates the consumer writes.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import type { Env } from "hono";
import type { Sql } from "../../../shared/mod.ts";
import {
  badRequest,
  errors,
  Filters,
  iso,
  money,
  RangeQuery,
  ratio,
  resolveRange,
  SeriesQuery,
} from "./_common.ts";

const ok = <T extends z.ZodType>(schema: T, description: string) => ({
  200: { description, content: { "application/json": { schema } } },
  ...errors,
});

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
const nil = (v: string | undefined) => v ?? null;

function rangeOut(r: ReturnType<typeof resolveRange>, window: string) {
  return { from: r.from.toISOString(), to: r.to.toISOString(), window };
}

/** Sums of `agg_minute_dims` per bucket and event type, filtered. */
async function dimSeries(sql: Sql, r: ReturnType<typeof resolveRange>, f: F) {
  return await sql<
    {
      bucket: Date;
      event_type: string;
      events: number;
      units: number;
      revenue: number;
      orders: number;
      cancelled_orders: number;
      cancelled_revenue: number;
    }[]
  >`
    select date_bin(${r.interval}::interval, bucket, timestamptz 'epoch') as bucket, event_type,
      sum(events)::bigint as events, sum(units)::bigint as units,
      sum(revenue_cents)::bigint as revenue, sum(orders)::bigint as orders,
      sum(cancelled_orders)::bigint as cancelled_orders,
      sum(cancelled_revenue_cents)::bigint as cancelled_revenue
    from agg_minute_dims
    where bucket >= ${r.from} and bucket < ${r.to}
      and (${nil(f.category)}::text is null or category = ${nil(f.category)})
      and (${nil(f.device)}::text is null or device_type = ${nil(f.device)})
      and (${nil(f.country)}::text is null or country = ${nil(f.country)})
      and (${nil(f.segment)}::text is null or segment = ${nil(f.segment)})
    group by 1, 2 order by 1, 2`;
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

/** Registers the metric series routes. */
export function registerMetricRoutes<E extends Env>(
  app: OpenAPIHono<E>,
  deps: { sql: Sql },
): void {
  const { sql } = deps;

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/metrics/traffic",
      summary: "Events per bucket by event type",
      request: { query: SeriesQuery },
      responses: ok(TrafficOut, "Event counts per bucket"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      const r = resolveRange(q);
      const buckets = new Map<
        number,
        { bucket: string; events: number; byType: Record<string, number> }
      >();
      for (const row of await dimSeries(sql, r, q)) {
        const t = row.bucket.getTime();
        let b = buckets.get(t);
        if (!b) buckets.set(t, b = { bucket: row.bucket.toISOString(), events: 0, byType: {} });
        b.events += row.events;
        b.byType[row.event_type] = row.events;
      }
      return c.json({ range: rangeOut(r, q.window), buckets: [...buckets.values()] }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/metrics/revenue",
      summary: "Orders, units, revenue, cancellations and average order value per bucket",
      request: { query: SeriesQuery },
      responses: ok(RevenueOut, "Revenue per bucket; cancelled orders are netted out"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      const r = resolveRange(q);
      const rows = (await dimSeries(sql, r, q)).filter((x) => x.event_type === "purchase");
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
      return c.json({ range: rangeOut(r, q.window), buckets }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/metrics/funnel",
      summary: "View → add to cart → purchase counts and rates per bucket",
      description: "Views are page_view and product_click events; with a category filter, only " +
        "events that carry that category count.",
      request: { query: SeriesQuery },
      responses: ok(FunnelOut, "Funnel per bucket and in total"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      const r = resolveRange(q);
      const per = new Map<number, { bucket: string; v: number; c: number; p: number }>();
      for (const x of await dimSeries(sql, r, q)) {
        const t = x.bucket.getTime();
        let b = per.get(t);
        if (!b) per.set(t, b = { bucket: x.bucket.toISOString(), v: 0, c: 0, p: 0 });
        if (x.event_type === "page_view" || x.event_type === "product_click") b.v += x.events;
        if (x.event_type === "add_to_cart") b.c += x.events;
        if (x.event_type === "purchase") b.p += x.events;
      }
      const all = [...per.values()];
      const sum = (k: "v" | "c" | "p") => all.reduce((s, b) => s + b[k], 0);
      return c.json({
        range: rangeOut(r, q.window),
        total: funnelOf(sum("v"), sum("c"), sum("p")),
        buckets: all.map((b) => ({ bucket: b.bucket, ...funnelOf(b.v, b.c, b.p) })),
      }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/metrics/active-users",
      summary: "Exact distinct users per bucket and over the whole range",
      description: "Filters device, country and segment apply to the user's first event in each " +
        "minute; category is not a user attribute and is rejected.",
      request: { query: SeriesQuery },
      responses: ok(ActiveOut, "Distinct users"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      if (q.category !== undefined) {
        throw new HTTPException(400, {
          message: `Filter "category" is not supported for active users`,
        });
      }
      const r = resolveRange(q);
      const where = sql`
        bucket >= ${r.from} and bucket < ${r.to}
        and (${nil(q.device)}::text is null or device_type = ${nil(q.device)})
        and (${nil(q.country)}::text is null or country = ${nil(q.country)})
        and (${nil(q.segment)}::text is null or segment = ${nil(q.segment)})`;
      const [rows, total] = await Promise.all([
        sql<{ bucket: Date; users: number }[]>`
          select date_bin(${r.interval}::interval, bucket, timestamptz 'epoch') as bucket,
                 count(distinct user_id)::bigint as users
          from active_user_minute where ${where} group by 1 order by 1`,
        sql<{ users: number }[]>`
          select count(distinct user_id)::bigint as users from active_user_minute where ${where}`,
      ]);
      return c.json({
        range: rangeOut(r, q.window),
        distinctUsers: total[0]?.users ?? 0,
        buckets: rows.map((x) => ({ bucket: x.bucket.toISOString(), users: x.users })),
      }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/metrics/geo",
      summary: "Users, events, purchases and revenue by country and region",
      request: { query: RangeQuery.extend({ country: Filters.shape.country }) },
      responses: ok(GeoOut, "Geographic distribution over the range"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      const r = resolveRange(q);
      const country = nil(q.country);
      const rows = await sql<
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
          from agg_geo_minute
          where bucket >= ${r.from} and bucket < ${r.to}
            and (${country}::text is null or country = ${country})
          group by 1, 2),
        u as (
          select country, region, count(distinct user_id)::bigint as users from active_user_minute
          where bucket >= ${r.from} and bucket < ${r.to}
            and (${country}::text is null or country = ${country})
          group by 1, 2)
        select g.country, g.region, coalesce(u.users, 0)::bigint as users, g.events, g.purchases,
               g.revenue
        from g left join u using (country, region)
        order by g.revenue desc, g.events desc, g.country, g.region limit 500`;
      return c.json({
        range: rangeOut(r, q.window),
        regions: rows.map((x) => ({ ...x, revenue: money(x.revenue) })),
      }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/metrics/rejects",
      summary: "Invalid, too-old and too-new events per bucket of arrival time",
      request: { query: RangeQuery },
      responses: ok(RejectsOut, "The late and rejected tally"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      const r = resolveRange(q);
      const rows = await sql<{ bucket: Date; invalid: number; too_old: number; too_new: number }[]>`
        select date_bin(${r.interval}::interval, received_at, timestamptz 'epoch') as bucket,
          count(*) filter (where kind = 'invalid')::bigint as invalid,
          count(*) filter (where kind = 'too_old')::bigint as too_old,
          count(*) filter (where kind = 'too_new')::bigint as too_new
        from rejects where received_at >= ${r.from} and received_at < ${r.to}
        group by 1 order by 1`;
      return c.json({
        range: rangeOut(r, q.window),
        buckets: rows.map((x) => ({
          bucket: iso(x.bucket)!,
          invalid: x.invalid,
          tooOld: x.too_old,
          tooNew: x.too_new,
        })),
      }, 200);
    },
    badRequest,
  );
}
