import assert from "node:assert/strict";
import { applyEventAliases } from "./event_aliases.ts";
import { validateEvent } from "./event.ts";

Deno.test("applyEventAliases() maps seed 003's snake_case event onto the contract", () => {
  const out = applyEventAliases({
    event_id: "6f1c2a4e-9b7d-4c1e-8f0a-2b3c4d5e6f70",
    user_id: "u1",
    session_id: "s1",
    event_type: "page_view",
    timestamp: "2026-01-01T00:00:00Z",
    page_url: "/",
    device_type: "desktop",
    country: "FR",
    region: "Paris",
    custom_properties: { a: 1 },
  });
  const v = validateEvent(out);
  assert.ok(v.ok, v.ok ? "" : v.reason);
  assert.equal(v.event.pageUrl, "/");
  assert.deepEqual(v.event.properties, { a: 1 });
});

Deno.test("applyEventAliases() lets a camelCase field win and leaves non-objects alone", () => {
  assert.deepEqual(applyEventAliases({ userId: "camel", user_id: "snake" }), { userId: "camel" });
  assert.equal(applyEventAliases(7), 7);
  assert.deepEqual(applyEventAliases([1]), [1]);
  assert.deepEqual(applyEventAliases({ event_type: "click" }), { eventType: "product_click" });
  const kept = applyEventAliases({ location: { country: "DE", region: "x" }, country: "FR" });
  assert.deepEqual(kept, { location: { country: "DE", region: "x" }, country: "FR" });
});

Deno.test("applyEventAliases() normalises type, device and country spellings trackers use", () => {
  const out = applyEventAliases({
    type: "Page View",
    device: "Phone",
    location: { country: "fr", region: "IDF" },
    anonymousId: "a-1",
  }) as Record<string, unknown>;
  assert.equal(out.eventType, "page_view");
  assert.equal(out.deviceType, "mobile");
  assert.deepEqual(out.location, { country: "FR", region: "IDF" });
  assert.equal(out.anonymousId, "a-1", "an unknown field stays, for properties");
  assert.equal(
    (applyEventAliases({ eventType: "addToCart" }) as Record<string, unknown>).eventType,
    "add_to_cart",
  );
  assert.equal(
    (applyEventAliases({ eventType: "smart-fridge" }) as Record<string, unknown>).eventType,
    "smart_fridge",
  );
  assert.equal(
    (applyEventAliases({ device_type: "smart-fridge" }) as Record<string, unknown>).deviceType,
    "smart-fridge",
  );
  assert.deepEqual(applyEventAliases({ country: "US" }), { location: { country: "US" } });
  assert.deepEqual(applyEventAliases({ eventId: "x", type: "click", eventType: "search" }), {
    eventId: "x",
    type: "click",
    eventType: "search",
  });
});

Deno.test("applyEventAliases() moves a purchase's price and quantity up from properties", () => {
  const out = applyEventAliases({
    event_type: "purchase",
    custom_properties: { price: 49.99, quantity: 2, search_query: "shoes", coupon: "X" },
    quantity: 3,
  });
  assert.deepEqual(out, {
    eventType: "purchase",
    properties: { quantity: 2, coupon: "X" },
    price: 49.99,
    quantity: 3,
    searchQuery: "shoes",
  });
});
