/**
 * API metrics: a Hono middleware that counts and times every request by method, route pattern
 * (`/v1/orders/:id`, never the raw path, so the label set stays small) and status.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { Counter, DURATION_BUCKETS_S, Histogram, type Registry } from "../shared/mod.ts";

export interface ApiMetrics {
  /** Install first (`deps.middleware`), so it sees every request, errors and 404s included. */
  middleware: MiddlewareHandler;
}

/** The route a request matched, or "unmatched"; `use()` middleware (method ALL) is skipped. */
function routeOf(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    if (routes[i]!.method !== "ALL") return routes[i]!.path;
  }
  return "unmatched";
}

/** Registers the API's metrics on `registry` and returns the middleware that feeds them. */
export function createApiMetrics(registry: Registry): ApiMetrics {
  const requests = new Counter({
    name: "scalestream_api_requests_total",
    help: "HTTP requests by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "scalestream_api_request_duration_seconds",
    help: "HTTP request duration by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    buckets: [...DURATION_BUCKETS_S],
    registers: [registry],
  });
  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      // Hono turns thrown errors into responses (onError) before control returns here.
      const labels = { method: c.req.method, route: routeOf(c), status: String(c.res.status) };
      requests.inc(labels);
      duration.observe(labels, (performance.now() - started) / 1000);
    }
  };
  return { middleware };
}

/**
 * Wraps an app so every request is counted and `GET /metrics` serves `registry`: for apps that do
 * not take `deps.middleware` / `deps.metrics` themselves.
 */
export function withMetrics(app: Hono, registry: Registry): Hono {
  const outer = new Hono();
  outer.use(createApiMetrics(registry).middleware);
  outer.get(
    "/metrics",
    async (c) => c.body(await registry.metrics(), 200, { "content-type": registry.contentType }),
  );
  outer.route("/", app);
  return outer;
}
