/**
 * Orders and cancellations. Purchase lines are grouped per orderId into `orders`; an
 * `order_cancelled` marks its order whichever arrives first. The order count and the cancelled
 * order count and revenue land on `agg_minute_dims` at the order's first line's dimensions (the
 * purchase row of its minute), so net revenue per window = revenue − cancelled revenue.
 */
import { revenueCents } from "../shared/mod.ts";
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { cmp, iso, minuteOf, upsertRow } from "./_analytics_util.ts";

interface OrderLines {
  orderId: string;
  userId: string;
  bucket: number;
  timeMs: number;
  category: string;
  device: string;
  country: string;
  segment: string;
  lines: number;
  units: number;
  revenue: number;
}

interface OrderRow {
  order_id: string;
  bucket: Date | null;
  category: string | null;
  device_type: string | null;
  country: string | null;
  segment: string | null;
  lines: number;
  revenue_cents: number;
  cancelled: boolean;
}

/** Order columns to add to one `agg_minute_dims` row (event type "purchase"). */
export interface OrderDimsDelta {
  bucket: number;
  category: string;
  device: string;
  country: string;
  segment: string;
  orders: number;
  cancelledOrders: number;
  cancelledRevenue: number;
}

/** The stage writing `orders` and the order columns of `agg_minute_dims`. */
export function ordersStage(): FlushStage {
  return async (ctx: FlushContext) => {
    const { tx, inserted, segmentOf } = ctx;
    const purchases = new Map<string, OrderLines>();
    const cancels = new Map<string, number>();
    for (const { event: e, timeMs } of inserted) {
      if (e.eventType === "purchase" && e.orderId !== undefined) {
        const o = upsertRow(purchases, e.orderId, () => ({
          orderId: e.orderId!,
          userId: e.userId,
          bucket: minuteOf(timeMs),
          timeMs,
          category: e.category ?? "",
          device: e.deviceType,
          country: e.location.country,
          segment: segmentOf(e.userId),
          lines: 0,
          units: 0,
          revenue: 0,
        }));
        if (timeMs < o.timeMs) {
          // The earliest line in the flush decides the order's dimensions.
          Object.assign(o, {
            bucket: minuteOf(timeMs),
            timeMs,
            category: e.category ?? "",
            device: e.deviceType,
            country: e.location.country,
          });
        }
        o.lines++;
        o.units += e.quantity ?? 0;
        o.revenue += revenueCents(e);
      } else if (e.eventType === "order_cancelled" && e.orderId !== undefined) {
        const prev = cancels.get(e.orderId);
        if (prev === undefined || timeMs < prev) cancels.set(e.orderId, timeMs);
      }
    }
    if (purchases.size === 0 && cancels.size === 0) return;
    const deltas = new Map<string, OrderDimsDelta>();
    const delta = (r: OrderRow) => {
      const bucket = r.bucket!.getTime();
      const key = `${bucket}|${r.category}|${r.device_type}|${r.country}|${r.segment}`;
      return upsertRow(deltas, key, () => ({
        bucket,
        category: r.category ?? "",
        device: r.device_type ?? "",
        country: r.country ?? "",
        segment: r.segment ?? "",
        orders: 0,
        cancelledOrders: 0,
        cancelledRevenue: 0,
      }));
    };

    if (purchases.size > 0) {
      const p = [...purchases.values()].sort((a, b) => cmp(a.orderId, b.orderId));
      const ids = p.map((r) => r.orderId);
      // The orders' rows before this batch, locked in key order: an earlier line moves its order.
      const before = new Map(
        (await tx<(OrderRow & { purchased_at: Date | null })[]>`
          select order_id, bucket, category, device_type, country, segment, lines, revenue_cents,
                 cancelled, purchased_at
          from orders where order_id = any(${ids}::text[]) order by order_id for update`)
          .map((r) => [r.order_id, r]),
      );
      const rows = await tx<OrderRow[]>`
        insert into orders as o (order_id, user_id, bucket, category, device_type, country, segment,
                                 lines, units, revenue_cents, purchased_at)
        select * from unnest(${ids}::text[], ${p.map((r) => r.userId)}::text[],
          ${p.map((r) => iso(r.bucket))}::timestamptz[], ${p.map((r) => r.category)}::text[],
          ${p.map((r) => r.device)}::text[], ${p.map((r) => r.country)}::text[],
          ${p.map((r) => r.segment)}::text[], ${p.map((r) => r.lines)}::int[],
          ${p.map((r) => r.units)}::bigint[], ${p.map((r) => r.revenue)}::bigint[],
          ${p.map((r) => iso(r.timeMs))}::timestamptz[])
        on conflict (order_id) do update set
          -- The order belongs to its earliest line (the rule rebuild follows too).
          user_id = case when o.purchased_at is null or excluded.purchased_at < o.purchased_at
                         then excluded.user_id else o.user_id end,
          bucket = case when o.purchased_at is null or excluded.purchased_at < o.purchased_at
                        then excluded.bucket else o.bucket end,
          category = case when o.purchased_at is null or excluded.purchased_at < o.purchased_at
                          then excluded.category else o.category end,
          device_type = case when o.purchased_at is null or excluded.purchased_at < o.purchased_at
                             then excluded.device_type else o.device_type end,
          country = case when o.purchased_at is null or excluded.purchased_at < o.purchased_at
                         then excluded.country else o.country end,
          segment = case when o.purchased_at is null or excluded.purchased_at < o.purchased_at
                         then excluded.segment else o.segment end,
          purchased_at = least(o.purchased_at, excluded.purchased_at),
          lines = o.lines + excluded.lines,
          units = o.units + excluded.units,
          revenue_cents = o.revenue_cents + excluded.revenue_cents
        returning order_id, bucket, category, device_type, country, segment, lines, revenue_cents,
                  cancelled`;
      for (const r of rows) {
        const mine = purchases.get(r.order_id)!;
        const old = before.get(r.order_id);
        if (old === undefined || old.lines === 0) {
          // The order's first lines (possibly after its cancellation arrived).
          const d = delta(r);
          d.orders++;
          if (r.cancelled) {
            d.cancelledOrders++;
            d.cancelledRevenue += r.revenue_cents;
          }
          continue;
        }
        const moved = old.bucket!.getTime() !== r.bucket!.getTime() ||
          old.category !== r.category || old.device_type !== r.device_type ||
          old.country !== r.country || old.segment !== r.segment;
        if (moved) {
          // An earlier line arrived late: the order leaves its old dimensions for this line's.
          const from = delta(old), to = delta(r);
          from.orders--;
          to.orders++;
          if (r.cancelled) {
            from.cancelledOrders--;
            from.cancelledRevenue -= old.revenue_cents;
            to.cancelledOrders++;
            to.cancelledRevenue += r.revenue_cents;
          }
        } else if (r.cancelled) {
          // More lines of a cancelled order: their revenue is cancelled too.
          delta(r).cancelledRevenue += mine.revenue;
        }
      }
    }

    if (cancels.size > 0) {
      const c = [...cancels.entries()].sort((a, b) => cmp(a[0], b[0]));
      const rows = await tx<OrderRow[]>`
        insert into orders as o (order_id, cancelled, cancelled_at)
        select id, true, t from unnest(${c.map((x) => x[0])}::text[],
          ${c.map((x) => iso(x[1]))}::timestamptz[]) as x(id, t)
        on conflict (order_id) do update set cancelled = true, cancelled_at = excluded.cancelled_at
          where not o.cancelled
        returning order_id, bucket, category, device_type, country, segment, lines, revenue_cents,
                  cancelled`;
      for (const r of rows) {
        if (r.lines === 0) continue; // no purchase yet: its lines will be counted as cancelled
        const d = delta(r);
        d.cancelledOrders++;
        d.cancelledRevenue += r.revenue_cents;
      }
    }
    if (deltas.size === 0) return;
    // The hours whose minute rows change here (a cancellation or a moved order can touch an hour
    // no new event of the batch is in) are rolled again (consumer/roll_up.ts reads the marks).
    const hours = [...new Set([...deltas.values()].map((d) => d.bucket - (d.bucket % 3_600_000)))]
      .sort((a, b) => a - b);
    await tx`
      insert into rollup_dirty (hour, batch_id)
      select h, pg_current_xact_id()::text::bigint
      from unnest(${hours.map(iso)}::timestamptz[]) as h
      on conflict do nothing`;
    const d = [...deltas.values()].sort((a, b) =>
      a.bucket - b.bucket || cmp(a.category, b.category) || cmp(a.device, b.device) ||
      cmp(a.country, b.country) || cmp(a.segment, b.segment)
    );
    await tx`
      insert into agg_minute_dims (bucket, event_type, category, device_type, country, segment,
                                   orders, cancelled_orders, cancelled_revenue_cents)
      select b, 'purchase', c, dv, co, s, o, co2, cr from unnest(
        ${d.map((r) => iso(r.bucket))}::timestamptz[], ${d.map((r) => r.category)}::text[],
        ${d.map((r) => r.device)}::text[], ${d.map((r) => r.country)}::text[],
        ${d.map((r) => r.segment)}::text[], ${d.map((r) => r.orders)}::bigint[],
        ${d.map((r) => r.cancelledOrders)}::bigint[], ${d.map((r) => r.cancelledRevenue)}::bigint[])
        as x(b, c, dv, co, s, o, co2, cr)
      on conflict (bucket, event_type, category, device_type, country, segment) do update set
        orders = agg_minute_dims.orders + excluded.orders,
        cancelled_orders = agg_minute_dims.cancelled_orders + excluded.cancelled_orders,
        cancelled_revenue_cents = agg_minute_dims.cancelled_revenue_cents +
          excluded.cancelled_revenue_cents`;
  };
}
