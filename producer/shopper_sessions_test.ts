import assert from "node:assert/strict";
import { type Event, validateEvent } from "../shared/mod.ts";
import {
  createGenerator,
  INVENTORY_USER,
  parseExperiment,
  parseMix,
  SESSION_TIMEOUT_MS,
} from "./shopper_sessions.ts";

const T0 = Date.parse("2026-03-02T09:00:00Z");

/** Events at a steady `perSecond` rate from T0. */
function run(n: number, opts: Parameters<typeof createGenerator>[0] = {}, perSecond = 1000) {
  const gen = createGenerator({ seed: 11, users: 300, products: 80, ...opts });
  const events: Event[] = [];
  for (let i = 0; i < n; i++) events.push(gen.next(T0 + Math.floor((i * 1000) / perSecond)));
  return { gen, events };
}

function bySession(events: Event[]): Map<string, Event[]> {
  const out = new Map<string, Event[]>();
  for (const e of events) {
    if (e.userId === INVENTORY_USER) continue;
    const list = out.get(e.sessionId) ?? [];
    list.push(e);
    out.set(e.sessionId, list);
  }
  return out;
}

Deno.test("next() returns only events valid against the schema, with every event type", () => {
  const { events } = run(30_000);
  const types = new Set<string>();
  for (const e of events) {
    const r = validateEvent(e);
    assert.ok(r.ok, `${JSON.stringify(e)}: ${r.ok ? "" : r.reason}`);
    types.add(e.eventType);
  }
  assert.equal(types.size, 9);
});

Deno.test("sessions follow the funnel: landing first, cart and purchases after their product was seen", () => {
  const { events } = run(30_000);
  for (const [sessionId, list] of bySession(events)) {
    assert.equal(list[0]!.eventType, "page_view", `session ${sessionId} does not open with a view`);
    assert.ok(list.every((e) => e.userId === list[0]!.userId), "a session has one user");
    const seen = new Set<string>();
    const added = new Set<string>();
    let last = 0;
    for (const e of list) {
      const t = Date.parse(e.timestamp);
      assert.ok(t >= last, "events of a session are in time order");
      last = t;
      if (e.eventType === "product_click") seen.add(e.productId!);
      if (e.eventType === "page_view" && e.pageUrl?.startsWith("/p/")) seen.add(e.pageUrl.slice(3));
      if (e.eventType === "add_to_cart") {
        assert.ok(seen.has(e.productId!), `added ${e.productId} before viewing it`);
        added.add(e.productId!);
      }
      if (e.eventType === "remove_from_cart" || e.eventType === "purchase") {
        assert.ok(added.has(e.productId!), `${e.eventType} of ${e.productId} never added to cart`);
      }
    }
  }
});

Deno.test("purchases name catalog products at catalog prices, with unique order ids", () => {
  const { gen, events } = run(30_000);
  const catalog = new Map(gen.products.map((p) => [p.productId, p]));
  const orders = new Set<string>();
  let purchases = 0;
  for (const e of events.filter((e) => e.eventType === "purchase")) {
    purchases++;
    const p = catalog.get(e.productId!);
    assert.ok(p, `purchase of unknown product ${e.productId}`);
    assert.equal(e.price, p.price);
    assert.equal(e.category, p.category);
    assert.ok(!orders.has(e.orderId!), `order id ${e.orderId} used twice`);
    orders.add(e.orderId!);
  }
  assert.ok(purchases > 300, `only ${purchases} purchases`);
});

Deno.test("cancellations refer to an earlier order of the same user, each at most once", () => {
  const { events } = run(40_000);
  const placed = new Map<string, { userId: string; timeMs: number }>();
  const cancelled = new Set<string>();
  let n = 0;
  for (const e of events) {
    if (e.eventType === "purchase") {
      placed.set(e.orderId!, { userId: e.userId, timeMs: Date.parse(e.timestamp) });
    }
    if (e.eventType === "order_cancelled") {
      n++;
      const order = placed.get(e.orderId!);
      assert.ok(order, `cancelled unknown order ${e.orderId}`);
      assert.equal(order.userId, e.userId);
      assert.ok(order.timeMs <= Date.parse(e.timestamp));
      assert.ok(!cancelled.has(e.orderId!), `order ${e.orderId} cancelled twice`);
      cancelled.add(e.orderId!);
    }
  }
  assert.ok(n > 10, `only ${n} cancellations`);
});

Deno.test("reviews are written by users about products they bought", () => {
  const { events } = run(40_000);
  const bought = new Set<string>();
  let reviews = 0;
  for (const e of events) {
    if (e.eventType === "purchase") bought.add(`${e.userId} ${e.productId}`);
    if (e.eventType === "product_review") {
      reviews++;
      assert.ok(bought.has(`${e.userId} ${e.productId}`));
    }
  }
  assert.ok(reviews > 10);
});

Deno.test("the same seed and times reproduce the same events; another seed does not", () => {
  const a = run(5_000).events;
  const b = run(5_000).events;
  assert.deepEqual(a, b);
  const c = run(5_000, { seed: 12 }).events;
  assert.notDeepEqual(a.map((e) => e.eventId), c.map((e) => e.eventId));
  assert.deepEqual(run(1, { seed: 3 }).gen.users, run(1, { seed: 3 }).gen.users);
});

Deno.test("thirty minutes without an event end a session; the next event opens a new one", () => {
  const gen = createGenerator({
    seed: 5,
    users: 1,
    products: 10,
    mix: { page_view: 1, search: 1 },
  });
  const first = gen.next(T0);
  const second = gen.next(T0 + 60_000);
  assert.equal(second.sessionId, first.sessionId);
  const atLimit = gen.next(T0 + 60_000 + SESSION_TIMEOUT_MS);
  assert.equal(atLimit.sessionId, first.sessionId, "exactly 30 minutes is still the same session");
  const after = gen.next(T0 + 60_001 + 2 * SESSION_TIMEOUT_MS);
  assert.notEqual(after.sessionId, first.sessionId);
  assert.equal(after.eventType, "page_view", "a new session opens with a landing page view");

  // At a low rate with pauses, no session ever holds a gap of more than 30 minutes.
  const slow = createGenerator({ seed: 6, users: 20, products: 10 });
  let t = T0;
  const events: Event[] = [];
  for (let i = 0; i < 5_000; i++) events.push(slow.next(t += i % 50 === 0 ? 40 * 60_000 : 20_000));
  let splits = 0;
  const lastByUser = new Map<string, Event>();
  for (const e of events) {
    if (e.userId === INVENTORY_USER) continue; // its "session" is the day
    const prev = lastByUser.get(e.userId);
    const gap = prev ? Date.parse(e.timestamp) - Date.parse(prev.timestamp) : 0;
    if (prev && prev.sessionId === e.sessionId) assert.ok(gap <= SESSION_TIMEOUT_MS);
    if (prev && gap > SESSION_TIMEOUT_MS) splits++;
    lastByUser.set(e.userId, e);
  }
  assert.ok(splits > 10);
});

Deno.test("purchases consume stock and restocks refill it", () => {
  const gen = createGenerator({ seed: 21, users: 200, products: 5 });
  const initial = new Map(gen.products.map((p) => [p.productId, p.stock]));
  let t = T0;
  let restocks = 0;
  const sold = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const e = gen.next(t += 50);
    if (e.eventType === "purchase") {
      sold.set(e.productId!, (sold.get(e.productId!) ?? 0) + e.quantity!);
    }
    if (e.eventType === "inventory_update" && e.properties?.reason === "restock") {
      restocks++;
      assert.ok(e.stock! > 0);
    }
  }
  assert.ok(restocks > 0, "no restock happened");
  assert.ok([...sold.values()].reduce((a, b) => a + b, 0) > 0);
  // Stock never goes negative through the funnel (sold-out lines are removed instead).
  for (const p of gen.products) assert.ok(p.stock >= 0, `${p.productId} stock ${p.stock}`);
  assert.notDeepEqual(new Map(gen.products.map((p) => [p.productId, p.stock])), initial);
});

Deno.test("users carry segments, homes and devices; products carry categories and 2-decimal prices", () => {
  const gen = createGenerator({ seed: 1, users: 2_000, products: 300 });
  const segments = new Map<string, number>();
  for (const u of gen.users) segments.set(u.segment, (segments.get(u.segment) ?? 0) + 1);
  assert.deepEqual([...segments.keys()].sort(), ["loyal", "new", "returning"]);
  assert.ok(gen.users.every((u) => /^[A-Z]{2}$/.test(u.country) && u.region && u.ipAddress));
  assert.ok(gen.products.every((p) => Math.abs(p.price * 100 - Math.round(p.price * 100)) < 1e-9));
  assert.ok(gen.products.every((p) => p.price > 0 && p.category));
});

Deno.test("loyal shoppers convert more often than new ones", () => {
  const { gen, events } = run(60_000);
  const segmentOf = new Map(gen.users.map((u) => [u.userId, u.segment]));
  const rate = (segment: string) => {
    const mine = events.filter((e) => segmentOf.get(e.userId) === segment);
    return mine.filter((e) => e.eventType === "purchase").length / mine.length;
  };
  assert.ok(rate("loyal") > rate("new"), `loyal ${rate("loyal")} vs new ${rate("new")}`);
});

Deno.test("a mix weight of 0 means that type is never generated; parseMix rejects bad input", () => {
  const mix = parseMix("page_view=50,search=10,product_click=10,add_to_cart=5,purchase=0");
  const { events } = run(10_000, { mix });
  assert.ok(!events.some((e) => e.eventType === "purchase" || e.eventType === "inventory_update"));
  assert.throws(() => parseMix("page_vue=1"), /Unknown event type "page_vue"/);
  assert.throws(() => parseMix("page_view=x"), /Invalid mix entry/);
  assert.throws(() => parseMix("page_view=0"), /selects no event type/);
  assert.throws(() => createGenerator({ mix: { purchase: 1 } }), /needs page_view/);
});

Deno.test("a simulated experiment tags every shopper event and splits users evenly", () => {
  const g = createGenerator({ seed: 5, users: 4000, experiment: parseExperiment("banner:0.2") });
  const variants = new Map<string, string>();
  for (let i = 0; i < 40_000; i++) {
    const e = g.next(1_700_000_000_000 + i * 50);
    const p = e.properties as Record<string, unknown> | undefined;
    if (e.eventType === "inventory_update") {
      assert.equal(p?.experiment, undefined);
      continue;
    }
    assert.equal(p?.experiment, "banner");
    const v = String(p?.variant);
    assert.ok(v === "control" || v === "treatment");
    // One user, one arm, on every event.
    assert.equal(variants.get(e.userId) ?? v, v);
    variants.set(e.userId, v);
  }
  const treated = [...variants.values()].filter((v) => v === "treatment").length;
  const n = variants.size;
  // Within 3.5 standard deviations of an even split.
  assert.ok(Math.abs(treated - n / 2) < 3.5 * Math.sqrt(n) / 2, `${treated} of ${n}`);
});

Deno.test("parseExperiment() reads NAME:LIFT[:SHARE] and rejects what cannot be simulated", () => {
  assert.deepEqual(parseExperiment("checkout:0.2"), {
    name: "checkout",
    lift: 0.2,
    treatmentShare: 0.5,
  });
  assert.deepEqual(parseExperiment("x:-0.1:0.3"), { name: "x", lift: -0.1, treatmentShare: 0.3 });
  assert.throws(() => parseExperiment("checkout"), RangeError);
  assert.throws(() => parseExperiment("checkout:-1"), RangeError);
  assert.throws(() => parseExperiment("checkout:0.2:1"), RangeError);
});

Deno.test("the generator's event ids are UUIDv7s of the event time, and seeded runs repeat them", () => {
  const a = createGenerator({ seed: 9, users: 5, products: 3 });
  const b = createGenerator({ seed: 9, users: 5, products: 3 });
  const t = Date.parse("2026-11-30T03:00:00.123Z");
  for (let i = 0; i < 50; i++) {
    const e = a.next(t + i);
    assert.equal(e.eventId, b.next(t + i).eventId);
    assert.match(
      e.eventId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const ms = parseInt(e.eventId.replaceAll("-", "").slice(0, 12), 16);
    assert.equal(ms, Date.parse(e.timestamp));
  }
});
