/**
 * Mounts every analytics read route on an OpenAPIHono app: one sub-app per resource, as Hono
 * structures a larger application (`app.route("/v1/top", top)`), each built in its own file from
 * the one read-route shape of `_read_routes.ts`.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "hono";
import type { AnalyticsDeps } from "./_read_routes.ts";
import { metricRoutes } from "./metrics.ts";
import { topRoutes } from "./top.ts";
import { sessionRoutes } from "./sessions.ts";
import { userRoutes } from "./users.ts";
import { type FraudOptions, fraudRoutes } from "./fraud.ts";
import { type InventoryOptions, inventoryRoutes } from "./inventory.ts";
import { anomalyRoutes } from "./anomalies.ts";

/** Thresholds that only shape responses; pass the same config the consumers use. */
export type AnalyticsOptions = FraudOptions & InventoryOptions;

/**
 * Registers `/v1/metrics/*`, `/v1/top/*`, `/v1/sessions/{id}`, `/v1/users/{id}/…`,
 * `/v1/fraud/alerts`, `/v1/inventory/*` and `/v1/anomalies`. Thresholds only shape responses
 * (default minimum score, reorder lead time); pass the same config the consumers use. With a
 * `cache`, every cached read is served through it; `plan` limits the planner (tests force each
 * grain). Mount after the middleware that must run first (`route()` copies the routes as they are).
 */
export function registerAnalyticsRoutes<E extends Env>(
  app: OpenAPIHono<E>,
  deps: AnalyticsDeps,
  options: AnalyticsOptions = {},
): void {
  app.route("/v1/metrics", metricRoutes<E>(deps));
  app.route("/v1/top", topRoutes<E>(deps));
  app.route("/v1/sessions", sessionRoutes<E>(deps));
  app.route("/v1/users", userRoutes<E>(deps));
  app.route("/v1/fraud", fraudRoutes<E>({ ...deps, ...options }));
  app.route("/v1/inventory", inventoryRoutes<E>({ ...deps, ...options }));
  app.route("/v1/anomalies", anomalyRoutes<E>(deps));
}
