/**
 * The dashboard's default view (window 1m over the last hour, no filters), read once per interval
 * for every viewer and pushed over `/v1/stream` as `event: view` frames (issue 15): 1,000 open
 * dashboards cost one set of reads per interval, not 1,000. The reads go through the same routes
 * and response cache as the HTTP API (a reads-only app without authentication, never served), so
 * a client polling the same query shares the computation too. Only non-default filters poll.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Sql } from "../shared/mod.ts";
import type { ResponseCache } from "./response_cache.ts";
import { registerAnalyticsRoutes } from "./routes/analytics/register.ts";

/** Categories whose revenue lines the default view carries (the dashboard draws the top 5). */
export const VIEW_CATEGORY_LINES = 5;

export interface DefaultView {
  time: string;
  window: "1m";
  traffic: unknown;
  revenue: unknown;
  funnel: unknown;
  activeUsers: unknown;
  geo: unknown;
  topCategories: unknown;
  topProducts: unknown;
  fraudAlerts: unknown;
  inventoryAlerts: unknown;
  anomalies: unknown;
  revenueByCategory: Record<string, unknown>;
}

/** A reader of the default view over `sql`, sharing `cache` with the API's routes. */
export function createDefaultViewReader(
  deps: { sql: Sql; cache: ResponseCache },
): (nowMs?: number) => Promise<DefaultView> {
  const reads = new OpenAPIHono();
  registerAnalyticsRoutes(reads, deps);
  const get = async (path: string) => {
    const res = await reads.request(path);
    if (res.status !== 200) throw new Error(`${path}: status ${res.status}`);
    return await res.json();
  };
  return async (nowMs = Date.now()) => {
    // The dashboard's ranges, rounded as the API rounds them: the same cache keys as its requests.
    const to = Math.ceil(nowMs / 60_000) * 60_000;
    const range = `window=1m&from=${new Date(to - 3_600_000).toISOString()}&to=${
      new Date(to).toISOString()
    }`;
    const paths = {
      traffic: `/v1/metrics/traffic?${range}`,
      revenue: `/v1/metrics/revenue?${range}`,
      funnel: `/v1/metrics/funnel?${range}`,
      activeUsers: `/v1/metrics/active-users?${range}`,
      geo: `/v1/metrics/geo?${range}`,
      topCategories: `/v1/top/categories?${range}&by=revenue&limit=20`,
      topProducts: `/v1/top/products?${range}&by=revenue&limit=10`,
      fraudAlerts: `/v1/fraud/alerts?limit=8`,
      inventoryAlerts: `/v1/inventory/alerts?limit=8`,
      anomalies: `/v1/anomalies?limit=6`,
    };
    const answers = await Promise.all(Object.values(paths).map(get));
    const view = Object.fromEntries(Object.keys(paths).map((k, i) => [k, answers[i]])) as Record<
      keyof typeof paths,
      unknown
    >;
    const names = (view.topCategories as { categories: { category: string }[] }).categories
      .slice(0, VIEW_CATEGORY_LINES).map((c) => c.category);
    const lines = await Promise.all(
      names.map((c) => get(`/v1/metrics/revenue?${range}&category=${encodeURIComponent(c)}`)),
    );
    return {
      time: new Date(nowMs).toISOString(),
      window: "1m",
      ...view,
      revenueByCategory: Object.fromEntries(names.map((c, i) => [c, lines[i]])),
    };
  };
}
