/**
 * A single-flight micro-cache for the analytics reads (issue 15). One entry per canonical query
 * (path + parameters, with `from`/`to` already rounded to the bucket): concurrent requests for the
 * same query share one computation, and its answer serves every caller for `ttlMs` (default 1 s),
 * so 1,000 dashboards asking the same thing cost one query a second. Responses carry an `ETag`
 * (answered with 304 on `If-None-Match`) and `Cache-Control: max-age=1`, so browsers and an edge
 * cache may keep them as long; `Vary: x-api-key` keeps a shared cache from serving one key's
 * answer to another. A request with `Cache-Control: no-cache` bypasses the cache (the benchmark's
 * "cold" figures) and refreshes the entry. A hit only looks up its answer: the body is serialised,
 * encoded, hashed (ETag) and given its headers once per answer, and its gzip variant (for clients
 * that accept gzip, as browsers do) compressed once on first demand.
 */
import { gzipSync } from "node:zlib";
import type { Context } from "hono";
import { Counter, type Registry } from "../shared/mod.ts";

export interface CachedAnswer {
  body: string;
  /** `body` in UTF-8, encoded once: a hit sends these bytes as they are. */
  bytes: Uint8Array<ArrayBuffer>;
  etag: string;
  /** The 200 response's headers, built once per answer (`etag` included). */
  headers: Readonly<Record<string, string>>;
  /** The gzip variant, compressed on the first request that accepts it, then kept. */
  gzip?: {
    bytes: Uint8Array<ArrayBuffer>;
    etag: string;
    headers: Readonly<Record<string, string>>;
  };
}

export interface ResponseCacheStats {
  hits: number;
  misses: number;
  /** Requests that joined a computation already running (counted as hits too). */
  coalesced: number;
  bypasses: number;
}

export interface ResponseCache {
  /** The answer for `key`: cached if younger than the TTL or still computing, else computed. */
  get(key: string, compute: () => Promise<unknown>, options?: { bypass?: boolean }): Promise<
    CachedAnswer
  >;
  stats(): ResponseCacheStats;
  readonly size: number;
}

export interface ResponseCacheOptions {
  /** How long an answer is served after it was computed (default 1000 ms). */
  ttlMs?: number;
  /** Entries kept; the oldest go first (default 2,000). */
  maxEntries?: number;
  /** Registers `scalestream_api_cache_requests_total{result}` here when given. */
  registry?: Registry;
  now?: () => number;
}

interface Entry {
  at: number;
  done: boolean;
  answer: Promise<CachedAnswer>;
}

/** Creates the cache; see the module comment. */
export function createResponseCache(options: ResponseCacheOptions = {}): ResponseCache {
  const ttlMs = options.ttlMs ?? 1000;
  const maxEntries = options.maxEntries ?? 2000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const stats: ResponseCacheStats = { hits: 0, misses: 0, coalesced: 0, bypasses: 0 };
  const counter = options.registry
    ? new Counter({
      name: "scalestream_api_cache_requests_total",
      help: "Analytics reads by cache result: hit (fresh or joined a running computation), " +
        "miss (computed), bypass (Cache-Control: no-cache)",
      labelNames: ["result"],
      registers: [options.registry],
    })
    : undefined;
  const count = (result: "hit" | "miss" | "bypass") => counter?.inc({ result });

  function start(key: string, compute: () => Promise<unknown>): Entry {
    const entry: Entry = {
      at: now(),
      done: false,
      answer: compute().then((value) => answerOf(JSON.stringify(value))),
    };
    entry.answer.then(
      () => {
        entry.done = true;
        entry.at = now(); // fresh from when the answer exists, not from when it was asked for
      },
      () => {
        if (entries.get(key) === entry) entries.delete(key); // errors are never cached
      },
    );
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    return entry;
  }

  return {
    get(key, compute, opts = {}) {
      if (opts.bypass) {
        stats.bypasses++;
        count("bypass");
        return start(key, compute).answer;
      }
      const e = entries.get(key);
      if (e !== undefined && (!e.done || now() - e.at < ttlMs)) {
        stats.hits++;
        if (!e.done) stats.coalesced++;
        count("hit");
        return e.answer;
      }
      stats.misses++;
      count("miss");
      return start(key, compute).answer;
    },
    stats: () => ({ ...stats }),
    get size() {
      return entries.size;
    },
  };
}

const encoder = new TextEncoder();
const HEADERS = {
  "content-type": "application/json",
  "cache-control": "public, max-age=1",
  "vary": "x-api-key, accept-encoding",
} as const;
/** Below this a body is sent as it is (gzip would save little and cost a compression). */
const GZIP_MIN_BYTES = 1024;

/** Everything a hit needs, computed once when the answer is: bytes, ETag and headers. */
function answerOf(body: string): CachedAnswer {
  const etag = `"${hash(body)}"`;
  return { body, bytes: encoder.encode(body), etag, headers: { ...HEADERS, etag } };
}

/** Whether `accept-encoding` allows gzip (listed, and not with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  const h = header.toLowerCase();
  if (!h.includes("gzip") && !h.includes("*")) return false;
  return h.split(",").some((part) => {
    const [name, ...params] = part.split(";").map((x) => x.trim());
    if (name !== "gzip" && name !== "*") return false;
    const q = params.find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** The answer's gzip variant, made once (Deno.serve would otherwise compress on every request). */
function gzipOf(answer: CachedAnswer): NonNullable<CachedAnswer["gzip"]> {
  if (answer.gzip) return answer.gzip;
  const bytes = Uint8Array.from(gzipSync(answer.bytes));
  const etag = `${answer.etag.slice(0, -1)}-gz"`;
  return answer.gzip = {
    bytes,
    etag,
    headers: { ...answer.headers, etag, "content-encoding": "gzip" },
  };
}

/** 53-bit string hash (cyrb53): ETags only need to change when the body does. */
function hash(s: string): string {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** The cache key of a query: its path and parameters in a fixed order, undefined ones left out. */
export function cacheKey(path: string, query: Readonly<Record<string, unknown>>): string {
  const parts = Object.keys(query).filter((k) => query[k] !== undefined).sort()
    .map((k) => `${k}=${String(query[k])}`);
  return `${path}?${parts.join("&")}`;
}

/**
 * Answers a read through `cache` (or directly without one): JSON with ETag and Cache-Control, or
 * 304 when the client already holds this answer.
 */
export async function respond(
  c: Context,
  cache: ResponseCache | undefined,
  path: string,
  query: Readonly<Record<string, unknown>>,
  compute: () => Promise<unknown>,
): Promise<Response> {
  const cc = c.req.header("cache-control");
  const bypass = cc !== undefined && /no-cache|no-store/i.test(cc);
  if (!cache) {
    return new Response(JSON.stringify(await compute()), { status: 200, headers: HEADERS });
  }
  const answer = await cache.get(cacheKey(path, query), compute, { bypass });
  // A hit costs no serialisation, hashing or compression: all were done once per answer.
  const sent = answer.bytes.length >= GZIP_MIN_BYTES && acceptsGzip(c.req.header("accept-encoding"))
    ? gzipOf(answer)
    : answer;
  const inm = c.req.header("if-none-match");
  if (inm !== undefined && inm.split(",").some((t) => t.trim() === sent.etag)) {
    return new Response(null, { status: 304, headers: sent.headers });
  }
  return new Response(sent.bytes, { status: 200, headers: sent.headers });
}
