import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkInputLimits,
  compiledValidator,
  CONTRACT_SCHEMAS,
  decodeEvent,
  DEVICE_TYPES,
  EVENT_CONTRACTS,
  EVENT_TYPES,
  validateEvent,
} from "./mod.ts";
import { fuzzParams } from "../test/fuzz_params.ts";

/** A valid event of either contract: every field the strict one wants, some optional ones. */
const validEvent = fc.record({
  eventId: fc.uuid({ version: [4, 7, 8] }),
  userId: fc.string({ minLength: 1, maxLength: 20 }),
  sessionId: fc.string({ minLength: 1, maxLength: 20 }),
  eventType: fc.constantFrom(...EVENT_TYPES),
  timestamp: fc.date({
    min: new Date("2000-01-01T00:00:00Z"),
    max: new Date("2100-01-01T00:00:00Z"),
    noInvalidDate: true,
  }).map((d) => d.toISOString()),
  deviceType: fc.constantFrom(...DEVICE_TYPES),
  location: fc.record({
    country: fc.constantFrom("US", "FR", "DE", "JP"),
    region: fc.string({ minLength: 1, maxLength: 10 }),
  }),
  productId: fc.string({ minLength: 1, maxLength: 10 }),
  category: fc.string({ minLength: 1, maxLength: 10 }),
  price: fc.integer({ min: 0, max: 100_000_000 }).map((c) => c / 100),
  quantity: fc.integer({ min: 1, max: 10_000 }),
  pageUrl: fc.webUrl(),
  searchQuery: fc.string({ maxLength: 30 }),
  orderId: fc.string({ minLength: 1, maxLength: 10 }),
  rating: fc.integer({ min: 1, max: 5 }),
  stock: fc.integer({ min: 0, max: 1000 }),
  ipAddress: fc.oneof(fc.ipV4(), fc.ipV6()),
  properties: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue(), {
    maxKeys: 5,
  }),
}, {
  requiredKeys: [
    "eventId",
    "userId",
    "sessionId",
    "eventType",
    "timestamp",
    "deviceType",
    "location",
  ],
});

/** Values that probe each keyword's edges: wrong types, boundaries, text PostgreSQL refuses. */
const edgeValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    "",
    "unknown",
    "US",
    "usa",
    "2024-01-15T10:30:00",
    "2024-02-30T10:30:00Z",
    "2024-01-15T10:30:00+02:00",
    "2024-01-15",
    "a\u0000b",
    "x\ud800",
    "😀".repeat(33),
    "x".repeat(129),
    "00000000-0000-0000-0000-000000000000",
    "7D0C5A4E-3B1F-4C2A-9E8D-1F2A3B4C5D6E",
    "::1",
    "1.2.3.256",
    -0,
    0.1 + 0.2,
    1.005,
    299.99,
    1_000_000.01,
    10_001,
    2 ** 53,
    0.5,
    { country: "US" },
    { region: "CA" },
    { country: "unknown", region: "x" },
    Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])),
    { "": 1 },
    { ["k".repeat(65)]: 1 },
  ),
  fc.string({ unit: "binary", maxLength: 70 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const fieldNames = fc.constantFrom(
  "eventId",
  "userId",
  "sessionId",
  "eventType",
  "timestamp",
  "deviceType",
  "location",
  "productId",
  "category",
  "price",
  "quantity",
  "pageUrl",
  "referrer",
  "userAgent",
  "ipAddress",
  "searchQuery",
  "orderId",
  "rating",
  "stock",
  "schemaVersion",
  "properties",
  "somethingElse",
);

/** A valid event with a few fields deleted, replaced by edge values, or added. */
const mutatedEvent = fc.tuple(
  validEvent,
  fc.array(fc.tuple(fc.boolean(), fieldNames, edgeValue), { maxLength: 3 }),
).map(([event, edits]) => {
  const out: Record<string, unknown> = JSON.parse(JSON.stringify(event));
  for (const [remove, field, value] of edits) {
    if (remove) delete out[field];
    else out[field] = value;
  }
  return JSON.parse(JSON.stringify(out)) as unknown;
});

Deno.test("compiledValidator() agrees with the zod schema on accept and reject, in both contracts (property)", () => {
  let accepted = 0;
  let rejected = 0;
  fc.assert(
    fc.property(fc.oneof(validEvent, mutatedEvent, mutatedEvent), (value) => {
      // The compiled validator only ever sees values within the input limits.
      fc.pre(checkInputLimits(value) === null);
      for (const contract of EVENT_CONTRACTS) {
        const zod = CONTRACT_SCHEMAS[contract].safeParse(value).success;
        const compiled = compiledValidator(contract)(value);
        assert.equal(compiled, zod, `${contract}: ${JSON.stringify(value)}`);
        zod ? accepted++ : rejected++;
      }
    }),
    fuzzParams("compiled validator = zod", 3000),
  );
  assert.ok(accepted > 100 && rejected > 100, `${accepted} accepted, ${rejected} rejected`);
});

Deno.test("decodeEvent() gives the same event as validateEvent() (zod) for valid events (property)", () => {
  fc.assert(
    fc.property(validEvent, (value) => {
      const json = JSON.parse(JSON.stringify(value));
      for (const contract of EVENT_CONTRACTS) {
        assert.deepEqual(decodeEvent(json, contract), validateEvent(json, contract));
      }
    }),
    fuzzParams("decode = zod path", 300),
  );
});
