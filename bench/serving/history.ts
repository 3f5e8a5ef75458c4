/**
 * History for the serving benchmarks (issue 15): `days` of events ending at `endMs`, written
 * through the consumer's own `flushEvents` with the windows stage (the stage that writes every
 * table the dashboard reads), then rolled up by the same roll-up job maintenance runs, then
 * vacuumed and analysed. Every event is written (raw rows included; nothing is sampled): `perMinute` events
 * each minute, every event type and category in each minute, from shoppers drawn uniformly out of
 * `users` (default 20,000), each with a fixed device, country, region and segment (hashes of the
 * id), so every type × category × device × country × segment combination turns up each minute as
 * often as `perMinute` allows; products are 25 per category. The rows per minute of the aggregate
 * tables grow with `perMinute`; the bench reports them.
 */
import {
  type AnalyticsConfig,
  analyticsStages,
  flushEvents,
  type FlushStage,
  rollUpDirty,
} from "../../consumer/mod.ts";
import { CATEGORIES, COUNTRIES, createRandom, SEGMENTS } from "../../producer/mod.ts";
import { type Event, EVENT_TYPES, type Sql } from "../../shared/mod.ts";

const DEVICES = ["mobile", "desktop", "tablet"] as const;
const MINUTE = 60_000;

export interface HistoryOptions {
  days: number;
  /** Events per minute (default 500). */
  perMinute?: number;
  /** Distinct shoppers (default 20,000). */
  users?: number;
  /** End of the history (exclusive, minute-aligned); default the current minute. */
  endMs?: number;
  /** Events per flush transaction (default 5,000). */
  flushEvents?: number;
  /** Flushes running at once (default 2). */
  concurrency?: number;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface HistoryResult {
  days: number;
  perMinute: number;
  users: number;
  fromMs: number;
  endMs: number;
  events: number;
  loadS: number;
  rollUpS: number;
}

/** Segment of a user: a fixed function of the id, as enrichment would give. */
export const segmentOf = (userId: string) => SEGMENTS[hashOf(userId) % SEGMENTS.length]!;

function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The events of one minute; see the module comment for the layout. */
export function minuteEvents(
  minuteMs: number,
  perMinute: number,
  users: number,
  rnd: () => number,
): Event[] {
  const m = Math.floor(minuteMs / MINUTE);
  const out: Event[] = [];
  for (let i = 0; i < perMinute; i++) {
    const eventType = EVENT_TYPES[i % EVENT_TYPES.length]!;
    const category = CATEGORIES[(Math.floor(i / 9) + m) % CATEGORIES.length]!;
    // A shopper keeps one device, country and region (as real ones mostly do): presence rows per
    // hour and day are then one per shopper, not one per event.
    const u = Math.floor(rnd() * users);
    const user = `u${u}`;
    const h = hashOf(user);
    const deviceType = DEVICES[h % DEVICES.length]!;
    const c = COUNTRIES[(h >>> 4) % COUNTRIES.length]!;
    const region = c.regions[(h >>> 8) % c.regions.length]!;
    const e: Event = {
      eventId: crypto.randomUUID(),
      eventType,
      timestamp: new Date(minuteMs + Math.floor((i * MINUTE) / perMinute)).toISOString(),
      userId: user,
      sessionId: `s-${user}`,
      deviceType,
      location: { country: c.country, region },
    };
    const productId = `p-${category}-${Math.floor(rnd() * 25)}`;
    switch (eventType) {
      case "page_view":
        e.pageUrl = `/${category}`;
        break;
      case "search":
        e.searchQuery = category;
        break;
      case "purchase":
        e.orderId = crypto.randomUUID();
        e.price = 5 + Math.round(rnd() * 19500) / 100;
        e.quantity = 1 + Math.floor(rnd() * 3);
        e.productId = productId;
        e.category = category;
        break;
      case "order_cancelled":
        e.orderId = crypto.randomUUID();
        break;
      case "inventory_update":
        e.productId = productId;
        e.category = category;
        e.stock = Math.floor(rnd() * 500);
        break;
      case "product_review":
        e.productId = productId;
        e.category = category;
        e.rating = 1 + Math.floor(rnd() * 5);
        break;
      default:
        e.productId = productId;
        e.category = category;
        e.price = 5 + Math.round(rnd() * 19500) / 100;
        break;
    }
    out.push(e);
  }
  return out;
}

/** Writes the history; see the module comment. */
export async function loadHistory(
  deps: { sql: Sql; config: AnalyticsConfig },
  options: HistoryOptions,
): Promise<HistoryResult> {
  const perMinute = options.perMinute ?? 500;
  const users = options.users ?? 20_000;
  const endMs = options.endMs ?? Math.ceil(Date.now() / MINUTE) * MINUTE;
  const fromMs = endMs - options.days * 1440 * MINUTE;
  const perFlush = Math.max(perMinute, options.flushEvents ?? 5000);
  const minutesPerFlush = Math.max(1, Math.floor(perFlush / perMinute));
  const stages: FlushStage[] = analyticsStages({ ...deps.config, analyticsStages: ["windows"] });
  const rnd = createRandom(options.seed ?? 15);
  const started = performance.now();
  const total = options.days * 1440;
  let next = fromMs;
  let done = 0;
  const worker = async () => {
    while (next < endMs) {
      const at = next;
      next += minutesPerFlush * MINUTE;
      const events: Event[] = [];
      for (let t = at; t < Math.min(at + minutesPerFlush * MINUTE, endMs); t += MINUTE) {
        events.push(...minuteEvents(t, perMinute, users, rnd));
      }
      await flushEvents({
        events: events.map((event) => ({ event, timeMs: Date.parse(event.timestamp) })),
        rejects: [],
        messages: 1,
        workerId: "history",
      }, { sql: deps.sql, stages, segmentOf });
      done += Math.round(events.length / perMinute);
      options.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 2 }, worker));
  const loadS = (performance.now() - started) / 1000;
  const rolled = performance.now();
  for (;;) {
    const r = await rollUpDirty({ sql: deps.sql }, { maxTransactions: 10 });
    if (r.hours === 0 && !r.busy) break;
  }
  // VACUUM sets the visibility map (index-only scans without heap fetches), ANALYZE the
  // statistics: the state autovacuum keeps a live database in. This schema's tables only: a bare
  // VACUUM would visit every schema of the database.
  const tables = await deps.sql<{ name: string }[]>`
    select relname as name from pg_class
    where relnamespace = current_schema()::regnamespace and relkind = 'r'`;
  for (const t of tables) await deps.sql`vacuum (analyze) ${deps.sql(t.name)}`;
  return {
    days: options.days,
    perMinute,
    users,
    fromMs,
    endMs,
    events: total * perMinute,
    loadS,
    rollUpS: (performance.now() - rolled) / 1000,
  };
}
