/**
 * Per-user feature store and item-to-item co-occurrence, updated in the flush.
 * - `user_features`: recency (last_seen), frequency (events, purchases), monetary value, home
 *   country, category affinity, device and hour-of-day histograms (jsonb counts).
 * - `user_hour_products` + `item_pairs`: two products are co-viewed (co-purchased) when one user
 *   viewed (bought) both within the same event-time hour. Pairs are counted when the second of the
 *   two is first stored, so the counts do not depend on arrival order or on flush boundaries.
 * `user_features` is written first, under row locks on the flush's users taken in user order
 * (`select … for update`, then the insert of new users) and held until commit, so a concurrent
 * flush on the same user waits there and then sees this one's rows: histograms merge exactly and
 * neither flush misses the other's pairs.
 * Only flushes sharing a user wait for each other. The sessions stage, which runs next, relies on
 * the same row locks. User-hours with more than `maxProductsPerHour` products stop adding pairs (a
 * bot guard that bounds the quadratic pair count).
 */
import { revenueCents, type Tx, type UserFeaturesRow } from "../shared/mod.ts";
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { cmp, hourOf, iso, isoCache, upsertRow } from "./_analytics_util.ts";

export interface FeaturesOptions {
  maxProductsPerHour?: number;
}

interface UserRow {
  userId: string;
  firstSeen: number;
  lastSeen: number;
  events: number;
  purchases: number;
  monetary: number;
  homeCountry: string;
  segment: string;
  lastDevice: string;
  categories: Record<string, number>;
  devices: Record<string, number>;
  hours: Record<string, number>;
}

type Counts = Record<string, number>;
const bump = (h: Counts, k: string, n = 1) => h[k] = (h[k] ?? 0) + n;
function addCounts(into: Counts, from: Counts | null) {
  for (const k in from) bump(into, k, from[k]!);
}
const HOURS = Array.from({ length: 24 }, (_, h) => String(h));

/** `unnest(…) as x(u, fs, ls, ev, pu, mo, hc, sg, ld, ca, dv, hr)` of feature rows. */
function featureRows(tx: Tx, f: readonly UserRow[]) {
  return tx`unnest(${f.map((r) => r.userId)}::text[],
    ${f.map((r) => iso(r.firstSeen))}::timestamptz[], ${
    f.map((r) => iso(r.lastSeen))
  }::timestamptz[],
    ${f.map((r) => r.events)}::bigint[], ${f.map((r) => r.purchases)}::bigint[],
    ${f.map((r) => r.monetary)}::bigint[], ${f.map((r) => r.homeCountry)}::text[],
    ${f.map((r) => r.segment)}::text[], ${f.map((r) => r.lastDevice)}::text[],
    ${f.map((r) => JSON.stringify(r.categories))}::text[],
    ${f.map((r) => JSON.stringify(r.devices))}::text[],
    ${f.map((r) => JSON.stringify(r.hours))}::text[])
    as x(u, fs, ls, ev, pu, mo, hc, sg, ld, ca, dv, hr)`;
}

/** The stage writing `user_features`, `user_hour_products` and `item_pairs`. */
export function featuresStage(options: FeaturesOptions = {}): FlushStage {
  const maxProducts = options.maxProductsPerHour ?? 50;
  return async (ctx: FlushContext) => {
    const { tx, inserted, segmentOf } = ctx;
    if (inserted.length === 0) return;
    const users = new Map<string, UserRow>();
    const touches = new Map<string, { userId: string; hour: number; kind: string; p: string }>();
    for (const { event: e, timeMs } of inserted) {
      const u = upsertRow(users, e.userId, () => ({
        userId: e.userId,
        firstSeen: timeMs,
        lastSeen: timeMs,
        events: 0,
        purchases: 0,
        monetary: 0,
        homeCountry: e.location.country,
        segment: segmentOf(e.userId),
        lastDevice: e.deviceType,
        categories: {},
        devices: {},
        hours: {},
      }));
      if (timeMs < u.firstSeen) {
        u.firstSeen = timeMs;
        u.homeCountry = e.location.country;
      }
      if (timeMs >= u.lastSeen) {
        u.lastSeen = timeMs;
        u.lastDevice = e.deviceType;
      }
      u.events++;
      bump(u.devices, e.deviceType);
      bump(u.hours, HOURS[Math.floor(timeMs / 3_600_000) % 24]!);
      if (e.category !== undefined) bump(u.categories, e.category);
      if (e.eventType === "purchase") {
        u.purchases++;
        u.monetary += revenueCents(e);
      }
      const kind = e.eventType === "purchase"
        ? "purchase"
        : e.eventType === "product_click" || e.eventType === "add_to_cart"
        ? "view"
        : null;
      if (kind !== null && e.productId !== undefined) {
        const hour = hourOf(timeMs);
        touches.set(`${e.userId}|${hour}|${kind}|${e.productId}`, {
          userId: e.userId,
          hour,
          kind,
          p: e.productId,
        });
      }
    }

    const f = [...users.values()].sort((a, b) => cmp(a.userId, b.userId));
    // Lock the users' existing rows in user order until commit: a concurrent flush on the same
    // user waits here and then reads this one's committed histograms (read committed re-reads a
    // row it waited for), so the merge in memory is exact. Users without a row are inserted below;
    // a concurrent insert of the same new user waits on the first one and adds to it in SQL.
    const held = await tx<Pick<UserFeaturesRow, "user_id" | "categories" | "devices" | "hours">[]>`
      select user_id, categories, devices, hours from user_features
      where user_id = any(${f.map((r) => r.userId)}::text[])
      order by user_id
      for update`;
    const known = new Set<string>();
    for (const p of held) {
      const u = users.get(p.user_id)!;
      addCounts(u.categories, p.categories);
      addCounts(u.devices, p.devices);
      addCounts(u.hours, p.hours);
      known.add(p.user_id);
    }
    const update = f.filter((r) => known.has(r.userId));
    const insert = known.size === 0 ? f : f.filter((r) => !known.has(r.userId));
    await Promise.all([
      update.length === 0 ? null : tx`
        update user_features f set
          first_seen = least(f.first_seen, x.fs), last_seen = greatest(f.last_seen, x.ls),
          events = f.events + x.ev, purchases = f.purchases + x.pu,
          monetary_cents = f.monetary_cents + x.mo, segment = x.sg,
          last_device = case when x.ls >= f.last_seen then x.ld else f.last_device end,
          categories = x.ca::jsonb, devices = x.dv::jsonb, hours = x.hr::jsonb
        from ${featureRows(tx, update)}
        where f.user_id = x.u`,
      insert.length === 0 ? null : tx`
        insert into user_features as f (user_id, first_seen, last_seen, events, purchases,
          monetary_cents, home_country, segment, last_device, categories, devices, hours)
        select u, fs, ls, ev, pu, mo, hc, sg, ld, ca::jsonb, dv::jsonb, hr::jsonb
        from ${featureRows(tx, insert)}
        on conflict (user_id) do update set
          first_seen = least(f.first_seen, excluded.first_seen),
          last_seen = greatest(f.last_seen, excluded.last_seen),
          events = f.events + excluded.events,
          purchases = f.purchases + excluded.purchases,
          monetary_cents = f.monetary_cents + excluded.monetary_cents,
          segment = excluded.segment,
          last_device = case when excluded.last_seen >= f.last_seen then excluded.last_device
                             else f.last_device end,
          categories = jsonb_counts_add(f.categories, excluded.categories),
          devices = jsonb_counts_add(f.devices, excluded.devices),
          hours = jsonb_counts_add(f.hours, excluded.hours)`,
    ]);

    if (touches.size === 0) return;
    const isoOf = isoCache();
    const t = [...touches.values()].sort((a, b) =>
      cmp(a.userId, b.userId) || a.hour - b.hour || cmp(a.kind, b.kind) || cmp(a.p, b.p)
    );
    // One statement: store the user-hour products, and for each newly stored one count a pair with
    // every other product of its user-hour (fresh × stored before, and fresh × fresh once), unless
    // the user-hour holds more than `maxProducts`. `old` cannot see the rows `fresh` inserts (one
    // snapshot), which is what separates the two. The pair rows are upserted in key order.
    await tx`
      with fresh as (
        insert into user_hour_products (user_id, hour, kind, product_id)
        select * from unnest(${t.map((x) => x.userId)}::text[], ${
      t.map((x) => isoOf(x.hour))
    }::timestamptz[], ${t.map((x) => x.kind)}::text[], ${t.map((x) => x.p)}::text[])
        on conflict do nothing
        returning user_id, hour, kind, product_id),
      old as (
        select p.user_id, p.hour, p.kind, p.product_id
        from (select distinct user_id, hour, kind from fresh) g
        join user_hour_products p using (user_id, hour, kind)),
      everyone as (
        select user_id, hour, kind, product_id, false as is_fresh from old
        union all
        select user_id, hour, kind, product_id, true from fresh),
      small as (
        select user_id, hour, kind from everyone group by 1, 2, 3
        having count(*) <= ${maxProducts}),
      pairs as (
        select f.product_id as a, e.product_id as b, f.kind
        from fresh f
        join small using (user_id, hour, kind)
        join everyone e using (user_id, hour, kind)
        where e.product_id <> f.product_id and not (e.is_fresh and e.product_id < f.product_id)),
      both_ways as (
        select a, b, kind from pairs union all select b, a, kind from pairs)
      insert into item_pairs (product_a, product_b, co_views, co_purchases)
      select a, b, count(*) filter (where kind = 'view'), count(*) filter (where kind = 'purchase')
      from both_ways group by a, b order by a, b
      on conflict (product_a, product_b) do update set
        co_views = item_pairs.co_views + excluded.co_views,
        co_purchases = item_pairs.co_purchases + excluded.co_purchases`;
  };
}
