/**
 * Deliberate trouble mixed into the model's stream, each kind at its own rate (a fraction of the
 * events sent), so every defence of the pipeline has something to catch:
 *
 * - `fraud`: scenarios of valid purchases — many orders from one IP within minutes, high-value
 *   orders from brand-new users, a purchase from a country far from the shopper's home, and a burst
 *   of purchases by one shopper (velocity);
 * - `bots`: bursts from scraper accounts at inhuman rates with no dwell time;
 * - `invalid`: JSON objects that break the schema (the consumer keeps them as `invalid` rejects);
 * - `duplicates`: an already sent event re-sent exactly (same eventId, same body);
 * - `late`: valid events minutes to hours old, inside the consumer's `LATE_HORIZON_S` (stored);
 * - `future`: valid events a little ahead, inside `FUTURE_SKEW_S` (stored);
 * - `tooNew` / `tooOld`: valid events beyond `FUTURE_SKEW_S` / before `LATE_HORIZON_S` (kept as
 *   `too_new` / `too_old` rejects), with a wide margin so the consumer's clock cannot move them in.
 */
import type { DeviceType, Event } from "../shared/mod.ts";
import { metaOf, type SentKind, type SentMeta } from "./ledger.ts";
import { COUNTRIES, farCountry, ipIn, type User } from "./population.ts";
import { intBetween, pick, type Random } from "./random.ts";
import type { Generator } from "./shopper_sessions.ts";

export type InjectionKind =
  | "fraud"
  | "bots"
  | "invalid"
  | "duplicates"
  | "late"
  | "future"
  | "tooNew"
  | "tooOld";
export const INJECTION_KINDS: readonly InjectionKind[] = [
  "fraud",
  "bots",
  "invalid",
  "duplicates",
  "late",
  "future",
  "tooNew",
  "tooOld",
];

/** Fractions of sent events, each in [0, 1); their sum must stay below 1. */
export type InjectionRates = Partial<Record<InjectionKind, number>>;

/** One event to send, with its ledger metadata and what (if anything) was injected. */
export interface SourceItem {
  event: unknown;
  meta: SentMeta;
  injection: InjectionKind | undefined;
}

export interface EventSourceOptions {
  rates?: InjectionRates;
  /** The consumer's `LATE_HORIZON_S`, so late events stay inside it and too-old ones outside. */
  lateHorizonS?: number;
  /** The consumer's `FUTURE_SKEW_S`. */
  futureSkewS?: number;
}

export interface EventSource {
  next(timeMs: number): SourceItem;
  /** Events emitted so far by injection kind, and `model` for the plain behaviour model. */
  readonly counts: Readonly<Record<InjectionKind | "model", number>>;
}

const BOT_AGENTS = [
  "python-requests/2.31.0",
  "Mozilla/5.0 (compatible; PriceScraper/1.4; +http://scraper.invalid)",
  "curl/8.5.0",
];
const MEAN_BOT_BURST = 40;
const MEAN_FRAUD_SCENARIO = 6;
const RING = 4096;

type Thunk = (timeMs: number) => { event: Event; injection: InjectionKind };

/** Wraps the behaviour model with injections at the given rates. */
export function createEventSource(gen: Generator, options: EventSourceOptions = {}): EventSource {
  const rates = options.rates ?? {};
  let sum = 0;
  for (const kind of INJECTION_KINDS) {
    const r = rates[kind] ?? 0;
    if (!(r >= 0 && r < 1)) {
      throw new RangeError(`Injection rate "${kind}" must be in [0, 1), got "${r}"`);
    }
    sum += r;
  }
  if (sum >= 1) throw new RangeError(`Injection rates add up to ${sum}; they must stay below 1`);
  const horizonMs = (options.lateHorizonS ?? 86_400) * 1000;
  const skewMs = (options.futureSkewS ?? 300) * 1000;
  // Stored late events keep a margin from the horizon: the consumer may read them much later.
  const lateMaxMs = Math.min(6 * 3_600_000, horizonMs - Math.min(3_600_000, horizonMs / 2));
  const lateMinMs = Math.min(60_000, lateMaxMs / 2);
  const random: Random = gen.random;
  const counts = Object.fromEntries(
    [...INJECTION_KINDS, "model"].map((k) => [k, 0]),
  ) as Record<InjectionKind | "model", number>;

  // The draw per event, as cumulative thresholds. Bursts start with probability rate / mean length,
  // so their share of events is about their rate.
  const thresholds: [InjectionKind, number][] = [];
  let acc = 0;
  for (const kind of INJECTION_KINDS) {
    const r = rates[kind] ?? 0;
    if (r <= 0) continue;
    const mean = kind === "bots" ? MEAN_BOT_BURST : kind === "fraud" ? MEAN_FRAUD_SCENARIO : 1;
    acc += r / mean;
    thresholds.push([kind, acc]);
  }

  const ring: Event[] = [];
  let ringAt = 0;
  const queue: Thunk[] = [];
  let bots = 0;
  const newUsers = gen.users.filter((u) => u.segment === "new");
  const priciest = [...gen.products].sort((a, b) => b.price - a.price).slice(0, 10);

  function remember(e: Event) {
    if (ring.length < RING) ring.push(e);
    else ring[ringAt++ % RING] = e;
  }

  function item(event: unknown, kind: SentKind, injection: InjectionKind | undefined): SourceItem {
    counts[injection ?? "model"]++;
    const e = event as Event;
    if (kind === "unique") remember(e);
    return {
      event,
      meta: metaOf(kind, kind === "invalid" ? null : e),
      injection,
    };
  }

  /** A plain valid page view or search by a random shopper, for events outside the model. */
  function template(timeMs: number): Event {
    const u = pick(random, gen.users);
    const e: Event = {
      eventId: gen.eventId(timeMs),
      userId: u.userId,
      sessionId: `s-${gen.eventId().slice(0, 18)}`,
      eventType: "page_view",
      timestamp: new Date(timeMs).toISOString(),
      deviceType: u.device,
      location: { country: u.country, region: u.region },
      ipAddress: u.ipAddress,
      pageUrl: "/",
    };
    return e;
  }

  function invalid(timeMs: number): unknown {
    const e = template(timeMs) as unknown as Record<string, unknown>;
    const p = pick(random, gen.products);
    switch (intBetween(random, 0, 9)) {
      case 0:
        return { ...e, eventId: "not-a-uuid" };
      case 1: {
        const { timestamp: _, ...rest } = e;
        return rest;
      }
      case 2:
        return { ...e, eventType: "page_vue" };
      case 3:
        return { ...e, location: { country: "USA", region: "CA" } };
      case 4:
        return purchaseLike(e, p, { price: -5 });
      case 5: {
        // A purchase that cannot be counted: every contract requires its price.
        const { price: _, ...rest } = purchaseLike(e, p, {});
        return rest;
      }
      case 6:
        return { ...e, eventType: "product_review", productId: p.productId, rating: 7 };
      case 7:
        return { ...e, timestamp: "yesterday at noon" };
      case 8:
        return { ...e, deviceType: "smart-fridge" };
      default:
        return purchaseLike(e, p, { quantity: 0 });
    }
  }

  function purchaseLike(
    e: Record<string, unknown>,
    p: { productId: string; category: string; price: number },
    overrides: Record<string, unknown>,
  ): Record<string, unknown> {
    return {
      ...e,
      eventType: "purchase",
      productId: p.productId,
      category: p.category,
      price: p.price,
      quantity: 1,
      orderId: `o-invalid-${gen.eventId().slice(0, 8)}`,
      ...overrides,
    };
  }

  function startBotBurst() {
    const n = ++bots;
    const home = pick(random, COUNTRIES);
    const bot = {
      userId: `bot-${n}`,
      sessionId: `s-bot-${gen.eventId().slice(0, 13)}`,
      ip: `203.0.113.${intBetween(random, 1, 254)}`,
      agent: pick(random, BOT_AGENTS),
      country: home.country,
      region: home.regions[0],
    };
    const length = intBetween(random, MEAN_BOT_BURST / 2, (MEAN_BOT_BURST * 3) / 2);
    for (let i = 0; i < length; i++) {
      queue.push((timeMs) => {
        const p = pick(random, gen.products);
        const crawl = random() < 0.7;
        const event: Event = {
          eventId: gen.eventId(timeMs),
          userId: bot.userId,
          sessionId: bot.sessionId,
          eventType: crawl ? "product_click" : "page_view",
          timestamp: new Date(timeMs).toISOString(),
          deviceType: "desktop" as DeviceType,
          location: { country: bot.country, region: bot.region },
          ipAddress: bot.ip,
          userAgent: bot.agent,
          pageUrl: crawl ? `/p/${p.productId}` : `/c/${p.category}?page=${i + 1}`,
          ...(crawl ? { productId: p.productId, category: p.category, price: p.price } : {}),
        };
        return { event, injection: "bots" };
      });
    }
  }

  function fraudPurchase(
    user: User,
    quantity: number,
    product = pick(random, gen.products),
    where?: Pick<Event, "location" | "ipAddress">,
  ): Thunk {
    return (timeMs) => ({
      event: gen.purchase(user, product, quantity, timeMs, where),
      injection: "fraud",
    });
  }

  function startFraudScenario() {
    switch (intBetween(random, 0, 3)) {
      case 0: { // many orders from one IP within minutes, by a handful of accounts
        const country = pick(random, COUNTRIES);
        const where = {
          ipAddress: ipIn(random, country),
          location: { country: country.country, region: country.regions[0] },
        };
        const accounts = Array.from(
          { length: intBetween(random, 2, 5) },
          () => pick(random, gen.users),
        );
        const n = intBetween(random, 6, 10);
        for (let i = 0; i < n; i++) {
          queue.push(fraudPurchase(pick(random, accounts), 1, undefined, where));
        }
        break;
      }
      case 1: { // high-value orders from a brand-new account
        const user = newUsers.length > 0 ? pick(random, newUsers) : pick(random, gen.users);
        const n = intBetween(random, 1, 3);
        for (let i = 0; i < n; i++) {
          queue.push(fraudPurchase(user, intBetween(random, 3, 8), pick(random, priciest)));
        }
        break;
      }
      case 2: { // a purchase from far away from home, on an IP of that country
        const user = pick(random, gen.users);
        const far = farCountry(user.country);
        const where = {
          ipAddress: ipIn(random, far),
          location: { country: far.country, region: far.regions[0] },
        };
        const n = intBetween(random, 1, 3);
        for (let i = 0; i < n; i++) queue.push(fraudPurchase(user, 1, undefined, where));
        break;
      }
      default: { // purchase velocity: one shopper, many orders in a minute
        const user = pick(random, gen.users);
        const n = intBetween(random, 5, 10);
        for (let i = 0; i < n; i++) queue.push(fraudPurchase(user, 1));
      }
    }
  }

  function shifted(timeMs: number, deltaMs: number): Event {
    const e = template(timeMs + deltaMs);
    if (random() < 0.5) {
      e.eventType = "search";
      e.searchQuery = pick(random, ["phone case", "shoes", "gift 🎁", "lamp"]);
    }
    return e;
  }

  function next(timeMs: number): SourceItem {
    const queued = queue.shift();
    if (queued) {
      const { event, injection } = queued(timeMs);
      return item(event, "unique", injection);
    }
    const r = random();
    let kind: InjectionKind | undefined;
    for (const [k, t] of thresholds) {
      if (r < t) {
        kind = k;
        break;
      }
    }
    switch (kind) {
      case undefined:
        return item(gen.next(timeMs), "unique", undefined);
      case "invalid":
        return item(invalid(timeMs), "invalid", "invalid");
      case "duplicates": {
        if (ring.length === 0) return item(gen.next(timeMs), "unique", undefined);
        const original = ring[Math.floor(random() * ring.length)]!;
        counts.duplicates++;
        return { event: original, meta: metaOf("duplicate", original), injection: "duplicates" };
      }
      case "late": {
        const e = gen.next(timeMs);
        e.timestamp = new Date(timeMs - intBetween(random, lateMinMs, lateMaxMs)).toISOString();
        return item(e, "unique", "late");
      }
      case "future": {
        const e = gen.next(timeMs);
        e.timestamp = new Date(timeMs + intBetween(random, 0, skewMs / 2)).toISOString();
        return item(e, "unique", "future");
      }
      case "tooNew": {
        const ahead = skewMs + intBetween(random, 600_000, 7_200_000);
        return item(shifted(timeMs, ahead), "too_new", "tooNew");
      }
      case "tooOld": {
        const behind = horizonMs + intBetween(random, 3_600_000, 86_400_000);
        return item(shifted(timeMs, -behind), "too_old", "tooOld");
      }
      case "bots":
        startBotBurst();
        return next(timeMs);
      case "fraud":
        startFraudScenario();
        return next(timeMs);
    }
  }

  return { next, counts };
}
