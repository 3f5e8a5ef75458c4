/**
 * Windowed aggregates, orders, active users and products: a seeded run flushed through the real
 * flush with the analytics stages, compared exactly with metrics computed here from the events.
 */
import assert from "node:assert/strict";
import { revenueCents } from "../shared/mod.ts";
import {
  accepted,
  flushAll,
  makeEvent,
  seededEvents,
  segmentOf,
  stages,
} from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";
import { flushEvents, rebuildAggregates } from "../consumer/mod.ts";

const MIN = 60_000;
const minute = (ms: number) => ms - (ms % MIN);

Deno.test("analytics windows equal metrics computed from the events, redelivery included", async () => {
  const db = await createTestDb();
  try {
    const start = minute(Date.now()) - 40 * MIN;
    const { events } = seededEvents(3000, start, 20 * MIN, { seed: 11 });
    // Shuffle deterministically: out-of-order arrival must land in the same windows.
    const shuffled = events.map((e, i) => ({ e, k: (i * 7919) % events.length }))
      .sort((a, b) => a.k - b.k).map((x) => x.e);
    await flushAll(db.sql, shuffled, { chunk: 400 });
    await flushAll(db.sql, shuffled.slice(100, 900), { chunk: 400 }); // redelivered

    const exp = new Map<string, { events: number; units: number; revenue: number }>();
    const users = new Map<number, Set<string>>();
    for (const e of events) {
      const t = minute(Date.parse(e.timestamp));
      const k = [
        t,
        e.eventType,
        e.category ?? "",
        e.deviceType,
        e.location.country,
        segmentOf(e.userId),
      ].join("|");
      const r = exp.get(k) ?? { events: 0, units: 0, revenue: 0 };
      r.events++;
      r.units += e.quantity ?? 0;
      r.revenue += revenueCents(e);
      exp.set(k, r);
      if (e.eventType === "inventory_update") continue; // the stock system, not a shopper
      let s = users.get(t);
      if (!s) users.set(t, s = new Set());
      s.add(e.userId);
    }
    const rows = await db.sql<
      {
        bucket: Date;
        event_type: string;
        category: string;
        device_type: string;
        country: string;
        segment: string;
        events: number;
        units: number;
        revenue_cents: number;
      }[]
    >`
      select * from agg_minute_dims where events > 0`;
    const got = new Map(rows.map((r) => [
      [r.bucket.getTime(), r.event_type, r.category, r.device_type, r.country, r.segment].join("|"),
      { events: r.events, units: r.units, revenue: r.revenue_cents },
    ]));
    assert.deepEqual(got, exp);

    const au = await db.sql<{ bucket: Date; n: number }[]>`
      select bucket, count(distinct user_id)::int as n from active_user_minute group by bucket`;
    assert.deepEqual(
      new Map(au.map((r) => [r.bucket.getTime(), r.n])),
      new Map([...users].map(([t, s]) => [t, s.size])),
    );
    const [d] = await db.sql<{ n: number }[]>`
      select count(distinct user_id)::int as n from active_user_minute`;
    assert.equal(
      d!.n,
      new Set(events.filter((e) => e.eventType !== "inventory_update").map((e) => e.userId)).size,
    );

    // Orders: one per purchase; cancellations net out the revenue of orders that exist.
    const purchases = events.filter((e) => e.eventType === "purchase");
    const orderRevenue = new Map(purchases.map((e) => [e.orderId!, revenueCents(e)]));
    const cancelled = new Set(
      events.filter((e) => e.eventType === "order_cancelled").map((e) => e.orderId!),
    );
    const [o] = await db.sql<
      { orders: number; cancelled_orders: number; cancelled_revenue: number }[]
    >`
      select sum(orders)::int as orders, sum(cancelled_orders)::int as cancelled_orders,
             sum(cancelled_revenue_cents)::bigint as cancelled_revenue from agg_minute_dims`;
    assert.equal(o!.orders, orderRevenue.size);
    const hit = [...cancelled].filter((id) => orderRevenue.has(id));
    assert.equal(o!.cancelled_orders, hit.length);
    assert.equal(o!.cancelled_revenue, hit.reduce((s, id) => s + orderRevenue.get(id)!, 0));

    const prod = await db.sql<{ product_id: string; views: number; revenue: number }[]>`
      select product_id, sum(views)::int as views, sum(revenue_cents)::bigint as revenue
      from agg_product_minute group by product_id`;
    const expViews = new Map<string, { views: number; revenue: number }>();
    for (const e of events) {
      if (!["product_click", "add_to_cart", "purchase"].includes(e.eventType)) continue;
      const r = expViews.get(e.productId!) ?? { views: 0, revenue: 0 };
      if (e.eventType === "product_click") r.views++;
      r.revenue += revenueCents(e);
      expViews.set(e.productId!, r);
    }
    assert.deepEqual(
      new Map(prod.map((p) => [p.product_id, { views: p.views, revenue: p.revenue }])),
      expViews,
    );
  } finally {
    await db.close();
  }
});

Deno.test("a cancellation arriving before its purchase still nets the revenue out", async () => {
  const db = await createTestDb();
  try {
    const t = new Date(minute(Date.now()) - 5 * MIN).toISOString();
    const cancel = makeEvent({ eventType: "order_cancelled", orderId: "o-late", timestamp: t });
    const buy = makeEvent({
      eventType: "purchase",
      orderId: "o-late",
      price: 12.5,
      quantity: 2,
      timestamp: t,
    });
    const other = makeEvent({
      eventType: "purchase",
      orderId: "o-kept",
      price: 3,
      quantity: 1,
      timestamp: t,
    });
    for (const batch of [[cancel], [buy, other], [cancel, buy]]) {
      await flushEvents({ events: accepted(batch), rejects: [], messages: 1, workerId: "t" }, {
        sql: db.sql,
        stages,
        segmentOf,
      });
    }
    const [r] = await db.sql<
      { revenue: number; orders: number; cancelled: number; cancelled_revenue: number }[]
    >`
      select sum(revenue_cents)::bigint as revenue, sum(orders)::int as orders,
             sum(cancelled_orders)::int as cancelled, sum(cancelled_revenue_cents)::bigint as cancelled_revenue
      from agg_minute_dims where event_type = 'purchase'`;
    assert.deepEqual(r, { revenue: 2800, orders: 2, cancelled: 1, cancelled_revenue: 2500 });
  } finally {
    await db.close();
  }
});

Deno.test("an order belongs to its earliest line whichever line arrives first, as rebuild says", async () => {
  const db = await createTestDb();
  try {
    const m0 = minute(Date.now()) - 20 * MIN;
    const line = (orderId: string, atMs: number, category: string, device: "mobile" | "desktop") =>
      makeEvent({
        eventType: "purchase",
        orderId,
        category,
        deviceType: device,
        price: 10,
        quantity: 1,
        timestamp: new Date(atMs).toISOString(),
      });
    const late = line("o-1", m0 + 3 * MIN, "books", "mobile");
    const early = line("o-1", m0, "toys", "desktop");
    const cancelledLate = line("o-2", m0 + 4 * MIN, "books", "mobile");
    const cancelledEarly = line("o-2", m0 + MIN, "toys", "desktop");
    const cancel = makeEvent({
      eventType: "order_cancelled",
      orderId: "o-2",
      timestamp: new Date(m0 + 5 * MIN).toISOString(),
    });
    // The later lines (and the cancellation) are derived first, the earlier lines afterwards.
    await flushAll(db.sql, [late, cancelledLate, cancel]);
    await flushAll(db.sql, [early, cancelledEarly]);
    const snapshot = async () =>
      (await db.sql<{ k: string }[]>`
        select bucket || '|' || category || '|' || device_type || '|' || orders || '|' ||
               cancelled_orders || '|' || cancelled_revenue_cents as k
        from agg_minute_dims
        where event_type = 'purchase' and (orders <> 0 or cancelled_orders <> 0
          or cancelled_revenue_cents <> 0)
        order by 1`).map((r) => r.k);
    const streamed = await snapshot();
    const [o] = await db.sql<{ orders: number; cancelled: number; cr: number }[]>`
      select sum(orders)::int as orders, sum(cancelled_orders)::int as cancelled,
             sum(cancelled_revenue_cents)::int as cr from agg_minute_dims`;
    assert.deepEqual(o, { orders: 2, cancelled: 1, cr: 2000 });
    const [at] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from agg_minute_dims
      where orders = 1 and category = 'toys' and device_type = 'desktop'`;
    assert.equal(at!.n, 2, "both orders sit at their earliest line's dimensions");
    await rebuildAggregates({ from: m0 - MIN, to: m0 + 10 * MIN }, { sql: db.sql });
    assert.deepEqual(await snapshot(), streamed);
  } finally {
    await db.close();
  }
});

Deno.test("ANALYTICS_STAGES selects stages and rejects unknown or inconsistent lists", async () => {
  const { loadConfig, ConfigError } = await import("../shared/mod.ts");
  const { analyticsStages } = await import("../consumer/analytics_stages.ts");
  assert.equal(analyticsStages(loadConfig({})).length, 6);
  assert.equal(analyticsStages(loadConfig({ ANALYTICS_STAGES: "windows, orders" })).length, 2);
  assert.throws(() => loadConfig({ ANALYTICS_STAGES: "windows,bogus" }), ConfigError);
  assert.throws(() => analyticsStages(loadConfig({ ANALYTICS_STAGES: "fraud" })), ConfigError);
});
