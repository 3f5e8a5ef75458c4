/**
 * `rateLimit({ ratePerS, burst })`: a token bucket per client (the API key's name, else the peer
 * address). A request takes one token; an empty bucket answers 429 with `Retry-After`. Buckets live
 * in this process only: with N API instances a client gets up to N times the rate.
 */
import type { Context, MiddlewareHandler } from "hono";
import { ApiProblem } from "../problem.ts";

export interface RateLimitOptions {
  /** Tokens added per second; 0 disables limiting. */
  ratePerS: number;
  /** Bucket size: the largest burst a client may send at once. */
  burst: number;
  /** Which bucket a request draws from. */
  keyOf?: (c: Context) => string;
  /** Buckets kept at most; full (idle) buckets are dropped first. */
  maxKeys?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** The peer address Deno.serve passes as the handler's second argument, when there is one. */
export function peerAddress(c: Context): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "unknown";
}

function defaultKeyOf(c: Context): string {
  const key = c.get("apiKey") as { name: string } | undefined;
  return key ? `key:${key.name}` : `ip:${peerAddress(c)}`;
}

/** Limits request rate per client; see the module comment. */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler {
  const { ratePerS, burst } = options;
  if (ratePerS <= 0) return async (_c, next) => await next();
  if (burst < 1) throw new RangeError(`Burst "${burst}" must be at least 1`);
  const keyOf = options.keyOf ?? defaultKeyOf;
  const maxKeys = options.maxKeys ?? 100_000;
  const now = options.now ?? Date.now;
  const buckets = new Map<string, Bucket>();

  function refill(b: Bucket, t: number) {
    b.tokens = Math.min(burst, b.tokens + ((t - b.atMs) / 1000) * ratePerS);
    b.atMs = t;
  }

  function evict(t: number) {
    for (const [k, b] of buckets) {
      refill(b, t);
      if (b.tokens >= burst) buckets.delete(k);
    }
    if (buckets.size >= maxKeys) buckets.clear();
  }

  return async (c, next) => {
    const t = now();
    const key = keyOf(c);
    let b = buckets.get(key);
    if (!b) {
      if (buckets.size >= maxKeys) evict(t);
      b = { tokens: burst, atMs: t };
      buckets.set(key, b);
    } else {
      refill(b, t);
    }
    if (b.tokens < 1) {
      const retryAfterS = Math.max(1, Math.ceil((1 - b.tokens) / ratePerS));
      throw new ApiProblem(429, `Rate limit of ${ratePerS} requests/s exceeded`, {
        headers: { "retry-after": String(retryAfterS) },
      });
    }
    b.tokens -= 1;
    await next();
  };
}
