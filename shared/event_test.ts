import assert from "node:assert/strict";
import {
  canonicalJson,
  deriveEventId,
  EVENT_TYPES,
  REQUIRED_BY_TYPE,
  revenueCents,
  STRICT_REQUIRED_BY_TYPE,
  validateEvent,
} from "./mod.ts";

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

Deno.test("validateEvent() in the strict contract names the field a purchase is missing", () => {
  const { orderId: _, ...noOrder } = base;
  const r = validateEvent(noOrder, "strict");
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : "", /orderId.*required for eventType "purchase"/);
  const { price: _p, ...noPrice } = base;
  const lenient = validateEvent(noPrice);
  assert.match(!lenient.ok ? lenient.reason : "", /price.*required for eventType "purchase"/);
});

Deno.test("validateEvent() in the lenient contract needs only type, user and time, and fills the rest", () => {
  const r = validateEvent({
    userId: "u1",
    eventType: "page_view",
    timestamp: "2024-01-15T10:30:00.123456",
    plan: "pro",
    properties: { theme: "dark" },
  });
  assert.ok(r.ok, r.ok ? "" : r.reason);
  const e = r.event;
  assert.equal(e.sessionId, "unknown");
  assert.equal(e.deviceType, "unknown");
  assert.deepEqual(e.location, { country: "unknown", region: "unknown" });
  assert.equal(e.category, undefined, "a page view has no category to default");
  assert.equal(e.timestamp, "2024-01-15T10:30:00.123456Z", "no offset is UTC");
  assert.equal(e.schemaVersion, 1);
  assert.deepEqual(e.properties, { plan: "pro", theme: "dark" }, "unknown fields kept");
  assert.match(e.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  const purchase = validateEvent({
    userId: "u1",
    eventType: "purchase",
    timestamp: "2024-01-15T10:30:00Z",
    price: 5,
    quantity: 2,
  });
  assert.ok(purchase.ok);
  assert.equal(purchase.event.category, "unknown");
  assert.equal(purchase.event.orderId, purchase.event.eventId, "its own order");
  assert.equal(revenueCents(purchase.event), 1000);

  const strict = validateEvent({ ...base, extra: 1 }, "strict");
  assert.ok(strict.ok);
  assert.equal("extra" in strict.event, false, "strict drops unknown fields");
  assert.equal(strict.event.properties, undefined);
});

Deno.test("deriveEventId() is the UUIDv8 of the SHA-256 of the canonical JSON without eventId", async () => {
  const { eventId: _, ...content } = base;
  const a = validateEvent(content);
  const b = validateEvent(JSON.parse(JSON.stringify(Object.fromEntries(
    Object.entries(content).reverse(),
  ))));
  assert.ok(a.ok && b.ok);
  assert.equal(a.event.eventId, b.event.eventId, "key order does not matter");
  assert.equal(deriveEventId(a.event), a.event.eventId);
  // The documented rule, computed independently with Web Crypto.
  const { eventId: __, ...normalised } = a.event;
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson(normalised))),
  );
  digest[6] = (digest[6]! & 0x0f) | 0x80;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = [...digest.slice(0, 16)].map((x) => x.toString(16).padStart(2, "0")).join("");
  assert.equal(
    a.event.eventId,
    `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
      hex.slice(20)
    }`,
  );
  assert.equal(
    canonicalJson({ b: [1, { d: 2, c: "x" }], a: null }),
    '{"a":null,"b":[1,{"c":"x","d":2}]}',
  );
  const other = validateEvent({ ...content, price: 299.98 });
  assert.ok(other.ok);
  assert.notEqual(other.event.eventId, a.event.eventId);
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
    for (const contract of ["lenient", "strict"] as const) {
      const r = validateEvent(value, contract);
      assert.equal(r.ok, false, JSON.stringify(value));
      assert.match(!r.ok ? r.reason : "", reason);
    }
  }
});

Deno.test("validateEvent() rejects in the strict contract what the lenient one fills in", () => {
  const cases: [unknown, RegExp][] = [
    [{ ...base, eventId: undefined }, /eventId/],
    [{ ...base, sessionId: undefined }, /sessionId/],
    [{ ...base, location: undefined }, /location/],
    [{ ...base, deviceType: "unknown" }, /deviceType/],
    [{ ...base, timestamp: "2024-01-15T10:30:00" }, /timestamp/],
    [{ ...base, eventType: "search" }, /searchQuery/],
  ];
  for (const [value, reason] of cases) {
    assert.equal(validateEvent(value).ok, true, JSON.stringify(value));
    const r = validateEvent(value, "strict");
    assert.equal(r.ok, false, JSON.stringify(value));
    assert.match(!r.ok ? r.reason : "", reason);
  }
});

Deno.test("every event type lists its required fields in both contracts", () => {
  for (const t of EVENT_TYPES) {
    assert.ok(Array.isArray(REQUIRED_BY_TYPE[t]), t);
    assert.ok(Array.isArray(STRICT_REQUIRED_BY_TYPE[t]), t);
  }
});

Deno.test("revenueCents() is exact in cents and zero for non-purchases", () => {
  assert.equal(revenueCents({ eventType: "purchase", price: 0.1, quantity: 3 }), 30);
  assert.equal(revenueCents({ eventType: "purchase", price: 299.99, quantity: 2 }), 59998);
  assert.equal(revenueCents({ eventType: "add_to_cart", price: 10, quantity: 1 }), 0);
});
