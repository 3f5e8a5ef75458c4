/**
 * Enrichment (seed 002, function 1): user segment and product category from the dimension tables
 * `dim_users` and `dim_products`, through a bounded in-memory TTL cache. Before each flush the cache
 * is primed with ONE query for every key of the batch that it lacks or holds expired, never one per
 * event. Missing data is explicit: an unknown user has segment "unknown", an unknown product keeps
 * the category its event carries; both are counted.
 */
import type { Sql } from "../shared/mod.ts";
import type { AcceptedEvent } from "./decode_message.ts";

/** The segment of a user the dimension table does not know. */
export const UNKNOWN_SEGMENT = "unknown";

/** Counters of one enricher; they only grow. */
export interface EnrichStats {
  /** Priming queries run (at most one per flush attempt). */
  queries: number;
  /** Keys found in the cache, fresh. */
  hits: number;
  /** Keys looked up in the database (absent or expired in the cache). */
  misses: number;
  /** Events whose user has no row in `dim_users`. */
  unknownUsers: number;
  /** Events with a product id that has no row in `dim_products`. */
  unknownProducts: number;
  /** Events that lacked a category and got it from `dim_products`. */
  categoriesFilled: number;
  /** Cache entries dropped to stay under the size bound. */
  evictions: number;
}

/** Dimension values for the keys of one batch, stable for the whole flush. */
export interface EnrichmentView {
  segmentOf(userId: string): string;
  categoryOf(productId: string): string | undefined;
  /** Fills a missing category from the product dimension, in place; returns how many it filled. */
  apply(events: readonly AcceptedEvent[]): number;
}

export interface Enricher {
  /** Loads what the cache lacks for these events with one query, and returns the batch's view. */
  prime(events: readonly AcceptedEvent[]): Promise<EnrichmentView>;
  readonly stats: Readonly<EnrichStats>;
  /** Entries held now (users + products). */
  readonly size: number;
}

export interface EnricherOptions {
  sql: Sql;
  /** How long a looked-up value (or its absence) is trusted; 0 disables the cache. */
  ttlMs: number;
  /** Upper bound on cached entries per dimension; the oldest loaded go first. */
  maxEntries: number;
  now?: () => number;
}

interface Entry<T> {
  value: T | null;
  expiresAtMs: number;
}

interface DimRow {
  k: "u" | "p";
  id: string;
  v: string;
}

/** Creates an enricher over the dimension tables. */
export function createEnricher(options: EnricherOptions): Enricher {
  const { sql, ttlMs, maxEntries } = options;
  const now = options.now ?? Date.now;
  const users = new Map<string, Entry<string>>();
  const products = new Map<string, Entry<string>>();
  const stats: EnrichStats = {
    queries: 0,
    hits: 0,
    misses: 0,
    unknownUsers: 0,
    unknownProducts: 0,
    categoriesFilled: 0,
    evictions: 0,
  };

  function remember(
    cache: Map<string, Entry<string>>,
    key: string,
    value: string | null,
    t: number,
  ) {
    if (ttlMs === 0 || maxEntries === 0) return;
    cache.delete(key); // re-insert at the end: Map order is load order, oldest first
    while (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value as string;
      cache.delete(oldest);
      stats.evictions++;
    }
    cache.set(key, { value, expiresAtMs: t + ttlMs });
  }

  async function prime(events: readonly AcceptedEvent[]): Promise<EnrichmentView> {
    const t = now();
    const segment = new Map<string, string | null>();
    const category = new Map<string, string | null>();
    const missingUsers: string[] = [];
    const missingProducts: string[] = [];
    const lookup = (
      cache: Map<string, Entry<string>>,
      view: Map<string, string | null>,
      missing: string[],
      key: string,
    ) => {
      if (view.has(key)) return;
      const hit = cache.get(key);
      if (hit !== undefined && hit.expiresAtMs > t) {
        stats.hits++;
        view.set(key, hit.value);
      } else {
        stats.misses++;
        view.set(key, null);
        missing.push(key);
      }
    };
    for (const { event } of events) {
      lookup(users, segment, missingUsers, event.userId);
      if (event.productId !== undefined) {
        lookup(products, category, missingProducts, event.productId);
      }
    }
    if (missingUsers.length > 0 || missingProducts.length > 0) {
      stats.queries++;
      const rows = await sql<DimRow[]>`
        select 'u' as k, user_id as id, segment as v from dim_users
        where user_id = any(${missingUsers}::text[])
        union all
        select 'p' as k, product_id as id, category as v from dim_products
        where product_id = any(${missingProducts}::text[])`;
      for (const r of rows) (r.k === "u" ? segment : category).set(r.id, r.v);
      for (const id of missingUsers) remember(users, id, segment.get(id) ?? null, t);
      for (const id of missingProducts) remember(products, id, category.get(id) ?? null, t);
    }
    for (const { event } of events) {
      if (segment.get(event.userId) == null) stats.unknownUsers++;
      if (event.productId !== undefined && category.get(event.productId) == null) {
        stats.unknownProducts++;
      }
    }
    return {
      segmentOf: (userId) => segment.get(userId) ?? UNKNOWN_SEGMENT,
      categoryOf: (productId) => category.get(productId) ?? undefined,
      apply(batch) {
        let filled = 0;
        for (const { event } of batch) {
          if (event.category !== undefined || event.productId === undefined) continue;
          const c = category.get(event.productId);
          if (c == null) continue;
          event.category = c;
          filled++;
        }
        stats.categoriesFilled += filled;
        return filled;
      },
    };
  }

  return {
    prime,
    stats,
    get size() {
      return users.size + products.size;
    },
  };
}
