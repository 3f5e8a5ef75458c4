/** `GET /v1/top/{products,categories}`: ranked over a range, by views or revenue. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { Limit, money, type Range, RangeQuery, resolveRange, WINDOW_MS } from "./_common.ts";
import { type Family, unionOf, withPlan } from "./_planner.ts";
import { type AnalyticsDeps, readRoutes } from "./_read_routes.ts";
import { DIMS_FAMILY } from "./metrics.ts";

const By = z.enum(["views", "revenue"]);
/** What every top list answers with besides its entries: the range it covers and the order. */
const Ranked = z.object({ from: z.string(), to: z.string(), by: By });

const TopProducts = Ranked.extend({
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

const TopCategories = Ranked.extend({
  categories: z.array(z.object({
    category: z.string(),
    views: z.number(),
    purchases: z.number(),
    revenue: z.number(),
  })),
}).openapi("TopCategories");

export const PRODUCT_FAMILY: Family = {
  minute: "agg_product_minute",
  hour: "agg_product_hour",
  day: "agg_product_day",
};

const TopQuery = RangeQuery.extend({
  by: By.default("revenue"),
  category: z.string().min(1).max(64).optional(),
  limit: Limit(100, 10),
});
type TopQueryIn = z.infer<typeof TopQuery>;

function topRange(
  q: { window: keyof typeof WINDOW_MS; from?: string | undefined; to?: string | undefined },
): Range {
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

/** The query with its range resolved and rounded: the cache key, and the span the read covers. */
function canonical<Q extends Parameters<typeof topRange>[0]>(q: Q): Q {
  const r = topRange(q);
  return { ...q, from: r.from.toISOString(), to: r.to.toISOString() };
}
/** The `Ranked` part of an answer to a canonical query. */
const ranked = (
  q: { from?: string | undefined; to?: string | undefined; by: "views" | "revenue" },
) => ({
  from: q.from!,
  to: q.to!,
  by: q.by,
});
/** The span of a canonical query (validated once: rounding may add a bucket past the limit). */
const span = (q: { from?: string | undefined; to?: string | undefined }) => ({
  from: new Date(q.from!),
  to: new Date(q.to!),
});

/** The top-list routes, to mount at `/v1/top`. */
export function topRoutes<E extends Env>(deps: AnalyticsDeps): OpenAPIHono<E> {
  const { sql } = deps;
  const plan = { ...deps.plan, rolledMinutes: false };
  const { app, get } = readRoutes<E>(deps.cache);

  get({
    path: "/products",
    summary: "Top products by views or revenue over a range (default: the last window)",
    query: TopQuery,
    body: TopProducts,
    bodyDescription: "Ranked products",
    cached: true,
    canonical,
  }, ({ query: q }: { query: TopQueryIn }) => {
    const category = q.category ?? null;
    return withPlan(sql, span(q), ["day"], plan, async (tx, [pieces]) => {
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
        ...ranked(q),
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
    });
  });

  get({
    path: "/categories",
    summary: "Top categories by views or revenue over a range (default: the last window)",
    query: TopQuery.omit({ category: true }),
    body: TopCategories,
    bodyDescription: "Ranked categories",
    cached: true,
    canonical,
  }, ({ query: q }) =>
    withPlan(sql, span(q), ["day"], plan, async (tx, [pieces]) => {
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
        ...ranked(q),
        categories: rows.map((x) => ({
          category: x.category,
          views: x.views ?? 0,
          purchases: x.purchases ?? 0,
          revenue: money(x.revenue),
        })),
      };
    }));

  return app;
}
