/** `GET /v1/inventory/{alerts,velocity}`: stock, sales velocity, days of cover and reorder size. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { Datetime } from "../../params.ts";
import { Limit } from "./_common.ts";
import { unionOf, withPlan } from "./_planner.ts";
import { type AnalyticsDeps, readRoutes } from "./_read_routes.ts";
import { PRODUCT_FAMILY } from "./top.ts";

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

export interface InventoryOptions {
  /** The low-stock threshold the consumers flag with (reported back); 10 by default. */
  inventoryAlertThreshold?: number;
  /** Days of sales a reorder should cover; 7 by default. */
  reorderLeadDays?: number;
}

/** The inventory routes, to mount at `/v1/inventory`. */
export function inventoryRoutes<E extends Env>(
  deps: AnalyticsDeps & InventoryOptions,
): OpenAPIHono<E> {
  const { sql } = deps;
  const plan = { ...deps.plan, rolledMinutes: false };
  const lowThreshold = deps.inventoryAlertThreshold ?? 10;
  const leadDays = deps.reorderLeadDays ?? 7;
  const { app, get } = readRoutes<E>(deps.cache);
  const Query = z.object({ limit: Limit(500, 50), at: Datetime.optional() });

  const inventory = (path: string, summary: string, lowOnly: boolean) =>
    get({
      path,
      summary,
      description: "Velocity = units sold in the 24 h of event time before `at` (default now); " +
        "days of cover = stock / velocity; reorder quantity = velocity × lead days − stock.",
      query: Query,
      body: InventoryAlerts,
      bodyDescription: summary,
      cached: true,
      // Without `at`, the 24 h end at the next minute: one cache key per minute, whole minutes.
      canonical: (q) => ({
        ...q,
        at: new Date(
          q.at !== undefined ? Date.parse(q.at) : Math.ceil(Date.now() / 60_000) * 60_000,
        )
          .toISOString(),
      }),
    }, ({ query: q }) => {
      const atMs = Date.parse(q.at!);
      const day = { from: new Date(atMs - 86_400_000), to: new Date(atMs) };
      return withPlan(sql, day, ["day"], plan, async (tx, [pieces]) => {
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
      });
    });
  inventory("/alerts", "Products below the stock threshold", true);
  inventory("/velocity", "Fast-moving products by units sold in 24 h", false);
  return app;
}
