/**
 * The behaviour model: shoppers in sessions that follow the funnel. A session opens with a landing
 * `page_view`, then browses (page views, searches, product clicks), adds and removes cart lines and
 * may check out (one `purchase` per cart line, each with its own order id, because an event carries
 * one product). Later a shopper may cancel one of their earlier orders or review a product they
 * bought. Thirty minutes without an event end a session; the shopper's next event opens a new one.
 * An inventory stream runs beside the shoppers: purchases consume stock, restocks refill it.
 *
 * `next(timeMs)` is driven by the caller's clock (the rate controller): the session due soonest
 * takes the step, or a new shopper arrives when no session is due. Same seed and same times, same
 * events.
 */
import { type Event, EVENT_TYPES, type EventType } from "../shared/mod.ts";
import {
  type Catalog,
  type Category,
  CATEGORY_PROFILES,
  createCatalog,
  type Product,
} from "./catalog.ts";
import { createPopulation, SEGMENT_PROFILES, type User } from "./population.ts";
import {
  createRandom,
  intBetween,
  logNormal,
  pick,
  type Random,
  seededUuid,
  seededUuidV7,
} from "./random.ts";

/** Inactivity after which a shopper's next event starts a new session (seed 002). */
export const SESSION_TIMEOUT_MS = 30 * 60_000;

export interface GeneratorOptions {
  seed?: number;
  users?: number;
  products?: number;
  /**
   * Relative weights by event type. They steer each session step among the steps the funnel
   * allows at that point; a type with weight 0 (or left out) is never generated.
   */
  mix?: Partial<Record<EventType, number>>;
  /** Median think time between two events of a session, in simulated milliseconds. */
  medianDwellMs?: number;
  /** Sessions open at once (default a quarter of the users, at most 500). */
  concurrentSessions?: number;
  /** Simulates an A/B test with a known effect on conversion (see {@linkcode SimulatedExperiment}). */
  experiment?: SimulatedExperiment;
}

/**
 * An A/B test on checkout. Every shopper is assigned, by a hash of the experiment's name and
 * the user id, to "control" or "treatment", and all their events carry `properties.experiment`
 * and `properties.variant`. The effect is known exactly: a fixed share of one arm's shoppers is
 * never offered checkout (chosen by a second hash, independent of behaviour), so the treatment's
 * conversion rate is `(1 + lift)` times the control's in expectation, whatever the base rate.
 */
export interface SimulatedExperiment {
  name: string;
  /** Relative lift of treatment over control in users who purchase: 0.2 = +20 %; > -1. */
  lift: number;
  /** Share of shoppers in treatment (default 0.5). */
  treatmentShare?: number;
}

/**
 * A uniform number in [0, 1) from a string, for stable per-user assignment: FNV-1a, then
 * MurmurHash3's finalizer, without which ids that differ in their last digit (`u-1`, `u-2`, …)
 * split several standard deviations away from the intended share.
 */
function hashUnit(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Parses `NAME:LIFT[:SHARE]`, e.g. `checkout-button:0.2` or `checkout-button:0.2:0.3`. */
export function parseExperiment(text: string): SimulatedExperiment {
  const m = /^([\w.-]{1,64}):(-?\d+(?:\.\d+)?)(?::(\d*\.?\d+))?$/.exec(text.trim());
  if (!m) throw new RangeError(`Invalid experiment "${text}": use NAME:LIFT[:TREATMENT_SHARE]`);
  const lift = Number(m[2]);
  const treatmentShare = m[3] === undefined ? 0.5 : Number(m[3]);
  if (!(lift > -1)) throw new RangeError(`Experiment lift must be above -1, got "${m[2]}"`);
  if (!(treatmentShare > 0 && treatmentShare < 1)) {
    throw new RangeError(`Treatment share must be in (0, 1), got "${m[3]}"`);
  }
  return { name: m[1]!, lift, treatmentShare };
}

/** Default mix: mostly browsing, a few purchases, as in seed 002's volumes. */
export const DEFAULT_MIX: Readonly<Record<EventType, number>> = {
  page_view: 50,
  product_click: 15,
  search: 10,
  add_to_cart: 8,
  remove_from_cart: 3,
  purchase: 4,
  order_cancelled: 1,
  product_review: 2,
  inventory_update: 7,
};

/** The simulator's own identity for inventory events, which the schema asks a user and session of. */
export const INVENTORY_USER = "svc-inventory";

/** An order a shopper placed, kept so a later cancellation refers to a real, earlier order. */
export interface PlacedOrder {
  orderId: string;
  product: Product;
  quantity: number;
  timeMs: number;
}

export interface Generator {
  /** The next event of the model, stamped with `timeMs`; always valid against the schema. */
  next(timeMs: number): Event;
  readonly products: readonly Product[];
  readonly users: readonly User[];
  readonly catalog: Catalog;
  /** The generator's random source, shared with injections so one seed drives a whole run. */
  readonly random: Random;
  /** A purchase outside the funnel (fraud patterns): consumes stock, allocates a unique order id. */
  purchase(
    user: User,
    product: Product,
    quantity: number,
    timeMs: number,
    where?: Pick<Event, "location" | "ipAddress">,
  ): Event;
  /** A fresh, seeded event id: a UUIDv7 of `timeMs` when given (events), else version 4. */
  eventId(timeMs?: number): string;
}

interface Session {
  user: User;
  history: UserHistory;
  sessionId: string;
  lastMs: number;
  dueMs: number;
  steps: number;
  category: Category | undefined;
  viewing: Product | undefined;
  cart: Map<string, { product: Product; quantity: number }>;
  checkout: { product: Product; quantity: number }[];
  /** Whether this session already cancelled an order or wrote a review. */
  afterSales: boolean;
  heapIndex: number;
}

interface UserHistory {
  orders: PlacedOrder[];
  bought: Product[];
}

const REFERRERS = [
  "https://www.google.com/",
  "https://www.bing.com/",
  "https://www.instagram.com/",
  "https://mail.example.com/newsletter",
  "",
];
const QUERY_EXTRAS = ["", "", "", "", "cheap", "best", "sale", "gift 🎁", "für kinder", "café ☕"];
const REVIEW_TITLES = [
  "Great value",
  "Does the job",
  "Love it 😍",
  "Not as described",
  "Fast delivery 🚀",
  "Très bien",
  "Would buy again 👍",
];

/** Parses `page_view=50,search=10,…` into weights; unknown types and bad numbers are errors. */
export function parseMix(text: string): Partial<Record<EventType, number>> {
  const mix: Partial<Record<EventType, number>> = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw new RangeError(`Invalid mix entry "${part}": use eventType=weight`);
    const type = m[1] as EventType;
    if (!EVENT_TYPES.includes(type)) {
      throw new RangeError(`Unknown event type "${m[1]}" in mix; known: ${EVENT_TYPES.join(", ")}`);
    }
    mix[type] = Number(m[2]);
  }
  if (!Object.values(mix).some((w) => w > 0)) {
    throw new RangeError("Event mix selects no event type");
  }
  return mix;
}

/** Creates a seeded behaviour model. */
export function createGenerator(options: GeneratorOptions = {}): Generator {
  const seed = options.seed ?? 1;
  const random = createRandom(seed);
  const catalog = createCatalog(random, options.products ?? 500);
  const users = createPopulation(random, options.users ?? 10_000);
  const mix: Record<EventType, number> = options.mix
    ? { ...zeroed(), ...options.mix }
    : { ...DEFAULT_MIX };
  const total = EVENT_TYPES.reduce((s, t) => s + mix[t], 0);
  if (!(total > 0)) throw new RangeError("Event mix selects no event type");
  if (total > mix.inventory_update && mix.page_view + mix.search + mix.product_click <= 0) {
    throw new RangeError(
      "Event mix needs page_view, search or product_click: every other step follows one of them",
    );
  }
  const userShare = total - mix.inventory_update;
  const inventoryShare = mix.inventory_update / total;
  const medianDwellMs = options.medianDwellMs ?? 12_000;
  const concurrency = options.concurrentSessions ??
    Math.max(1, Math.min(500, Math.ceil(users.length / 4)));
  const orderPrefix = `o-${(seed >>> 0).toString(36)}-`;
  const experiment = options.experiment;
  /** The shopper's arm of the simulated experiment, and whether they may check out at all. */
  const arms = new Map<string, { variant: string; checkout: boolean }>();
  function armOf(userId: string) {
    let arm = arms.get(userId);
    if (arm === undefined && experiment) {
      const treatment =
        hashUnit(`${experiment.name}:${userId}`) < (experiment.treatmentShare ?? 0.5);
      // The arm with the lower rate offers checkout to a share of its shoppers only.
      const lift = experiment.lift;
      const share = lift >= 0 ? (treatment ? 1 : 1 / (1 + lift)) : (treatment ? 1 + lift : 1);
      arm = {
        variant: treatment ? "treatment" : "control",
        checkout: hashUnit(`${experiment.name}:checkout:${userId}`) < share,
      };
      arms.set(userId, arm);
    }
    return arm;
  }
  let orders = 0;

  const histories = new Map<string, UserHistory>();
  const active = new Set<string>();
  const heap: Session[] = [];
  const restocks: { product: Product; dueMs: number }[] = [];
  const restockPending = new Set<string>();

  function zeroed(): Record<EventType, number> {
    return Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
  }

  const eventId = (timeMs?: number) =>
    timeMs === undefined ? seededUuid(random) : seededUuidV7(random, timeMs);
  const newSessionId = () => `s-${eventId().slice(0, 18)}`;

  // At high rates many events share a millisecond; formatting it once is a measurable saving.
  let isoMs = NaN;
  let iso = "";
  function isoOf(timeMs: number): string {
    if (timeMs !== isoMs) {
      isoMs = timeMs;
      iso = new Date(timeMs).toISOString();
    }
    return iso;
  }

  function base(s: Session, eventType: EventType, timeMs: number): Event {
    return {
      eventId: eventId(timeMs),
      userId: s.user.userId,
      sessionId: s.sessionId,
      eventType,
      timestamp: isoOf(timeMs),
      deviceType: s.user.device,
      location: { country: s.user.country, region: s.user.region },
      ipAddress: s.user.ipAddress,
      userAgent: s.user.userAgent,
    };
  }

  function allocateOrder(user: User, product: Product, quantity: number, timeMs: number) {
    const order: PlacedOrder = { orderId: orderPrefix + ++orders, product, quantity, timeMs };
    const h = historyOf(user);
    h.orders.push(order);
    if (h.orders.length > 8) h.orders.shift();
    h.bought.push(product);
    if (h.bought.length > 8) h.bought.shift();
    product.stock -= quantity;
    if (product.stock <= product.reorderPoint && !restockPending.has(product.productId)) {
      restockPending.add(product.productId);
      // Supplier lead time: seconds to minutes of simulated time.
      restocks.push({ product, dueMs: timeMs + intBetween(random, 5_000, 120_000) });
    }
    return order;
  }

  function historyOf(user: User): UserHistory {
    let h = histories.get(user.userId);
    if (!h) {
      h = { orders: [], bought: [] };
      histories.set(user.userId, h);
    }
    return h;
  }

  // ---- the session heap, ordered by due time -------------------------------------------------
  const less = (a: number, b: number) => heap[a]!.dueMs < heap[b]!.dueMs;
  function swap(a: number, b: number) {
    const x = heap[a]!;
    heap[a] = heap[b]!;
    heap[b] = x;
    heap[a]!.heapIndex = a;
    heap[b]!.heapIndex = b;
  }
  function push(s: Session) {
    s.heapIndex = heap.length;
    heap.push(s);
    let i = s.heapIndex;
    while (i > 0 && less(i, (i - 1) >> 1)) {
      swap(i, (i - 1) >> 1);
      i = (i - 1) >> 1;
    }
  }
  function pop(): Session {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      last.heapIndex = 0;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(l, m)) m = l;
        if (r < heap.length && less(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  }

  function startSession(user: User, timeMs: number): Session {
    active.add(user.userId);
    return detachedSession(user, timeMs);
  }

  function detachedSession(user: User, timeMs: number): Session {
    return {
      user,
      history: historyOf(user),
      sessionId: newSessionId(),
      lastMs: timeMs,
      dueMs: timeMs,
      steps: 0,
      category: undefined,
      viewing: undefined,
      cart: new Map(),
      checkout: [],
      afterSales: false,
      heapIndex: -1,
    };
  }

  /**
   * The session to advance at `timeMs`: one whose think time is over, else a newly arriving shopper
   * while fewer than `concurrency` sessions are open, else the session due soonest, early. Keeping
   * the number of open sessions bounded makes the event mix the same at any rate and from the first
   * seconds of a run; think times order the steps, and real gaps in `timeMs` (low rates, pauses)
   * still end sessions by the inactivity timeout.
   */
  function sessionFor(timeMs: number): Session {
    if (heap.length > 0 && heap[0]!.dueMs <= timeMs) return pop();
    if (active.size < concurrency) {
      for (let tries = 0; tries < 4; tries++) {
        const user = pick(random, users);
        if (!active.has(user.userId)) return startSession(user, timeMs);
      }
    }
    return heap.length > 0 ? pop() : startSession(pick(random, users), timeMs);
  }

  // ---- steps -------------------------------------------------------------------------------
  function landing(s: Session, timeMs: number): Event {
    const e = base(s, "page_view", timeMs);
    const r = random();
    if (r < 0.4) e.pageUrl = "/";
    else if (r < 0.75) {
      s.category = pick(random, catalog.products).category;
      e.pageUrl = `/c/${s.category}`;
    } else {
      s.viewing = catalog.pickProduct(random);
      s.category = s.viewing.category;
      e.pageUrl = `/p/${s.viewing.productId}`;
    }
    const referrer = pick(random, REFERRERS);
    if (referrer) e.referrer = referrer;
    return e;
  }

  function step(s: Session, timeMs: number): Event | undefined {
    if (s.checkout.length > 0) return checkoutLine(s, timeMs);
    const conversion = SEGMENT_PROFILES[s.user.segment].conversion;
    const openOrders = s.history.orders.length;
    const w = [
      mix.page_view,
      mix.search,
      mix.product_click * (s.category ? 1.5 : 1),
      s.viewing ? mix.add_to_cart * 3 : 0,
      s.cart.size > 0 ? mix.remove_from_cart * 2 : 0,
      s.cart.size > 0 && (armOf(s.user.userId)?.checkout ?? true)
        ? mix.purchase * conversion * 6
        : 0,
      // At most one cancellation and one review per session, and only about past orders.
      openOrders > 0 && !s.afterSales ? mix.order_cancelled * 0.6 : 0,
      s.history.bought.length > 0 && !s.afterSales ? mix.product_review * 0.8 : 0,
    ];
    let sum = 0;
    for (const x of w) sum += x;
    if (sum <= 0) return undefined;
    let r = random() * sum;
    let choice = 0;
    while (choice < w.length - 1 && (r -= w[choice]!) >= 0) choice++;
    switch (choice) {
      case 0: {
        const e = base(s, "page_view", timeMs);
        if (s.viewing && random() < 0.5) e.pageUrl = `/p/${s.viewing.productId}`;
        else {
          s.category = s.category && random() < 0.6 ? s.category : pick(random, catalog.products)
            .category;
          e.pageUrl = `/c/${s.category}?page=${intBetween(random, 1, 5)}`;
        }
        return e;
      }
      case 1: {
        const e = base(s, "search", timeMs);
        const category = pick(random, catalog.products).category;
        s.category = category;
        const extra = pick(random, QUERY_EXTRAS);
        const term = pick(random, CATEGORY_PROFILES[category].terms);
        e.searchQuery = extra ? `${term} ${extra}` : term;
        e.pageUrl = `/search?q=${encodeURIComponent(e.searchQuery)}`;
        return e;
      }
      case 2: {
        const product = catalog.pickProduct(random, random() < 0.8 ? s.category : undefined);
        s.viewing = product;
        s.category = product.category;
        const e = base(s, "product_click", timeMs);
        e.productId = product.productId;
        e.category = product.category;
        e.price = product.price;
        e.pageUrl = `/p/${product.productId}`;
        return e;
      }
      case 3: {
        const product = s.viewing!;
        const quantity = random() < 0.8 ? 1 : intBetween(random, 2, 3);
        const line = s.cart.get(product.productId);
        if (line) line.quantity += quantity;
        else s.cart.set(product.productId, { product, quantity });
        const e = base(s, "add_to_cart", timeMs);
        e.productId = product.productId;
        e.category = product.category;
        e.price = product.price;
        e.quantity = quantity;
        return e;
      }
      case 4: {
        const line = pick(random, [...s.cart.values()]);
        s.cart.delete(line.product.productId);
        return removal(s, line, timeMs);
      }
      case 5: {
        s.checkout = [...s.cart.values()];
        s.cart.clear();
        return checkoutLine(s, timeMs);
      }
      case 6: {
        const orders = s.history.orders;
        const i = Math.floor(random() * orders.length);
        const order = orders[i]!;
        orders.splice(i, 1);
        s.afterSales = true;
        order.product.stock += order.quantity;
        const e = base(s, "order_cancelled", timeMs);
        e.orderId = order.orderId;
        e.productId = order.product.productId;
        e.category = order.product.category;
        e.price = order.product.price;
        e.quantity = order.quantity;
        return e;
      }
      default: {
        const product = pick(random, s.history.bought);
        s.afterSales = true;
        const e = base(s, "product_review", timeMs);
        e.productId = product.productId;
        e.category = product.category;
        // Reviews skew positive, as they do in shops.
        e.rating = random() < 0.7 ? intBetween(random, 4, 5) : intBetween(random, 1, 3);
        e.properties = { title: pick(random, REVIEW_TITLES) };
        return e;
      }
    }
  }

  function removal(
    s: Session,
    line: { product: Product; quantity: number },
    timeMs: number,
  ): Event {
    const e = base(s, "remove_from_cart", timeMs);
    e.productId = line.product.productId;
    e.category = line.product.category;
    e.price = line.product.price;
    e.quantity = line.quantity;
    return e;
  }

  /** One cart line of a checkout; a line whose product sold out is removed from the cart instead. */
  function checkoutLine(s: Session, timeMs: number): Event {
    const line = s.checkout.shift()!;
    const quantity = Math.min(line.quantity, line.product.stock);
    if (quantity < 1) {
      const e = removal(s, line, timeMs);
      e.properties = { reason: "out_of_stock" };
      return e;
    }
    return purchaseEvent(s, line.product, quantity, timeMs);
  }

  function purchaseEvent(s: Session, product: Product, quantity: number, timeMs: number): Event {
    const order = allocateOrder(s.user, product, quantity, timeMs);
    const e = base(s, "purchase", timeMs);
    e.productId = product.productId;
    e.category = product.category;
    e.price = product.price;
    e.quantity = quantity;
    e.orderId = order.orderId;
    return e;
  }

  function inventoryEvent(timeMs: number): Event {
    const i = restocks.findIndex((r) => r.dueMs <= timeMs);
    let product: Product;
    let properties: Record<string, string | number>;
    if (i >= 0) {
      product = restocks.splice(i, 1)[0]!.product;
      restockPending.delete(product.productId);
      const delta = intBetween(random, 100, 500);
      product.stock += delta;
      properties = { reason: "restock", delta };
    } else {
      product = pick(random, catalog.products);
      properties = { reason: "stock_count" };
    }
    return {
      eventId: eventId(timeMs),
      userId: INVENTORY_USER,
      sessionId: `inv-${Math.floor(timeMs / 86_400_000)}`,
      eventType: "inventory_update",
      timestamp: isoOf(timeMs),
      deviceType: "desktop",
      location: { country: "US", region: "WA" },
      productId: product.productId,
      category: product.category,
      stock: Math.max(0, product.stock),
      properties,
    };
  }

  function next(timeMs: number): Event {
    if (inventoryShare > 0 && (userShare <= 0 || random() < inventoryShare)) {
      return inventoryEvent(timeMs);
    }
    for (;;) {
      const s = sessionFor(timeMs);
      if (s.steps > 0 && timeMs - s.lastMs > SESSION_TIMEOUT_MS) {
        // The shopper came back after the inactivity timeout: a new session, landing again.
        s.sessionId = newSessionId();
        s.steps = 0;
        s.category = undefined;
        s.viewing = undefined;
        s.afterSales = false;
      }
      const e = s.steps === 0 && mix.page_view > 0 ? landing(s, timeMs) : step(s, timeMs);
      if (e === undefined) {
        active.delete(s.user.userId);
        continue;
      }
      s.steps++;
      s.lastMs = timeMs;
      const arm = armOf(s.user.userId);
      if (arm) {
        e.properties = { ...e.properties, experiment: experiment!.name, variant: arm.variant };
      }
      const meanSteps = SEGMENT_PROFILES[s.user.segment].meanSteps;
      const leaves = s.checkout.length === 0 &&
        random() < (e.eventType === "purchase" ? 0.5 : 1 / meanSteps);
      if (leaves) {
        // The cart stays with the abandoned session; the shopper is free to arrive again.
        active.delete(s.user.userId);
      } else {
        const breakMs = random() < 0.02
          ? SESSION_TIMEOUT_MS + intBetween(random, 60_000, 3_600_000)
          : logNormal(random, medianDwellMs, 0.9);
        s.dueMs = timeMs + (s.checkout.length > 0 ? 200 : breakMs);
        push(s);
      }
      return e;
    }
  }

  function purchase(
    user: User,
    product: Product,
    quantity: number,
    timeMs: number,
    where?: Pick<Event, "location" | "ipAddress">,
  ): Event {
    // A one-off session outside the scheduler: the fraudster is not browsing.
    const s = detachedSession(user, timeMs);
    const e = purchaseEvent(s, product, quantity, timeMs);
    if (where) {
      e.location = where.location;
      if (where.ipAddress) e.ipAddress = where.ipAddress;
    }
    return e;
  }

  return {
    next,
    products: catalog.products,
    users,
    catalog,
    random,
    purchase,
    eventId,
  };
}
