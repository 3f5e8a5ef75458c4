/**
 * Inventory. Stock = the newest `inventory_update` by event time minus the units of purchases with
 * a later event time, plus the units of cancelled orders with a later event time (a cancellation
 * puts the goods back on the shelf; counting only the sale drove stock below zero until the next
 * count), so late and out-of-order events land where they belong:
 * a purchase older than the current count is already reflected in it and changes nothing; a newer
 * count replaces the old one and the units sold after it are recounted from the raw events (one
 * indexed query for the products whose count changed). When stock falls below the threshold an
 * inventory alert is written once; restocking to the threshold or above re-arms it. Sales velocity
 * and days of cover are read from `agg_product_minute` by the API.
 */
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { type AlertInput, cmp, insertAlerts, iso } from "./_analytics_util.ts";

export interface InventoryOptions {
  alertThreshold: number;
}

interface Snapshot {
  productId: string;
  category: string | null;
  stock: number | null;
  atMs: number;
}

/** The stage writing `inventory` and inventory alerts. */
export function inventoryStage(options: InventoryOptions): FlushStage {
  return async (ctx: FlushContext) => {
    const { tx, inserted } = ctx;
    const snaps = new Map<string, Snapshot>();
    const sold: { p: string; t: number; q: number }[] = [];
    for (const { event: e, timeMs } of inserted) {
      if (e.productId === undefined) continue;
      if (e.eventType === "inventory_update" && e.stock !== undefined) {
        const s = snaps.get(e.productId);
        if (s === undefined || s.stock === null || timeMs > s.atMs) {
          snaps.set(e.productId, {
            productId: e.productId,
            category: e.category ?? s?.category ?? null,
            stock: e.stock,
            atMs: timeMs,
          });
        }
      } else if (e.eventType === "purchase" || e.eventType === "order_cancelled") {
        const units = e.quantity ?? 1;
        sold.push({ p: e.productId, t: timeMs, q: e.eventType === "purchase" ? units : -units });
        if (!snaps.has(e.productId)) {
          snaps.set(e.productId, {
            productId: e.productId,
            category: e.category ?? null,
            stock: null,
            atMs: -Infinity,
          });
        }
      }
    }
    if (snaps.size === 0) return;
    const s = [...snaps.values()].sort((a, b) => cmp(a.productId, b.productId));
    // Rows returned: new products and products whose count this flush replaced.
    const recount = await tx<{ product_id: string }[]>`
      insert into inventory as i (product_id, category, stock_base, stock_at)
      select p, c, st, coalesce(t, '-infinity') from unnest(${s.map((x) => x.productId)}::text[],
        ${s.map((x) => x.category)}::text[], ${s.map((x) => x.stock)}::bigint[],
        ${
      s.map((x) => Number.isFinite(x.atMs) ? iso(x.atMs) : null)
    }::timestamptz[]) as x(p, c, st, t)
      on conflict (product_id) do update set
        stock_base = excluded.stock_base, stock_at = excluded.stock_at,
        category = coalesce(excluded.category, i.category)
        where excluded.stock_base is not null and excluded.stock_at > i.stock_at
      returning product_id`;
    const recounted = recount.map((r) => r.product_id);
    if (recounted.length > 0) {
      await tx`
        update inventory i set sold_after = coalesce((
          select sum(coalesce(e.quantity, 1)) from events e
          where e.event_type = 'purchase' and e.product_id = i.product_id
            and e.event_time > i.stock_at
            -- Batches still in the outbox are not derived yet: each adds its own units when it
            -- is (after this row's lock, which the upsert above holds from here to commit).
            and e.batch_id not in (select batch_id from core_batches)), 0) - coalesce((
          select sum(coalesce(e.quantity, 1)) from events e
          where e.event_type = 'order_cancelled' and e.product_id = i.product_id
            and e.event_time > i.stock_at
            and e.batch_id not in (select batch_id from core_batches)), 0)
        where i.product_id = any(${recounted}::text[])`;
    }
    const skip = new Set(recounted);
    const rest = sold.filter((x) => !skip.has(x.p));
    if (rest.length > 0) {
      await tx`
        update inventory i set sold_after = i.sold_after + x.units
        from (
          select u.p, sum(u.q) as units
          from unnest(${rest.map((x) => x.p)}::text[], ${rest.map((x) => iso(x.t))}::timestamptz[],
            ${rest.map((x) => x.q)}::bigint[]) as u(p, t, q)
          join inventory j on j.product_id = u.p and u.t > j.stock_at
          group by u.p) x
        where i.product_id = x.p`;
    }
    const changed = await tx<
      { product_id: string; category: string | null; stock: number; low: boolean }[]
    >`
      update inventory i set low = (i.stock_base - i.sold_after) < ${options.alertThreshold},
        updated_at = now()
      where i.product_id = any(${s.map((x) => x.productId)}::text[]) and i.stock_base is not null
        and i.low is distinct from ((i.stock_base - i.sold_after) < ${options.alertThreshold})
      returning i.product_id, i.category, (i.stock_base - i.sold_after) as stock, i.low`;
    const alerts: AlertInput[] = changed.filter((c) => c.low).map((c) => ({
      kind: "inventory",
      // One alert per episode below the threshold: the key carries the count that started it.
      dedupeKey: `inventory:low:${c.product_id}:${c.stock}:${ctx.nowMs}`,
      severity: c.stock <= 0 ? "critical" : "warning",
      title: `Low stock for ${c.product_id}: ${c.stock} left (threshold ${options.alertThreshold})`,
      details: {
        productId: c.product_id,
        category: c.category,
        stock: c.stock,
        threshold: options.alertThreshold,
      },
    }));
    await insertAlerts(tx, alerts);
  };
}
