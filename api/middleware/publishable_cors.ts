/**
 * `publishableCors({ store, fallback })`: CORS for `POST /v1/events?key=<publishable key>`, answered
 * with exactly the origins of that key. A preflight carries no headers but does carry the URL, so
 * the key in the query string is what lets the preflight name the key's own origins (and refuse
 * every other origin with 403). Requests without a publishable key go to `fallback` (the
 * `CORS_ORIGINS` allow-list).
 *
 * `Access-Control-Allow-Credentials: true` is there for `navigator.sendBeacon`, which always sends
 * in credentials mode "include": without it a browser drops a cross-origin beacon after its
 * preflight, while `sendBeacon()` has already returned true. The API uses no cookies or other
 * ambient credentials (the key in the URL is the credential), so allowing them grants nothing.
 */
import type { MiddlewareHandler } from "hono";
import type { ApiKeyRecord, KeyStore } from "../api_keys.ts";
import { ApiProblem } from "../problem.ts";

export interface PublishableCorsOptions {
  store: KeyStore;
  /** CORS for everything else. */
  fallback: MiddlewareHandler;
  /** The ingestion path. */
  path?: string;
  queryParam?: string;
  maxAgeS?: number;
}

/** CORS per publishable key; see the module comment. */
export function publishableCors(options: PublishableCorsOptions): MiddlewareHandler {
  const path = options.path ?? "/v1/events";
  const queryParam = options.queryParam ?? "key";
  const maxAge = String(options.maxAgeS ?? 600);
  return async (c, next) => {
    const key = c.req.path === path ? c.req.query(queryParam) : undefined;
    if (key === undefined || c.req.header("x-api-key") !== undefined) {
      return await options.fallback(c, next);
    }
    let record: ApiKeyRecord | null;
    try {
      record = await options.store.lookup(key);
    } catch {
      record = null; // the key check that follows answers 503
    }
    if (!record?.origins) return await options.fallback(c, next);
    const origin = c.req.header("origin");
    const allowed = origin !== undefined && record.origins.includes(origin);
    c.header("vary", "Origin", { append: true });
    if (c.req.method === "OPTIONS") {
      const method = c.req.header("access-control-request-method");
      if (!allowed || (method !== undefined && method !== "POST")) {
        throw new ApiProblem(
          403,
          `The publishable key "${record.name}" allows POST from its own origins only`,
        );
      }
      return c.body(null, 204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": "content-type",
        "access-control-allow-credentials": "true",
        "access-control-max-age": maxAge,
      });
    }
    if (allowed) {
      c.header("access-control-allow-origin", origin);
      c.header("access-control-allow-credentials", "true");
      c.header("access-control-expose-headers", "retry-after");
    }
    await next();
  };
}
