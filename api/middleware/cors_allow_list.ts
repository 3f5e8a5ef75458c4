/**
 * `corsAllowList({ origins })`: CORS for the listed origins only (`*` allows any). With an empty
 * list no CORS headers are sent, so browsers allow same-origin use only.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

export interface CorsAllowListOptions {
  origins: readonly string[];
  maxAgeS?: number;
}

/** Parses `CORS_ORIGINS` (comma-separated origins). */
export function parseOrigins(text: string): string[] {
  return text.split(",").map((o) => o.trim().replace(/\/+$/, "")).filter((o) => o !== "");
}

/** CORS restricted to an allow-list; see the module comment. */
export function corsAllowList(options: CorsAllowListOptions): MiddlewareHandler {
  if (options.origins.length === 0) return async (_c, next) => await next();
  const any = options.origins.includes("*");
  const allowed = new Set(options.origins);
  return cors({
    origin: (origin) => any ? "*" : allowed.has(origin) ? origin : null,
    allowMethods: ["GET", "POST", "OPTIONS"],
    allowHeaders: ["content-type", "x-api-key"],
    exposeHeaders: ["retry-after"],
    maxAge: options.maxAgeS ?? 600,
  });
}
