/**
 * Token buckets: a request takes one token; an empty bucket answers 429 with `Retry-After`.
 * Buckets live in this process only: with N API instances a client gets up to N times the rate.
 *
 * Two middlewares share the mechanism, on either side of the key check:
 *
 * - `peerRateLimit()` runs BEFORE authentication, with a bucket per peer address. Only requests
 *   that end up unauthenticated draw from it (no key, a wrong key, a key without the scope, or an
 *   open API without keys), so guessing keys is throttled like any keyless caller; once a peer's
 *   bucket is empty it gets 429 before its key is even looked up.
 * - `rateLimit()` runs AFTER authentication, with a bucket per API key (per publishable key and
 *   peer address: a shop's visitors share its key, and one of them must not throttle the others).
 */
import type { Context, MiddlewareHandler } from "hono";
import { ApiProblem } from "../problem.ts";

export interface RateLimitOptions {
  /** Tokens added per second; 0 disables limiting. */
  ratePerS: number;
  /** Bucket size: the largest burst a client may send at once. */
  burst: number;
  /**
   * Which bucket a request draws from; null = not limited here. Default: the API key's name
   * (`rateLimit`) or the peer address (`peerRateLimit`).
   */
  keyOf?: (c: Context) => string | null;
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

function createBuckets(options: RateLimitOptions) {
  const { ratePerS, burst } = options;
  if (burst < 1) throw new RangeError(`Burst "${burst}" must be at least 1`);
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

  function get(key: string): Bucket {
    const t = now();
    let b = buckets.get(key);
    if (!b) {
      if (buckets.size >= maxKeys) evict(t);
      b = { tokens: burst, atMs: t };
      buckets.set(key, b);
    } else {
      refill(b, t);
    }
    return b;
  }

  return {
    /** Throws the 429 problem when the bucket of `key` is empty. */
    check(key: string) {
      const b = get(key);
      if (b.tokens < 1) {
        const retryAfterS = Math.max(1, Math.ceil((1 - b.tokens) / ratePerS));
        throw new ApiProblem(429, `Rate limit of ${ratePerS} requests/s exceeded`, {
          headers: { "retry-after": String(retryAfterS) },
        });
      }
    },
    take(key: string) {
      get(key).tokens -= 1;
    },
  };
}

/** Limits request rate per API key, after authentication; see the module comment. */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler {
  if (options.ratePerS <= 0) return async (_c, next) => await next();
  const buckets = createBuckets(options);
  const keyOf = options.keyOf ?? ((c: Context) => {
    const key = c.get("apiKey") as { name: string; origins?: unknown } | undefined;
    if (!key) return null;
    // Every visitor of a shop shares its publishable key: a bucket per key and visitor address.
    return key.origins ? `key:${key.name}@${peerAddress(c)}` : `key:${key.name}`;
  });
  return async (c, next) => {
    const key = keyOf(c);
    if (key !== null) {
      buckets.check(key);
      buckets.take(key);
    }
    await next();
  };
}

/**
 * Limits unauthenticated requests per peer address, before authentication; see the module
 * comment. A request counts once it is known not to carry a valid key with the needed scope.
 */
export function peerRateLimit(options: RateLimitOptions): MiddlewareHandler {
  if (options.ratePerS <= 0) return async (_c, next) => await next();
  const buckets = createBuckets(options);
  const keyOf = options.keyOf ?? ((c: Context) => `ip:${peerAddress(c)}`);
  return async (c, next) => {
    const key = keyOf(c);
    if (key === null) return await next();
    buckets.check(key);
    try {
      await next();
    } finally {
      if (c.get("apiKey") === undefined) buckets.take(key);
    }
  };
}
