/**
 * The consumer's small HTTP server for container health checks: `GET /health` (the poll loop is
 * alive; 503 when it stalled or the process is shutting down), `GET /ready` (the database answers)
 * and, when given, `GET /metrics` (Prometheus text).
 */
import { Hono } from "hono";
import type { Sql } from "../shared/mod.ts";
import type { Consumer } from "./consumer.ts";

export interface HealthAppDeps {
  consumer: Pick<Consumer, "health" | "stats">;
  sql: Sql;
  metrics?: () => Promise<string>;
  /** How long `/ready` waits for the database. */
  readyTimeoutMs?: number;
}

/** The Hono app behind the consumer's health port. */
export function createHealthApp(deps: HealthAppDeps): Hono {
  const app = new Hono();
  app.get("/health", (c) => {
    const h = deps.consumer.health();
    const s = deps.consumer.stats;
    const body = {
      status: h.ok ? "ok" : "unhealthy",
      ...(h.reason ? { reason: h.reason } : {}),
      inflightMessages: s.inflightMessages,
      inflightEvents: s.inflightEvents,
      stored: s.stored,
    };
    return c.json(body, h.ok ? 200 : 503);
  });
  app.get("/ready", async (c) => {
    const timeoutMs = deps.readyTimeoutMs ?? 2000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        deps.sql`select 1`,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Database did not answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      return c.json({ status: "ready" });
    } catch (err) {
      return c.json({ status: "unavailable", reason: String(err) }, 503);
    } finally {
      clearTimeout(timer);
    }
  });
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get("/metrics", async (c) => {
      return c.text(await metrics(), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      });
    });
  }
  return app;
}

/** Serves the health app on `port` (0 = off: returns null). */
export function startHealthServer(
  deps: HealthAppDeps & { port: number; hostname?: string },
): Deno.HttpServer | null {
  if (deps.port === 0) return null;
  const app = createHealthApp(deps);
  return Deno.serve(
    { port: deps.port, hostname: deps.hostname ?? "0.0.0.0", onListen: () => {} },
    app.fetch,
  );
}
