/**
 * The Hono app. It is a plain module, so the same app serves under `Deno.serve` in a container and
 * on Deno Deploy; resources come in through `createApp(deps)`.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { getLogger, type Sql } from "../shared/mod.ts";
import { health, ready } from "./routes/health.ts";
import { pipelineTotals } from "./routes/pipeline_totals.ts";
import { registerAnalyticsRoutes } from "./routes/analytics/register.ts";

const log = getLogger(["scalestream", "api"]);

export interface AppDeps {
  sql: Sql;
}

/** Builds the API; errors become RFC 9457 problem documents without stack traces. */
export function createApp(deps: AppDeps): OpenAPIHono {
  const app = new OpenAPIHono();
  registerAnalyticsRoutes(app, deps);
  app.get("/health", (c) => c.json(health()));
  app.get("/ready", async (c) => {
    const r = await ready(deps);
    return c.json(r, r.status === "ok" ? 200 : 503);
  });
  app.get("/v1/pipeline/totals", async (c) => c.json(await pipelineTotals(deps)));
  app.notFound((c) =>
    c.json(
      {
        type: "about:blank",
        title: "Not Found",
        status: 404,
        detail: `No route for "${c.req.path}"`,
      },
      404,
      { "content-type": "application/problem+json" },
    )
  );
  app.onError((err, c) => {
    const status = err instanceof HTTPException ? err.status : 500;
    if (status >= 500) {
      log.error("Request {path} failed: {error}", { path: c.req.path, error: String(err) });
    }
    return c.json(
      {
        type: "about:blank",
        title: status >= 500 ? "Internal Server Error" : err.message,
        status,
        detail: status >= 500 ? "The server could not complete the request" : err.message,
      },
      status,
      { "content-type": "application/problem+json" },
    );
  });
  return app;
}
