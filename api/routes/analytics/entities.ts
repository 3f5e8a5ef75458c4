/**
 * Top lists, sessions, fraud and inventory alerts, anomalies, user features and recommendations.
 * Every list is bounded by a validated `limit`; no response carries a raw IP or user agent.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import type { Env } from "hono";
import type { Sql } from "../../../shared/mod.ts";
import { respond, type ResponseCache } from "../../response_cache.ts";
import {
  badRequest,
  errors,
  iso,
  Limit,
  money,
  RangeQuery,
  resolveRange,
  WINDOW_MS,
} from "./_common.ts";
import { type Family, type PlanOptions, unionOf, withPlan } from "./_planner.ts";
import { Datetime } from "../../params.ts";

const ok = <T extends z.ZodType>(schema: T, description: string) => ({
  200: { description, content: { "application/json": { schema } } },
  ...errors,
});
const notFound = {
  404: {
    description: "Not found",
    content: { "application/problem+json": { schema: z.object({ detail: z.string() }) } },
  },
};
const Id = z.string().min(1).max(128);
/** Bounded to what timestamptz holds (api/params.ts). */
const datetime = Datetime;

const TopProducts = z.object({
  from: z.string(),
  to: z.string(),
  by: z.enum(["views", "revenue"]),
  products: z.array(z.object({
    productId: z.string(),
    category: z.string(),
    views: z.number(),
    carts: z.number(),
    purchases: z.number(),
    units: z.number(),
    revenue: z.number(),
  })),
}).openapi("TopProducts");

const TopCategories = z.object({
  from: z.string(),
  to: z.string(),
  by: z.enum(["views", "revenue"]),
  categories: z.array(z.object({
    category: z.string(),
    views: z.number(),
    purchases: z.number(),
    revenue: z.number(),
  })),
}).openapi("TopCategories");

const Session = z.object({
  sessionId: z.string(),
  userId: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  durationS: z.number(),
  events: z.number(),
  pageViews: z.number(),
  purchases: z.number(),
  converted: z.boolean(),
  entryPage: z.string().nullable(),
  exitPage: z.string().nullable(),
  deviceType: z.string(),
  country: z.string(),
  clientSessionId: z.string(),
  closed: z.boolean(),
}).openapi("Session");

const FraudAlerts = z.object({
  alerts: z.array(z.object({
    eventId: z.string(),
    orderId: z.string(),
    userId: z.string(),
    eventTime: z.string(),
    amount: z.number(),
    country: z.string(),
    score: z.number(),
    reasons: z.array(z.string()),
    userMaxScore: z.number().nullable(),
  })),
}).openapi("FraudAlerts");

const InventoryItem = z.object({
  productId: z.string(),
  category: z.string().nullable(),
  stock: z.number(),
  countedAt: z.string(),
  unitsSold24h: z.number(),
  velocityPerDay: z.number(),
  daysOfCover: z.number().nullable(),
  reorderQuantity: z.number(),
});
const InventoryAlerts = z.object({
  threshold: z.number(),
  leadDays: z.number(),
  products: z.array(InventoryItem),
}).openapi("InventoryAlerts");

const Anomalies = z.object({
  anomalies: z.array(z.object({
    anomalyId: z.number(),
    kind: z.string(),
    series: z.string(),
    bucket: z.string(),
    value: z.number(),
    baseline: z.number().nullable(),
    zScore: z.number().nullable(),
    reason: z.string(),
    detectedAt: z.string(),
  })),
}).openapi("Anomalies");

const Recommendations = z.object({
  userId: z.string(),
  recommendations: z.array(z.object({
    productId: z.string(),
    score: z.number(),
    source: z.enum(["co_purchase", "co_view", "trending"]),
  })),
}).openapi("Recommendations");

const Features = z.object({
  userId: z.string(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  recencyS: z.number(),
  events: z.number(),
  purchases: z.number(),
  monetary: z.number(),
  homeCountry: z.string(),
  segment: z.string(),
  lastDevice: z.string(),
  categoryAffinity: z.record(z.string(), z.number()),
  devices: z.record(z.string(), z.number()),
  hoursUtc: z.record(z.string(), z.number()),
}).openapi("UserFeatures");

interface SessionRow {
  session_id: string;
  user_id: string;
  started_at: Date;
  last_at: Date;
  events: number;
  page_views: number;
  purchases: number;
  converted: boolean;
  entry_page: string | null;
  exit_page: string | null;
  device_type: string;
  country: string;
  client_session_id: string;
  closed: boolean;
}

function session(s: SessionRow): z.infer<typeof Session> {
  return {
    sessionId: s.session_id,
    userId: s.user_id,
    startedAt: s.started_at.toISOString(),
    endedAt: s.last_at.toISOString(),
    durationS: (s.last_at.getTime() - s.started_at.getTime()) / 1000,
    events: s.events,
    pageViews: s.page_views,
    purchases: s.purchases,
    converted: s.converted,
    entryPage: s.entry_page,
    exitPage: s.exit_page,
    deviceType: s.device_type,
    country: s.country,
    clientSessionId: s.client_session_id,
    closed: s.closed,
  };
}

const PRODUCT_FAMILY: Family = {
  minute: "agg_product_minute",
  hour: "agg_product_hour",
  day: "agg_product_day",
};
const DIMS_FAMILY: Family = {
  minute: "agg_minute_dims",
  hour: "agg_dims_hour",
  day: "agg_dims_day",
};

export interface EntityOptions {
  fraudAlertThreshold?: number;
  inventoryAlertThreshold?: number;
  reorderLeadDays?: number;
}

/** Registers the top-list, session, alert, anomaly, feature and recommendation routes. */
export function registerEntityRoutes<E extends Env>(
  app: OpenAPIHono<E>,
  deps: { sql: Sql; plan?: PlanOptions; cache?: ResponseCache },
  options: EntityOptions = {},
): void {
  const { sql, cache } = deps;
  const plan = { ...deps.plan, rolledMinutes: false };
  const fraudThreshold = options.fraudAlertThreshold ?? 70;
  const lowThreshold = options.inventoryAlertThreshold ?? 10;
  const leadDays = options.reorderLeadDays ?? 7;
  const TopQuery = RangeQuery.extend({
    by: z.enum(["views", "revenue"]).default("revenue"),
    category: z.string().min(1).max(64).optional(),
    limit: Limit(100, 10),
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/top/products",
      summary: "Top products by views or revenue over a range (default: the last window)",
      request: { query: TopQuery },
      responses: ok(TopProducts, "Ranked products"),
    }),
    async (c) => {
      const raw = c.req.valid("query");
      const r = topRange(raw);
      const q = { ...raw, from: r.from.toISOString(), to: r.to.toISOString() };
      const category = q.category ?? null;
      return await respond(
        c,
        cache,
        "/v1/top/products",
        q,
        () =>
          withPlan(sql, r, ["day"], plan, async (tx, [pieces]) => {
            const cols = tx`product_id, category, views, carts, purchases, units, revenue_cents`;
            const where = tx`and (${category}::text is null or category = ${category})`;
            const rows = await tx<
              {
                product_id: string;
                category: string;
                views: number;
                carts: number;
                purchases: number;
                units: number;
                revenue: number;
              }[]
            >`
            select product_id, min(category) as category, sum(views)::bigint as views,
              sum(carts)::bigint as carts, sum(purchases)::bigint as purchases,
              sum(units)::bigint as units, sum(revenue_cents)::bigint as revenue
            from (${unionOf(tx, pieces!, PRODUCT_FAMILY, cols, where)}) x
            group by product_id
            order by ${q.by === "views" ? tx`views` : tx`revenue`} desc, product_id
            limit ${q.limit}`;
            return {
              from: q.from,
              to: q.to,
              by: q.by,
              products: rows.map((x) => ({
                productId: x.product_id,
                category: x.category,
                views: x.views,
                carts: x.carts,
                purchases: x.purchases,
                units: x.units,
                revenue: money(x.revenue),
              })),
            };
          }),
      ) as never;
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/top/categories",
      summary: "Top categories by views or revenue over a range (default: the last window)",
      request: { query: TopQuery.omit({ category: true }) },
      responses: ok(TopCategories, "Ranked categories"),
    }),
    async (c) => {
      const raw = c.req.valid("query");
      const r = topRange(raw);
      const q = { ...raw, from: r.from.toISOString(), to: r.to.toISOString() };
      return await respond(
        c,
        cache,
        "/v1/top/categories",
        q,
        () =>
          withPlan(sql, r, ["day"], plan, async (tx, [pieces]) => {
            const cols = tx`category, event_type, events, revenue_cents, cancelled_revenue_cents`;
            const rows = await tx<
              { category: string; views: number; purchases: number; revenue: number }[]
            >`
            select category,
              (sum(events) filter (where event_type in ('page_view', 'product_click')))::bigint
                as views,
              (sum(events) filter (where event_type = 'purchase'))::bigint as purchases,
              (sum(revenue_cents) - sum(cancelled_revenue_cents))::bigint as revenue
            from (${unionOf(tx, pieces!, DIMS_FAMILY, cols, tx`and category <> ''`)}) x
            group by category
            order by ${q.by === "views" ? tx`views` : tx`revenue`} desc nulls last, category
            limit ${q.limit}`;
            return {
              from: q.from,
              to: q.to,
              by: q.by,
              categories: rows.map((x) => ({
                category: x.category,
                views: x.views ?? 0,
                purchases: x.purchases ?? 0,
                revenue: money(x.revenue),
              })),
            };
          }),
      ) as never;
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sessions/{id}",
      summary: "One server-side session",
      request: { params: z.object({ id: z.uuid() }) },
      responses: { ...ok(Session, "The session"), ...notFound },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const [s] = await sql<SessionRow[]>`select * from sessions where session_id = ${id}`;
      if (!s) throw new HTTPException(404, { message: `No session "${id}"` });
      return c.json(session(s), 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users/{id}/sessions",
      summary: "A user's sessions, newest first",
      request: { params: z.object({ id: Id }), query: z.object({ limit: Limit(100, 20) }) },
      responses: ok(z.object({ sessions: z.array(Session) }), "Sessions"),
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { limit } = c.req.valid("query");
      const rows = await sql<SessionRow[]>`
        select * from sessions where user_id = ${id} order by last_at desc limit ${limit}`;
      return c.json({ sessions: rows.map(session) }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/fraud/alerts",
      summary: "Scored purchases at or above a risk score, newest first, with their reasons",
      request: {
        query: z.object({
          minScore: z.coerce.number().int().min(0).max(100).optional(),
          from: datetime.optional(),
          to: datetime.optional(),
          userId: Id.optional(),
          limit: Limit(500, 50),
        }),
      },
      responses: ok(FraudAlerts, "Fraud alerts"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      return await respond(c, cache, "/v1/fraud/alerts", q, async () => {
        const min = q.minScore ?? fraudThreshold;
        const from = q.from ?? null;
        const to = q.to ?? null;
        const user = q.userId ?? null;
        const rows = await sql<
          {
            event_id: string;
            order_id: string;
            user_id: string;
            event_time: Date;
            amount_cents: number;
            country: string;
            score: number;
            reasons: string[];
            max_score: number | null;
          }[]
        >`
          select f.event_id, f.order_id, f.user_id, f.event_time, f.amount_cents, f.country, f.score,
                 f.reasons, r.max_score
          from fraud_scores f left join user_risk r using (user_id)
          where f.score >= ${min}
            and (${from}::timestamptz is null or f.event_time >= ${from})
            and (${to}::timestamptz is null or f.event_time < ${to})
            and (${user}::text is null or f.user_id = ${user})
          order by f.event_time desc, f.event_id limit ${q.limit}`;
        return {
          alerts: rows.map((x) => ({
            eventId: x.event_id,
            orderId: x.order_id,
            userId: x.user_id,
            eventTime: x.event_time.toISOString(),
            amount: money(x.amount_cents),
            country: x.country,
            score: x.score,
            reasons: x.reasons,
            userMaxScore: x.max_score,
          })),
        };
      }) as never;
    },
    badRequest,
  );

  const inventoryRoute = (path: string, summary: string, lowOnly: boolean) =>
    app.openapi(
      createRoute({
        method: "get",
        path,
        summary,
        description: "Velocity = units sold in the 24 h of event time before `at` (default now); " +
          "days of cover = stock / velocity; reorder quantity = velocity × lead days − stock.",
        request: { query: z.object({ limit: Limit(500, 50), at: datetime.optional() }) },
        responses: ok(InventoryAlerts, summary),
      }),
      async (c) => {
        const q = c.req.valid("query");
        // Without `at`, the 24 h end at the next minute: one cache key per minute, whole minutes.
        const atMs = q.at !== undefined
          ? Date.parse(q.at)
          : Math.ceil(Date.now() / 60_000) * 60_000;
        const key = { ...q, at: new Date(atMs).toISOString() };
        return await respond(c, cache, path, key, () =>
          withPlan(
            sql,
            {
              from: new Date(atMs - 86_400_000),
              to: new Date(atMs),
            },
            ["day"],
            plan,
            async (tx, [pieces]) => {
              const sold = unionOf(tx, pieces!, PRODUCT_FAMILY, tx`product_id, units`);
              const rows = await tx<
                {
                  product_id: string;
                  category: string | null;
                  stock: number;
                  stock_at: Date;
                  sold: number;
                }[]
              >`
            with v as (
              select product_id, sum(units)::bigint as sold from (${sold}) x group by product_id)
            select i.product_id, i.category, (i.stock_base - i.sold_after)::bigint as stock,
                   i.stock_at, coalesce(v.sold, 0)::bigint as sold
            from inventory i left join v using (product_id)
            where i.stock_base is not null and (${!lowOnly} or i.low)
            order by ${lowOnly ? tx`stock asc` : tx`sold desc`}, i.product_id
            limit ${q.limit}`;
              return {
                threshold: lowThreshold,
                leadDays,
                products: rows.map((x) => ({
                  productId: x.product_id,
                  category: x.category,
                  stock: x.stock,
                  countedAt: x.stock_at.toISOString(),
                  unitsSold24h: x.sold,
                  velocityPerDay: x.sold,
                  daysOfCover: x.sold > 0 ? Math.round((x.stock / x.sold) * 100) / 100 : null,
                  reorderQuantity: Math.max(0, Math.ceil(x.sold * leadDays - x.stock)),
                })),
              };
            },
          )) as never;
      },
      badRequest,
    );
  inventoryRoute("/v1/inventory/alerts", "Products below the stock threshold", true);
  inventoryRoute("/v1/inventory/velocity", "Fast-moving products by units sold in 24 h", false);

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/anomalies",
      summary: "Detected anomalies, newest first",
      request: {
        query: z.object({
          kind: z.string().min(1).max(64).optional(),
          from: datetime.optional(),
          to: datetime.optional(),
          limit: Limit(500, 100),
        }),
      },
      responses: ok(Anomalies, "Anomalies with their reasons"),
    }),
    async (c) => {
      const q = c.req.valid("query");
      return await respond(c, cache, "/v1/anomalies", q, async () => {
        const kind = q.kind ?? null;
        const from = q.from ?? null;
        const to = q.to ?? null;
        const rows = await sql<
          {
            anomaly_id: number;
            kind: string;
            series: string;
            bucket: Date;
            value: number;
            baseline: number | null;
            z_score: number | null;
            reason: string;
            detected_at: Date;
          }[]
        >`
          select * from anomalies
          where (${kind}::text is null or kind = ${kind})
            and (${from}::timestamptz is null or bucket >= ${from})
            and (${to}::timestamptz is null or bucket < ${to})
          order by bucket desc, anomaly_id desc limit ${q.limit}`;
        return {
          anomalies: rows.map((x) => ({
            anomalyId: x.anomaly_id,
            kind: x.kind,
            series: x.series,
            bucket: x.bucket.toISOString(),
            value: x.value,
            baseline: x.baseline,
            zScore: x.z_score,
            reason: x.reason,
            detectedAt: iso(x.detected_at)!,
          })),
        };
      }) as never;
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users/{id}/features",
      summary: "The user's real-time features",
      request: { params: z.object({ id: Id }) },
      responses: { ...ok(Features, "Features"), ...notFound },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const [f] = await sql<
        {
          first_seen: Date;
          last_seen: Date;
          events: number;
          purchases: number;
          monetary_cents: number;
          home_country: string;
          segment: string;
          last_device: string;
          categories: Record<string, number>;
          devices: Record<string, number>;
          hours: Record<string, number>;
        }[]
      >`select * from user_features where user_id = ${id}`;
      if (!f) throw new HTTPException(404, { message: `No features for user "${id}"` });
      return c.json({
        userId: id,
        firstSeen: f.first_seen.toISOString(),
        lastSeen: f.last_seen.toISOString(),
        recencyS: Math.max(0, Math.round((Date.now() - f.last_seen.getTime()) / 1000)),
        events: f.events,
        purchases: f.purchases,
        monetary: money(f.monetary_cents),
        homeCountry: f.home_country,
        segment: f.segment,
        lastDevice: f.last_device,
        categoryAffinity: f.categories,
        devices: f.devices,
        hoursUtc: f.hours,
      }, 200);
    },
    badRequest,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/users/{id}/recommendations",
      summary:
        "Products for a user: co-purchased, then co-viewed with what they saw, then trending",
      description: "Never includes a product the user bought (within the stored history).",
      request: { params: z.object({ id: Id }), query: z.object({ limit: Limit(50, 10) }) },
      responses: ok(Recommendations, "Recommendations"),
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { limit } = c.req.valid("query");
      const rows = await recommend(sql, id, limit);
      return c.json({ userId: id, recommendations: rows }, 200);
    },
    badRequest,
  );
}

function topRange(
  q: { window: keyof typeof WINDOW_MS; from?: string | undefined; to?: string | undefined },
) {
  // Without `from`, a top list covers the one window (of the bucket grid) holding `to`.
  if (q.from === undefined) {
    const w = WINDOW_MS[q.window];
    const toMs = Math.ceil(Date.parse(q.to ?? new Date().toISOString()) / w) * w;
    return resolveRange({
      ...q,
      to: new Date(toMs).toISOString(),
      from: new Date(toMs - w).toISOString(),
    });
  }
  return resolveRange(q);
}

/**
 * Candidates from item_pairs of the user's 20 most recent products (last 7 days of hours), scored
 * co_purchases × 3 + co_views; filled with products trending in the last hour. Excludes bought ones.
 */
export async function recommend(
  sql: Sql,
  userId: string,
  limit: number,
): Promise<{ productId: string; score: number; source: "co_purchase" | "co_view" | "trending" }[]> {
  const rows = await sql<
    { product_id: string; score: number; source: "co_purchase" | "co_view" | "trending" }[]
  >`
    with recent as (
      select product_id, max(hour) as hour from user_hour_products
      where user_id = ${userId} and hour > now() - interval '7 days'
      group by product_id order by max(hour) desc limit 20),
    bought as (
      select product_id from user_hour_products where user_id = ${userId} and kind = 'purchase'),
    pairs as (
      select p.product_b as product_id, sum(p.co_purchases * 3 + p.co_views)::float8 as score,
             case when sum(p.co_purchases) > 0 then 'co_purchase' else 'co_view' end as source
      from recent r join item_pairs p on p.product_a = r.product_id
      where p.product_b not in (select product_id from bought)
      group by p.product_b
      order by 2 desc, 1 limit ${limit}),
    trending as (
      select product_id, (sum(views) + sum(carts) * 2 + sum(purchases) * 5)::float8 as score,
             'trending' as source
      from agg_product_minute
      where bucket >= date_trunc('minute', now()) - interval '1 hour'
        and product_id not in (select product_id from bought)
        and product_id not in (select product_id from pairs)
      group by product_id order by 2 desc, 1 limit ${limit})
    (select product_id, score, source, 0 as rank from pairs
     union all
     select product_id, score, source, 1 from trending)
    order by rank, score desc, product_id limit ${limit}`;
  return rows.map((r) => ({ productId: r.product_id, score: r.score, source: r.source }));
}
