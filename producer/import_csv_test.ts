import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Event } from "../shared/mod.ts";
import { columnField, importCsv, normaliseTimestamp } from "./import_csv.ts";

const FIXTURE = fileURLToPath(new URL("../test/fixtures/partner_feed.csv", import.meta.url));

async function load() {
  const sent: Event[] = [];
  const result = await importCsv(FIXTURE, { send: (e) => Promise.resolve(void sent.push(e)) });
  return { sent, result };
}

Deno.test("import-csv sends valid rows and reports the others with their line numbers", async () => {
  const { sent, result } = await load();
  assert.equal(result.rows, 12);
  assert.equal(result.sent, 8);
  assert.equal(sent.length, 8);
  assert.deepEqual(result.errors.map((e) => e.line), [9, 10, 11, 13]);
  assert.match(result.errors[0]!.reason, /timestamp/);
  assert.match(result.errors[1]!.reason, /deviceType/);
  assert.match(result.errors[2]!.reason, /price/);
  // The lenient contract: a purchase without an order id is an order of its own.
  const own = sent.find((e) => e.userId === "partner-u3" && e.eventType === "purchase")!;
  assert.equal(own.orderId, own.eventId);
  assert.deepEqual(result.unmappedColumns, ["campaign"]);
});

Deno.test("import-csv maps snake_case and dotted headers, normalises values, keeps emoji", async () => {
  const { sent } = await load();
  const purchase = sent.find((e) => e.orderId === "po-1001")!;
  assert.equal(purchase.price, 89.99);
  assert.equal(purchase.quantity, 1);
  assert.deepEqual(purchase.location, { country: "US", region: "CA" });
  assert.deepEqual(purchase.properties, { campaign: "spring_sale" });
  assert.equal(sent.find((e) => e.eventType === "search")!.searchQuery, "running shoes 👟");
  assert.ok(sent.some((e) => e.searchQuery === 'café, "crème" ☕'));
  const derived = sent.filter((e) => e.userId === "partner-u2");
  assert.equal(derived[0]!.timestamp, "2026-01-15T11:00:00Z");
  assert.equal(derived[0]!.location.country, "DE");
  assert.equal(derived[1]!.timestamp, new Date(1768474900 * 1000).toISOString());
  assert.equal(derived[0]!.sessionId, "csv-partner-u2-2026-01-15");
  // Rows without an id get one from their content: the same on every import.
  const again = await load();
  assert.deepEqual(
    again.sent.map((e) => e.eventId),
    sent.map((e) => e.eventId),
  );
  assert.notEqual(derived[0]!.eventId, derived[1]!.eventId);
});

Deno.test("headers map in camelCase, snake_case, spaced and dotted forms", () => {
  assert.equal(columnField("eventId"), "eventId");
  assert.equal(columnField("event_id"), "eventId");
  assert.equal(columnField("Event ID"), "eventId");
  assert.equal(columnField("location.country"), "location.country");
  assert.equal(columnField("country"), "location.country");
  assert.equal(columnField("deviceType"), "deviceType");
  assert.equal(columnField("favourite_colour"), undefined);
  assert.equal(normaliseTimestamp("2026-01-15T10:30:00+02:00"), "2026-01-15T10:30:00+02:00");
  assert.equal(normaliseTimestamp("1768474900000"), new Date(1768474900000).toISOString());
});
