/**
 * Windowed aggregates by event time: per minute and dimension (event type, category, device,
 * country, segment), per minute and region, per minute and product, and exact active users per
 * minute. Pre-aggregated per flush, then one sorted upsert per table.
 */
import { revenueCents } from "../shared/mod.ts";
import type { FlushContext, FlushStage } from "./flush_events.ts";
import type { OrderDimsHandoff } from "./stage_orders.ts";
import {
  type AlertInput,
  cmp,
  insertAlerts,
  iso,
  isoCache,
  minuteOf,
  upsertRow,
} from "./_analytics_util.ts";

export interface WindowsOptions {
  /** Events per user and minute from which the user is reported as bot-like. */
  botEventsPerMinute: number;
  /** Order columns left by the orders stage (which then runs before this one) to write here. */
  orderDims?: OrderDimsHandoff;
}

interface DimRow {
  bucket: number;
  type: string;
  category: string;
  device: string;
  country: string;
  segment: string;
  events: number;
  units: number;
  revenue: number;
  orders: number;
  cancelledOrders: number;
  cancelledRevenue: number;
}

interface GeoRow {
  bucket: number;
  country: string;
  region: string;
  events: number;
  purchases: number;
  revenue: number;
}

interface ProductRow {
  bucket: number;
  productId: string;
  category: string;
  views: number;
  carts: number;
  purchases: number;
  units: number;
  revenue: number;
}

interface UserRow {
  bucket: number;
  userId: string;
  device: string;
  country: string;
  region: string;
  segment: string;
  events: number;
}

/** The stage writing `agg_minute_dims`, `agg_geo_minute`, `agg_product_minute`, `active_user_minute`. */
export function windowsStage(options: WindowsOptions): FlushStage {
  return async (ctx: FlushContext) => {
    const { tx, inserted, segmentOf } = ctx;
    if (inserted.length === 0) return;
    const dims = new Map<string, DimRow>();
    const geo = new Map<string, GeoRow>();
    const products = new Map<string, ProductRow>();
    const users = new Map<string, UserRow>();
    const services = new Set<string>();
    const isoOf = isoCache();
    let lastBucket = NaN, bk = ""; // the bucket as a key prefix, converted once per minute
    for (const { event: e, timeMs } of inserted) {
      const bucket = minuteOf(timeMs);
      if (bucket !== lastBucket) bk = String(lastBucket = bucket);
      const category = e.category ?? "";
      const { country, region } = e.location;
      const segment = segmentOf(e.userId);
      const revenue = revenueCents(e);
      const units = e.quantity ?? 0;
      const d = upsertRow(
        dims,
        `${bk}|${e.eventType}|${category}|${e.deviceType}|${country}|${segment}`,
        () => ({
          bucket,
          type: e.eventType,
          category,
          device: e.deviceType,
          country,
          segment,
          events: 0,
          units: 0,
          revenue: 0,
          orders: 0,
          cancelledOrders: 0,
          cancelledRevenue: 0,
        }),
      );
      d.events++;
      d.units += units;
      d.revenue += revenue;
      const g = upsertRow(geo, `${bk}|${country}|${region}`, () => ({
        bucket,
        country,
        region,
        events: 0,
        purchases: 0,
        revenue: 0,
      }));
      g.events++;
      if (e.eventType === "purchase") g.purchases++;
      g.revenue += revenue;
      if (e.productId !== undefined && e.eventType !== "inventory_update") {
        const isView = e.eventType === "product_click";
        const isCart = e.eventType === "add_to_cart";
        const isPurchase = e.eventType === "purchase";
        if (isView || isCart || isPurchase) {
          const p = upsertRow(products, `${bk}|${e.productId}`, () => ({
            bucket,
            productId: e.productId!,
            category,
            views: 0,
            carts: 0,
            purchases: 0,
            units: 0,
            revenue: 0,
          }));
          if (isView) p.views++;
          if (isCart) p.carts++;
          if (isPurchase) {
            p.purchases++;
            p.units += units;
            p.revenue += revenue;
          }
        }
      }
      // Stock updates come from the inventory system's service account, not from a shopper: a feed
      // of them is not bot-like activity.
      if (e.eventType === "inventory_update") services.add(e.userId);
      const u = upsertRow(users, `${bk}|${e.userId}`, () => ({
        bucket,
        userId: e.userId,
        device: e.deviceType,
        country,
        region,
        segment,
        events: 0,
      }));
      u.events++;
    }

    for (const o of options.orderDims?.get(inserted) ?? []) {
      const r = upsertRow(
        dims,
        `${o.bucket}|purchase|${o.category}|${o.device}|${o.country}|${o.segment}`,
        () => ({
          bucket: o.bucket,
          type: "purchase",
          category: o.category,
          device: o.device,
          country: o.country,
          segment: o.segment,
          events: 0,
          units: 0,
          revenue: 0,
          orders: 0,
          cancelledOrders: 0,
          cancelledRevenue: 0,
        }),
      );
      r.orders += o.orders;
      r.cancelledOrders += o.cancelledOrders;
      r.cancelledRevenue += o.cancelledRevenue;
    }
    options.orderDims?.delete(inserted);

    const d = [...dims.values()].sort((a, b) =>
      a.bucket - b.bucket || cmp(a.type, b.type) || cmp(a.category, b.category) ||
      cmp(a.device, b.device) || cmp(a.country, b.country) || cmp(a.segment, b.segment)
    );
    await tx`
      insert into agg_minute_dims (bucket, event_type, category, device_type, country, segment,
                                   events, units, revenue_cents, orders, cancelled_orders,
                                   cancelled_revenue_cents)
      select * from unnest(${d.map((r) => isoOf(r.bucket))}::timestamptz[],
        ${d.map((r) => r.type)}::text[], ${d.map((r) => r.category)}::text[],
        ${d.map((r) => r.device)}::text[], ${d.map((r) => r.country)}::text[],
        ${d.map((r) => r.segment)}::text[], ${d.map((r) => r.events)}::bigint[],
        ${d.map((r) => r.units)}::bigint[], ${d.map((r) => r.revenue)}::bigint[],
        ${d.map((r) => r.orders)}::bigint[], ${d.map((r) => r.cancelledOrders)}::bigint[],
        ${d.map((r) => r.cancelledRevenue)}::bigint[])
      on conflict (bucket, event_type, category, device_type, country, segment) do update set
        events = agg_minute_dims.events + excluded.events,
        units = agg_minute_dims.units + excluded.units,
        revenue_cents = agg_minute_dims.revenue_cents + excluded.revenue_cents,
        orders = agg_minute_dims.orders + excluded.orders,
        cancelled_orders = agg_minute_dims.cancelled_orders + excluded.cancelled_orders,
        cancelled_revenue_cents = agg_minute_dims.cancelled_revenue_cents +
          excluded.cancelled_revenue_cents`;

    const g = [...geo.values()].sort((a, b) =>
      a.bucket - b.bucket || cmp(a.country, b.country) || cmp(a.region, b.region)
    );
    await tx`
      insert into agg_geo_minute (bucket, country, region, events, purchases, revenue_cents)
      select * from unnest(${g.map((r) => isoOf(r.bucket))}::timestamptz[],
        ${g.map((r) => r.country)}::text[], ${g.map((r) => r.region)}::text[],
        ${g.map((r) => r.events)}::bigint[], ${g.map((r) => r.purchases)}::bigint[],
        ${g.map((r) => r.revenue)}::bigint[])
      on conflict (bucket, country, region) do update set
        events = agg_geo_minute.events + excluded.events,
        purchases = agg_geo_minute.purchases + excluded.purchases,
        revenue_cents = agg_geo_minute.revenue_cents + excluded.revenue_cents`;

    if (products.size > 0) {
      const p = [...products.values()].sort((a, b) =>
        a.bucket - b.bucket || cmp(a.productId, b.productId)
      );
      await tx`
        insert into agg_product_minute (bucket, product_id, category, views, carts, purchases,
                                        units, revenue_cents)
        select * from unnest(${p.map((r) => isoOf(r.bucket))}::timestamptz[],
          ${p.map((r) => r.productId)}::text[], ${p.map((r) => r.category)}::text[],
          ${p.map((r) => r.views)}::bigint[], ${p.map((r) => r.carts)}::bigint[],
          ${p.map((r) => r.purchases)}::bigint[], ${p.map((r) => r.units)}::bigint[],
          ${p.map((r) => r.revenue)}::bigint[])
        on conflict (bucket, product_id) do update set
          views = agg_product_minute.views + excluded.views,
          carts = agg_product_minute.carts + excluded.carts,
          purchases = agg_product_minute.purchases + excluded.purchases,
          units = agg_product_minute.units + excluded.units,
          revenue_cents = agg_product_minute.revenue_cents + excluded.revenue_cents`;
    }

    const u = [...users.values()].sort((a, b) => a.bucket - b.bucket || cmp(a.userId, b.userId));
    // Returns only the user-minutes this flush carried across the bot threshold (usually none).
    const threshold = options.botEventsPerMinute;
    const crossed = await tx<{ bucket: Date; user_id: string; events: number }[]>`
      with x as (
        select * from unnest(${u.map((r) => isoOf(r.bucket))}::timestamptz[],
          ${u.map((r) => r.userId)}::text[], ${u.map((r) => r.device)}::text[],
          ${u.map((r) => r.country)}::text[], ${u.map((r) => r.region)}::text[],
          ${u.map((r) => r.segment)}::text[], ${u.map((r) => r.events)}::int[])
          as x(bucket, user_id, device_type, country, region, segment, events)),
      up as (
        insert into active_user_minute (bucket, user_id, device_type, country, region, segment,
                                        events)
        select * from x
        on conflict (bucket, user_id) do update set
          events = active_user_minute.events + excluded.events
        returning bucket, user_id, events)
      select up.bucket, up.user_id, up.events from up join x using (bucket, user_id)
      where up.events >= ${threshold} and up.events - x.events < ${threshold}`;
    await reportBots(ctx, crossed.filter((c) => !services.has(c.user_id)), threshold);
  };
}

/** A user is reported once per minute, by the flush that makes its count cross the threshold. */
async function reportBots(
  ctx: FlushContext,
  crossed: readonly { bucket: Date; user_id: string; events: number }[],
  threshold: number,
): Promise<void> {
  const bots = crossed.map((t) => ({
    bucket: t.bucket.getTime(),
    userId: t.user_id,
    events: t.events,
  }));
  if (bots.length === 0) return;
  bots.sort((a, b) => a.bucket - b.bucket || cmp(a.userId, b.userId));
  const reason = (b: (typeof bots)[number]) =>
    `user "${b.userId}" sent at least ${threshold} events within one minute (inhuman rate)`;
  const stored = await ctx.tx<{ series: string; bucket: Date }[]>`
    insert into anomalies (kind, series, bucket, value, reason)
    select 'bot_user', s, b, v, r from unnest(
      ${bots.map((b) => `user:${b.userId}`)}::text[], ${
    bots.map((b) => iso(b.bucket))
  }::timestamptz[],
      ${bots.map((b) => b.events)}::float8[], ${bots.map(reason)}::text[]) as x(s, b, v, r)
    on conflict (kind, series, bucket) do nothing
    returning series, bucket`;
  const alerts: AlertInput[] = stored.map((s) => ({
    kind: "anomaly",
    dedupeKey: `anomaly:bot_user:${s.series}:${s.bucket.toISOString()}`,
    severity: "warning",
    title: `Bot-like activity from ${s.series}`,
    details: { kind: "bot_user", series: s.series, bucket: s.bucket.toISOString() },
  }));
  await insertAlerts(ctx.tx, alerts);
}
