/** Mounts every analytics read route on an OpenAPIHono app. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "hono";
import type { Sql } from "../../../shared/mod.ts";
import type { ResponseCache } from "../../response_cache.ts";
import type { PlanOptions } from "./_planner.ts";
import { registerMetricRoutes } from "./metrics.ts";
import { type EntityOptions, registerEntityRoutes } from "./entities.ts";

/**
 * Registers `/v1/metrics/*`, `/v1/top/*`, `/v1/sessions/{id}`, `/v1/users/{id}/…`,
 * `/v1/fraud/alerts`, `/v1/inventory/*` and `/v1/anomalies`. Thresholds only shape responses
 * (default minimum score, reorder lead time); pass the same config the consumers use. With a
 * `cache`, every read is served through it; `plan` limits the planner (tests force each grain).
 */
export function registerAnalyticsRoutes<E extends Env>(
  app: OpenAPIHono<E>,
  deps: { sql: Sql; cache?: ResponseCache; plan?: PlanOptions },
  options: EntityOptions = {},
): void {
  registerMetricRoutes(app, deps);
  registerEntityRoutes(app, deps, options);
}
