/** Fraud reasons for injected patterns, the user risk profile, and inventory stock and alerts. */
import assert from "node:assert/strict";
import { flushAll, makeEvent } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;

Deno.test("fraud scores name the injected patterns and alert above the threshold in the same flush", async () => {
  const db = await createTestDb();
  try {
    const t0 = Date.now() - 3_600_000;
    const at = (m: number) => new Date(t0 + m * MIN).toISOString();
    // A returning user from the US, then four purchases from one shared IP in BR within 3 minutes.
    const history = makeEvent({
      eventType: "page_view",
      userId: "u-victim",
      timestamp: at(-30 * 24 * 60 + 100),
    });
    const home = makeEvent({ eventType: "page_view", userId: "u-victim", timestamp: at(0) });
    const br = { country: "BR", region: "SP" };
    const buys = [1, 2, 3, 3].map((m, i) =>
      makeEvent({
        eventType: "purchase",
        userId: "u-victim",
        orderId: `o-f${i}`,
        price: 100,
        quantity: 1,
        ipAddress: "203.0.113.9",
        location: br,
        timestamp: at(m),
      })
    );
    // A brand-new user spending 2,500.00 at once from their home country.
    const big = makeEvent({
      eventType: "purchase",
      userId: "u-new",
      orderId: "o-big",
      price: 2500,
      quantity: 1,
      ipAddress: "198.51.100.7",
      timestamp: at(5),
    });
    // An ordinary purchase.
    const plain = makeEvent({
      eventType: "purchase",
      userId: "u-ok",
      orderId: "o-ok",
      ipAddress: "198.51.100.8",
      timestamp: at(5),
    });
    await flushAll(db.sql, [history, home]);
    await flushAll(db.sql, [...buys, big, plain]);
    await flushAll(db.sql, [...buys, big, plain]); // redelivery: no new scores, no new alerts

    const scores = await db.sql<{ order_id: string; score: number; reasons: string[] }[]>`
      select order_id, score, reasons from fraud_scores order by order_id`;
    const by = new Map(scores.map((s) => [s.order_id, s]));
    assert.equal(scores.length, 6);
    const rules = (id: string) => by.get(id)!.reasons.map((r) => r.split(":")[0]);
    // First BR order: unusual geography only (one order from that IP so far at minute 1).
    assert.deepEqual(rules("o-f0"), ["unusual_geo"]);
    assert.equal(by.get("o-f0")!.score, 30);
    // By minute 3 the IP and the user have four orders in the window: every rule but high value.
    assert.deepEqual(rules("o-f2"), ["same_ip", "unusual_geo", "velocity"]);
    assert.equal(by.get("o-f2")!.score, 100);
    assert.deepEqual(rules("o-big"), ["new_user_high_value"]);
    assert.equal(by.get("o-big")!.score, 40);
    assert.deepEqual(rules("o-ok"), []);
    assert.equal(by.get("o-ok")!.score, 0);
    assert.ok(
      scores.every((s) => !s.reasons.join(" ").includes("203.0.113.9")),
      "no raw IP in reasons",
    );

    const alerts = await db.sql<{ dedupe_key: string; kind: string }[]>`
      select dedupe_key, kind from alerts where kind = 'fraud' order by dedupe_key`;
    // o-f1 (minute 2): 2 IP orders < 3, 2 user orders < 3 → geo only. o-f2, o-f3 reach the rules.
    assert.deepEqual(alerts.map((a) => a.dedupe_key), ["fraud:order:o-f2", "fraud:order:o-f3"]);
    const [outbox] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from alert_outbox where kind = 'fraud'`;
    assert.equal(outbox!.n, 2);
    const [risk] = await db.sql<{ scored_orders: number; flagged: number; max_score: number }[]>`
      select scored_orders, flagged, max_score from user_risk where user_id = 'u-victim'`;
    assert.deepEqual(risk, { scored_orders: 4, flagged: 2, max_score: 100 });
  } finally {
    await db.close();
  }
});

Deno.test("inventory follows counts and purchases by event time and alerts once below the threshold", async () => {
  const db = await createTestDb();
  try {
    const t0 = Date.now() - 3_600_000;
    const at = (m: number) => new Date(t0 + m * MIN).toISOString();
    const count = (m: number, stock: number) =>
      makeEvent({
        eventType: "inventory_update",
        productId: "p-9",
        category: "toys",
        stock,
        timestamp: at(m),
      });
    const buy = (m: number, quantity: number) =>
      makeEvent({
        eventType: "purchase",
        productId: "p-9",
        category: "toys",
        quantity,
        timestamp: at(m),
      });
    const cancel = (m: number, quantity: number) =>
      makeEvent({
        eventType: "order_cancelled",
        orderId: `o-${m}`,
        productId: "p-9",
        category: "toys",
        quantity,
        timestamp: at(m),
      });
    const stock = async () => {
      const [r] = await db.sql<{ stock: number; low: boolean }[]>`
        select (stock_base - sold_after)::int as stock, low from inventory where product_id = 'p-9'`;
      return r;
    };
    // A purchase before any count: stock unknown, no alert.
    await flushAll(db.sql, [buy(1, 2)]);
    await flushAll(db.sql, [count(0, 20)]); // a count older than that purchase: 20 − 2
    assert.deepEqual(await stock(), { stock: 18, low: false });
    await flushAll(db.sql, [buy(2, 5), buy(3, 4)]); // 9 left < 10 → alert
    assert.deepEqual(await stock(), { stock: 9, low: true });
    await flushAll(db.sql, [buy(4, 1), buy(0, 3)]); // a purchase older than the count is ignored
    assert.deepEqual(await stock(), { stock: 8, low: true });
    const alerts = async () =>
      (await db.sql<
        { n: number }[]
      >`select count(*)::int as n from alerts where kind = 'inventory'`)[0]!.n;
    assert.equal(await alerts(), 1);
    await flushAll(db.sql, [count(5, 50)]); // restocked
    assert.deepEqual(await stock(), { stock: 50, low: false });
    await flushAll(db.sql, [buy(6, 45)]); // below again: a second alert
    assert.deepEqual(await stock(), { stock: 5, low: true });
    assert.equal(await alerts(), 2);
    // A cancelled order puts its units back; one older than the count changes nothing.
    await flushAll(db.sql, [cancel(7, 4), cancel(4, 9)]);
    assert.deepEqual(await stock(), { stock: 9, low: true });
    // Sold down to 0 and cancelled back up: never below zero, recounted the same after a count.
    await flushAll(db.sql, [buy(8, 9), cancel(9, 3)]);
    assert.deepEqual(await stock(), { stock: 3, low: true });
    await flushAll(db.sql, [count(7, 12)]); // a newer count: 12 − 9 + 3 after it
    assert.deepEqual(await stock(), { stock: 6, low: true });
  } finally {
    await db.close();
  }
});
