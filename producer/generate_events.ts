/**
 * A deterministic clickstream generator: a seeded catalog and user population, and events of every
 * type with the fields each type requires. Same seed, same events.
 */
import { type DeviceType, type Event, EVENT_TYPES, type EventType } from "../shared/mod.ts";

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A version-4-shaped UUID from the PRNG, so seeded runs produce the same event ids. */
export function seededUuid(random: () => number): string {
  const hex = (n: number) => Math.floor(random() * 16 ** n).toString(16).padStart(n, "0");
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}

export const CATEGORIES = [
  "electronics",
  "fashion",
  "home",
  "beauty",
  "sports",
  "toys",
  "books",
  "grocery",
] as const;

const COUNTRIES: readonly { country: string; regions: readonly string[] }[] = [
  { country: "US", regions: ["CA", "NY", "TX", "WA", "FL"] },
  { country: "GB", regions: ["ENG", "SCT", "WLS"] },
  { country: "DE", regions: ["BE", "BY", "HH"] },
  { country: "FR", regions: ["IDF", "ARA", "PAC"] },
  { country: "IN", regions: ["MH", "KA", "DL"] },
  { country: "BR", regions: ["SP", "RJ"] },
  { country: "JP", regions: ["13", "27"] },
  { country: "AU", regions: ["NSW", "VIC"] },
];
const DEVICES: readonly DeviceType[] = ["mobile", "desktop", "tablet"];

export interface Product {
  productId: string;
  category: string;
  price: number;
}

export interface User {
  userId: string;
  device: DeviceType;
  country: string;
  region: string;
  ipAddress: string;
}

export interface GeneratorOptions {
  seed?: number;
  users?: number;
  products?: number;
  /** Relative weights by event type; types left out are not generated. */
  mix?: Partial<Record<EventType, number>>;
}

/** Default mix: mostly browsing, a few purchases, as in seed 003's volumes. */
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

export interface Generator {
  /** The next event, stamped with `timeMs`. */
  next(timeMs: number): Event;
  readonly products: readonly Product[];
  readonly users: readonly User[];
}

/** Creates a seeded generator. */
export function createGenerator(options: GeneratorOptions = {}): Generator {
  const random = createRandom(options.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const products: Product[] = Array.from({ length: options.products ?? 500 }, (_, i) => ({
    productId: `p-${i + 1}`,
    category: CATEGORIES[i % CATEGORIES.length]!,
    price: Math.round((2 + random() * 500) * 100) / 100,
  }));
  const users: User[] = Array.from({ length: options.users ?? 10_000 }, (_, i) => {
    const home = pick(COUNTRIES);
    return {
      userId: `u-${i + 1}`,
      device: pick(DEVICES),
      country: home.country,
      region: pick(home.regions),
      ipAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    };
  });
  const mix = options.mix ?? DEFAULT_MIX;
  const types = EVENT_TYPES.filter((t) => (mix[t] ?? 0) > 0);
  if (types.length === 0) throw new RangeError("Event mix selects no event type");
  const total = types.reduce((s, t) => s + mix[t]!, 0);
  const cumulative = types.map(((sum) => (t: EventType) => (sum += mix[t]! / total))(0));
  let orders = 0;

  function pickType(): EventType {
    const r = random();
    for (let i = 0; i < types.length; i++) if (r < cumulative[i]!) return types[i]!;
    return types[types.length - 1]!;
  }

  function next(timeMs: number): Event {
    const user = pick(users);
    const product = pick(products);
    const eventType = pickType();
    const e: Event = {
      eventId: seededUuid(random),
      userId: user.userId,
      sessionId: `s-${user.userId}-${Math.floor(timeMs / 1_800_000)}`,
      eventType,
      timestamp: new Date(timeMs).toISOString(),
      deviceType: user.device,
      location: { country: user.country, region: user.region },
      ipAddress: user.ipAddress,
    };
    switch (eventType) {
      case "page_view":
        e.pageUrl = `/c/${product.category}`;
        break;
      case "search":
        e.searchQuery = `${product.category} deals`;
        break;
      case "order_cancelled":
        e.orderId = `o-${Math.max(1, orders)}`;
        break;
      case "product_review":
        e.productId = product.productId;
        e.category = product.category;
        e.rating = 1 + Math.floor(random() * 5);
        break;
      case "inventory_update":
        e.productId = product.productId;
        e.category = product.category;
        e.stock = Math.floor(random() * 500);
        break;
      default:
        e.productId = product.productId;
        e.category = product.category;
        e.price = product.price;
        e.quantity = 1 + Math.floor(random() * 3);
        if (eventType === "purchase") e.orderId = `o-${++orders}`;
    }
    return e;
  }

  return { next, products, users };
}
