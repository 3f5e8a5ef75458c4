/**
 * The windowed counters of one core flush, computed in one pass over its new events: the minute
 * tables (`agg_minute`, `agg_minute_dims`, `agg_geo_minute`, `agg_product_minute`), exact active
 * users per minute and region (`active_user_minute`), the running totals per event type and the
 * hours to roll. Rows are keyed and sorted by key, the order every flush locks them in.
 */
import { type Event, revenueCents } from "../shared/mod.ts";
import type { AcceptedEvent } from "./decode_message.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** One row of `agg_minute` as pre-aggregated in memory for one flush. */
export interface AggRow {
  bucket: number;
  eventType: string;
  category: string;
  device: string;
  segment: string;
  events: number;
  units: number;
  revenueCents: number;
}

export interface DimRow extends AggRow {
  country: string;
}

export interface GeoRow {
  bucket: number;
  country: string;
  region: string;
  events: number;
  purchases: number;
  revenueCents: number;
}

export interface ProductRow {
  bucket: number;
  productId: string;
  category: string;
  views: number;
  carts: number;
  purchases: number;
  units: number;
  revenueCents: number;
}

export interface UserRow {
  bucket: number;
  userId: string;
  country: string;
  region: string;
  device: string;
  segment: string;
  events: number;
}

export interface TotalRow {
  kind: string;
  n: number;
  units: number;
  revenueCents: number;
}

export interface CoreCounters {
  minute: AggRow[];
  dims: DimRow[];
  geo: GeoRow[];
  products: ProductRow[];
  users: UserRow[];
  totals: TotalRow[];
  /** Hours (epoch ms) the events fall in, ascending. */
  hours: number[];
}

/**
 * Inventory updates come from the stock system, not shoppers: they count as events, never as an
 * active user (a service account would otherwise be the most active "shopper" of every minute).
 */
export function countsAsShopper(e: Pick<Event, "eventType">): boolean {
  return e.eventType !== "inventory_update";
}

/** All counters of `events` (which must be new: never stored before). */
export function computeCounters(
  events: readonly AcceptedEvent[],
  segmentOf: (userId: string) => string,
): CoreCounters {
  const minute = new Map<string, AggRow>();
  const dims = new Map<string, DimRow>();
  const geo = new Map<string, GeoRow>();
  const products = new Map<string, ProductRow>();
  const users = new Map<string, UserRow>();
  const totals = new Map<string, TotalRow>();
  const hours = new Set<number>();
  let lastBucket = NaN, bk = "";
  for (const { event: e, timeMs } of events) {
    const bucket = timeMs - (timeMs % MINUTE_MS);
    if (bucket !== lastBucket) {
      bk = String(lastBucket = bucket);
      hours.add(bucket - (bucket % HOUR_MS));
    }
    const type = e.eventType;
    const category = e.category ?? "";
    const device = e.deviceType;
    const { country, region } = e.location;
    const segment = segmentOf(e.userId);
    const units = e.quantity ?? 0;
    const revenue = revenueCents(e);

    const mk = `${bk}|${type}|${category}|${device}|${segment}`;
    let m = minute.get(mk);
    if (m === undefined) {
      m = {
        bucket,
        eventType: type,
        category,
        device,
        segment,
        events: 0,
        units: 0,
        revenueCents: 0,
      };
      minute.set(mk, m);
    }
    m.events++;
    m.units += units;
    m.revenueCents += revenue;

    const dk = `${mk}|${country}`;
    let d = dims.get(dk);
    if (d === undefined) {
      d = {
        bucket,
        eventType: type,
        category,
        device,
        segment,
        country,
        events: 0,
        units: 0,
        revenueCents: 0,
      };
      dims.set(dk, d);
    }
    d.events++;
    d.units += units;
    d.revenueCents += revenue;

    const gk = `${bk}|${country}|${region}`;
    let g = geo.get(gk);
    if (g === undefined) {
      g = { bucket, country, region, events: 0, purchases: 0, revenueCents: 0 };
      geo.set(gk, g);
    }
    g.events++;
    if (type === "purchase") g.purchases++;
    g.revenueCents += revenue;

    if (
      e.productId !== undefined &&
      (type === "product_click" || type === "add_to_cart" || type === "purchase")
    ) {
      const pk = `${bk}|${e.productId}`;
      let p = products.get(pk);
      if (p === undefined) {
        p = {
          bucket,
          productId: e.productId,
          category,
          views: 0,
          carts: 0,
          purchases: 0,
          units: 0,
          revenueCents: 0,
        };
        products.set(pk, p);
      }
      if (type === "product_click") p.views++;
      else if (type === "add_to_cart") p.carts++;
      else {
        p.purchases++;
        p.units += units;
        p.revenueCents += revenue;
      }
    }

    if (countsAsShopper(e)) {
      const uk = `${bk}|${e.userId}|${country}|${region}`;
      let u = users.get(uk);
      if (u === undefined) {
        u = { bucket, userId: e.userId, country, region, device, segment, events: 0 };
        users.set(uk, u);
      }
      u.events++;
    }

    let t = totals.get(type);
    if (t === undefined) totals.set(type, t = { kind: type, n: 0, units: 0, revenueCents: 0 });
    t.n++;
    t.units += units;
    t.revenueCents += revenue;
  }
  return {
    minute: [...minute.values()].sort(compareAgg),
    dims: [...dims.values()].sort((a, b) => compareAgg(a, b) || cmp(a.country, b.country)),
    geo: [...geo.values()].sort((a, b) =>
      a.bucket - b.bucket || cmp(a.country, b.country) || cmp(a.region, b.region)
    ),
    products: [...products.values()].sort((a, b) =>
      a.bucket - b.bucket || cmp(a.productId, b.productId)
    ),
    users: [...users.values()].sort((a, b) =>
      a.bucket - b.bucket || cmp(a.userId, b.userId) || cmp(a.country, b.country) ||
      cmp(a.region, b.region)
    ),
    totals: [...totals.values()].sort((a, b) => cmp(a.kind, b.kind)),
    hours: [...hours].sort((a, b) => a - b),
  };
}

/** The `agg_minute` rows of `events` (kept for benches and tests of the pre-aggregation). */
export function preAggregate(
  events: readonly AcceptedEvent[],
  segmentOf: (userId: string) => string,
): AggRow[] {
  return computeCounters(events, segmentOf).minute;
}

function compareAgg(a: AggRow, b: AggRow): number {
  return a.bucket - b.bucket || cmp(a.eventType, b.eventType) || cmp(a.category, b.category) ||
    cmp(a.device, b.device) || cmp(a.segment, b.segment);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
