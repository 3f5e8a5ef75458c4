/**
 * Per-user feature store and item-to-item co-occurrence, updated in the flush.
 * - `user_features`: recency (last_seen), frequency (events, purchases), monetary value, home
 *   country, category affinity, device and hour-of-day histograms (jsonb counts).
 * - `user_hour_products` + `item_pairs`: two products are co-viewed (co-purchased) when one user
 *   viewed (bought) both within the same event-time hour. Pairs are counted when the second of the
 *   two is first stored, so the counts do not depend on arrival order or on flush boundaries.
 * Runs after the sessions stage, whose per-user advisory lock keeps concurrent consumers from
 * missing each other's pairs. User-hours with more than `maxProductsPerHour` products stop adding
 * pairs (a bot guard that bounds the quadratic pair count).
 */
import { revenueCents } from "../shared/mod.ts";
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { lockUsers } from "./stage_sessions.ts";
import { cmp, hourOf, iso, upsertRow } from "./_analytics_util.ts";

export interface FeaturesOptions {
  maxProductsPerHour?: number;
  /** Take the per-user locks here (when the sessions stage, which takes them, is not enabled). */
  lockUsers?: boolean;
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
  for (const [k, n] of Object.entries(from ?? {})) bump(into, k, n);
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
      bump(u.hours, String(new Date(timeMs).getUTCHours()));
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
    if (options.lockUsers) await lockUsers(tx, f.map((r) => r.userId));
    // Histograms merge in memory: the sessions stage holds the users' locks until commit, so
    // nobody else changes these rows between this read and the upsert below.
    const prior = await tx<
      { user_id: string; categories: Counts; devices: Counts; hours: Counts }[]
    >`
      select user_id, categories, devices, hours from user_features
      where user_id = any(${f.map((r) => r.userId)}::text[])`;
    for (const p of prior) {
      const u = users.get(p.user_id)!;
      addCounts(u.categories, p.categories);
      addCounts(u.devices, p.devices);
      addCounts(u.hours, p.hours);
    }
    await tx`
      insert into user_features as f (user_id, first_seen, last_seen, events, purchases,
        monetary_cents, home_country, segment, last_device, categories, devices, hours)
      select u, fs, ls, ev, pu, mo, hc, sg, ld, ca::jsonb, dv::jsonb, hr::jsonb
      from unnest(${f.map((r) => r.userId)}::text[],
        ${f.map((r) => iso(r.firstSeen))}::timestamptz[], ${
      f.map((r) => iso(r.lastSeen))
    }::timestamptz[],
        ${f.map((r) => r.events)}::bigint[], ${f.map((r) => r.purchases)}::bigint[],
        ${f.map((r) => r.monetary)}::bigint[], ${f.map((r) => r.homeCountry)}::text[],
        ${f.map((r) => r.segment)}::text[], ${f.map((r) => r.lastDevice)}::text[],
        ${f.map((r) => JSON.stringify(r.categories))}::text[],
        ${f.map((r) => JSON.stringify(r.devices))}::text[],
        ${f.map((r) => JSON.stringify(r.hours))}::text[])
        as x(u, fs, ls, ev, pu, mo, hc, sg, ld, ca, dv, hr)
      on conflict (user_id) do update set
        first_seen = least(f.first_seen, excluded.first_seen),
        last_seen = greatest(f.last_seen, excluded.last_seen),
        events = f.events + excluded.events,
        purchases = f.purchases + excluded.purchases,
        monetary_cents = f.monetary_cents + excluded.monetary_cents,
        segment = excluded.segment,
        last_device = case when excluded.last_seen >= f.last_seen then excluded.last_device
                           else f.last_device end,
        categories = excluded.categories,
        devices = excluded.devices,
        hours = excluded.hours`;

    if (touches.size === 0) return;
    const t = [...touches.values()].sort((a, b) =>
      cmp(a.userId, b.userId) || a.hour - b.hour || cmp(a.kind, b.kind) || cmp(a.p, b.p)
    );
    const fresh = await tx<{ user_id: string; hour: Date; kind: string; product_id: string }[]>`
      insert into user_hour_products (user_id, hour, kind, product_id)
      select * from unnest(${t.map((x) => x.userId)}::text[], ${
      t.map((x) => iso(x.hour))
    }::timestamptz[],
        ${t.map((x) => x.kind)}::text[], ${t.map((x) => x.p)}::text[])
      on conflict do nothing
      returning user_id, hour, kind, product_id`;
    if (fresh.length === 0) return;
    const groups = new Map<string, { userId: string; hour: Date; kind: string; fresh: string[] }>();
    for (const r of fresh) {
      const g = upsertRow(groups, `${r.user_id}|${r.hour.getTime()}|${r.kind}`, () => ({
        userId: r.user_id,
        hour: r.hour,
        kind: r.kind,
        fresh: [],
      }));
      g.fresh.push(r.product_id);
    }
    const gs = [...groups.values()];
    const all = await tx<{ user_id: string; hour: Date; kind: string; product_id: string }[]>`
      select p.user_id, p.hour, p.kind, p.product_id
      from unnest(${gs.map((g) => g.userId)}::text[], ${
      gs.map((g) => g.hour.toISOString())
    }::timestamptz[],
        ${gs.map((g) => g.kind)}::text[]) as x(u, h, k)
      join user_hour_products p on p.user_id = x.u and p.hour = x.h and p.kind = x.k`;
    const members = new Map<string, string[]>();
    for (const r of all) {
      const k = `${r.user_id}|${r.hour.getTime()}|${r.kind}`;
      upsertRow(members, k, () => [] as string[]).push(r.product_id);
    }
    const pairs = new Map<string, { a: string; b: string; views: number; purchases: number }>();
    const add = (a: string, b: string, kind: string) => {
      for (const [x, y] of [[a, b], [b, a]] as const) {
        const p = upsertRow(pairs, `${x}|${y}`, () => ({ a: x, b: y, views: 0, purchases: 0 }));
        if (kind === "purchase") p.purchases++;
        else p.views++;
      }
    };
    for (const [key, g] of groups) {
      const everyone = members.get(key) ?? [];
      if (everyone.length > maxProducts) continue;
      const isFresh = new Set(g.fresh);
      for (const a of g.fresh) {
        for (const b of everyone) {
          if (a === b) continue;
          // Each unordered pair once: fresh × old, and fresh × fresh in one order only.
          if (isFresh.has(b) && b < a) continue;
          add(a, b, g.kind);
        }
      }
    }
    if (pairs.size === 0) return;
    const p = [...pairs.values()].sort((x, y) => cmp(x.a, y.a) || cmp(x.b, y.b));
    await tx`
      insert into item_pairs (product_a, product_b, co_views, co_purchases)
      select * from unnest(${p.map((x) => x.a)}::text[], ${p.map((x) => x.b)}::text[],
        ${p.map((x) => x.views)}::bigint[], ${p.map((x) => x.purchases)}::bigint[])
      on conflict (product_a, product_b) do update set
        co_views = item_pairs.co_views + excluded.co_views,
        co_purchases = item_pairs.co_purchases + excluded.co_purchases`;
  };
}
