import assert from "node:assert/strict";
import { EVENT_TYPES, REQUIRED_BY_TYPE, revenueCents, validateEvent } from "./mod.ts";

const base = {
  eventId: "7d0c5a4e-3b1f-4c2a-9e8d-1f2a3b4c5d6e",
  userId: "user123",
  sessionId: "session456",
  eventType: "purchase",
  timestamp: "2024-01-15T10:30:00Z",
  productId: "prod789",
  category: "electronics",
  price: 299.99,
  quantity: 1,
  orderId: "o-1",
  deviceType: "mobile",
  location: { country: "US", region: "CA" },
};

Deno.test("validateEvent() accepts seed 002's sample purchase", () => {
  const r = validateEvent(base);
  assert.equal(r.ok, true);
});

Deno.test("validateEvent() names the field a purchase is missing", () => {
  const { orderId: _, ...noOrder } = base;
  const r = validateEvent(noOrder);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : "", /orderId.*required for eventType "purchase"/);
});

Deno.test("validateEvent() rejects wrong types, unknown event types and bad ids with reasons", () => {
  const cases: [unknown, RegExp][] = [
    [{ ...base, price: "12" }, /price/],
    [{ ...base, eventType: "teleport" }, /eventType/],
    [{ ...base, eventId: "not-a-uuid" }, /eventId/],
    [{ ...base, timestamp: "yesterday" }, /timestamp/],
    [{ ...base, location: { country: "usa", region: "CA" } }, /location\.country/],
    [{ ...base, price: 1.005 }, /two decimals/],
    [{ ...base, userId: "a\u0000b" }, /NUL/],
    [{ ...base, searchQuery: "half \ud83d" }, /well-formed Unicode/],
    [{ ...base, properties: { note: "x\udc00" } }, /lone surrogates/],
    [null, /\(event\)/],
    ["string", /\(event\)/],
  ];
  for (const [value, reason] of cases) {
    const r = validateEvent(value);
    assert.equal(r.ok, false, JSON.stringify(value));
    assert.match(!r.ok ? r.reason : "", reason);
  }
});

Deno.test("every event type lists its required fields", () => {
  for (const t of EVENT_TYPES) assert.ok(Array.isArray(REQUIRED_BY_TYPE[t]), t);
});

Deno.test("revenueCents() is exact in cents and zero for non-purchases", () => {
  assert.equal(revenueCents({ eventType: "purchase", price: 0.1, quantity: 3 }), 30);
  assert.equal(revenueCents({ eventType: "purchase", price: 299.99, quantity: 2 }), 59998);
  assert.equal(revenueCents({ eventType: "add_to_cart", price: 10, quantity: 1 }), 0);
});
