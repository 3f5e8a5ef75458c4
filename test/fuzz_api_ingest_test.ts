/**
 * Bad input at `POST /v1/events`, generated with fast-check and sent through `app.request()` to
 * the real app on a real fauxqs queue: malformed JSON, invalid UTF-8, unusual unicode (lone
 * surrogates, NUL, emoji), SQL metacharacters, wrong types, missing fields, huge and deeply nested
 * bodies, oversized batches. Never a 5xx; a refused body is a 4xx problem document; a batch is
 * answered per index, and its valid events still reach the queue (counted at the end).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createApp } from "../api/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import type { Event } from "../shared/mod.ts";
import { fuzzParams, jsonJunk } from "./fuzz_params.ts";
import { createTestDb, createTestSqs, drainQueue, messageEvents } from "./harness.ts";

const db = await createTestDb();
const q = await createTestSqs();
const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl, dlqUrl: q.dlqUrl });
globalThis.addEventListener("unload", () => {
  void app.close().finally(() => Promise.all([q.close(), db.close()]));
});

const gen = createGenerator({ seed: 31, users: 50, products: 20 });
const validEvent = (): Event => gen.next(Date.now() - 1000);
/** Every event the app answered as accepted; the queue must hold exactly these at the end. */
let acceptedTotal = 0;
let triedTotal = 0;

const SQL_META = [
  "'; drop table events; --",
  '" or 1=1 --',
  "$1",
  "\\x00",
  "%' union select * from api_keys --",
  "E'\\\\'",
  "$$ $tag$",
];

/** Strings of every kind: any code point (lone surrogates included), NUL, SQL metacharacters. */
const weirdString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(...SQL_META, "\u0000", "\ud800", "\udfff", "😀", "\u202e", "", " ".repeat(300)),
);

/** Anything JSON can carry, with weird strings as keys and values. */
const junk = jsonJunk(weirdString, 4);

/** A valid event with one field replaced by junk or removed. */
const mutatedEvent = fc.record({
  field: fc.constantFrom(
    "eventId",
    "eventType",
    "timestamp",
    "userId",
    "sessionId",
    "price",
    "quantity",
    "productId",
    "location",
    "properties",
    "deviceType",
    "ipAddress",
  ),
  value: fc.option(junk, { nil: undefined }),
}).map(({ field, value }) => {
  const e: Record<string, unknown> = { ...validEvent() };
  if (value === undefined) delete e[field];
  else e[field] = value;
  return e;
});

function post(body: BodyInit) {
  triedTotal++;
  return app.request("/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
}

/** A 4xx must be a problem document that says what is wrong. */
async function assertProblem(res: Response) {
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
  const p = await res.json();
  assert.equal(p.status, res.status);
  assert.equal(typeof p.title, "string");
  assert.ok(typeof p.detail === "string" && p.detail.length > 0, "a problem says why");
}

/** Checks any answer: 202 with a per-index report, or a 4xx problem; never 5xx. */
async function checkAnswer(res: Response, size: number): Promise<number> {
  assert.ok(res.status < 500, `server error ${res.status}`);
  if (res.status !== 202) {
    await assertProblem(res);
    return 0;
  }
  const r = await res.json();
  assert.equal(r.accepted + r.rejected, size);
  assert.equal(r.errors.length, r.rejected);
  for (const e of r.errors) {
    assert.ok(Number.isInteger(e.index) && e.index >= 0 && e.index < size);
    assert.ok(typeof e.reason === "string" && e.reason.length > 0);
  }
  acceptedTotal += r.accepted;
  return r.accepted;
}

Deno.test("fuzz: arbitrary bytes and strings as the body never cause a 5xx", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }), // invalid UTF-8 and binary garbage
        fc.string({ unit: "binary", maxLength: 300 }).map((s) => new TextEncoder().encode(s)),
        junk.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "undefined")),
        fc.constantFrom(
          "{",
          "[",
          '{"eventId": }',
          "[1,",
          "\u0000",
          "null",
          "[]",
          '"\\ud800"',
          "\xff\xfe",
        ).map((s) => new TextEncoder().encode(s)),
      ),
      async (bytes) => {
        const res = await post(bytes as Uint8Array<ArrayBuffer>);
        const parsed = (() => {
          try {
            return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
          } catch {
            return Symbol.for("invalid");
          }
        })();
        const size = Array.isArray(parsed) ? parsed.length : 1;
        await checkAnswer(res, size);
        if (parsed === Symbol.for("invalid")) assert.equal(res.status, 400);
      },
    ),
    fuzzParams("ingest bytes", 150),
  );
});

Deno.test("fuzz: a batch of junk, mutated and valid events is answered per index; valid ones are accepted", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          { arbitrary: junk.map((value) => ({ kind: "junk" as const, value })), weight: 2 },
          {
            arbitrary: mutatedEvent.map((value) => ({ kind: "mutated" as const, value })),
            weight: 3,
          },
          { arbitrary: fc.constant({ kind: "valid" as const, value: null }), weight: 2 },
        ),
        { minLength: 1, maxLength: 30 },
      ),
      async (items) => {
        const batch = items.map((x) => (x.kind === "valid" ? validEvent() : x.value));
        const res = await post(JSON.stringify(batch));
        assert.equal(res.status, 202);
        const r = await res.clone().json();
        await checkAnswer(res, batch.length);
        const refused = new Set<number>(r.errors.map((e: { index: number }) => e.index));
        items.forEach((x, i) => {
          if (x.kind === "valid") assert.ok(!refused.has(i), `valid event at ${i} was refused`);
          // Junk is never an event; a mutated event may still be valid (an optional field).
          if (x.kind === "junk") assert.ok(refused.has(i), `junk accepted: ${JSON.stringify(x)}`);
        });
      },
    ),
    fuzzParams("ingest batches", 60),
  );
});

Deno.test("fuzz: huge, deeply nested and oversized bodies get a 4xx problem, not a crash", async () => {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  const deepObject = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.integer({ min: 1000, max: 200_000 }).map(nested),
        fc.integer({ min: 1000, max: 100_000 }).map(deepObject),
        fc.integer({ min: 501, max: 2000 }).map((n) =>
          JSON.stringify(Array.from({ length: n }, () => ({ eventType: "page_view" })))
        ),
        fc.integer({ min: 1_048_577, max: 1_600_000 }).map((n) =>
          JSON.stringify({ ...validEvent(), properties: { note: "x".repeat(n) } })
        ),
      ),
      async (body) => {
        const res = await post(body);
        assert.ok(res.status < 500, `server error ${res.status} for ${body.length} bytes`);
        if (res.status === 202) {
          // Deep nesting that parses is one (invalid) event: refused by index.
          const r = await res.json();
          assert.equal(r.accepted, 0);
          return;
        }
        await assertProblem(res);
      },
    ),
    fuzzParams("ingest huge bodies", 20),
  );
  const res = await post(JSON.stringify(Array.from({ length: 501 }, validEvent)));
  assert.equal(res.status, 413);
  await assertProblem(res);
});

Deno.test("every event the API accepted is in the queue, and nothing else", async () => {
  await app.close(); // flushes the ingestion sender
  const inQueue = messageEvents(await drainQueue(q)).length;
  assert.ok(triedTotal > 200, `only ${triedTotal} bad inputs tried`);
  assert.ok(acceptedTotal > 0);
  assert.equal(inQueue, acceptedTotal);
});
