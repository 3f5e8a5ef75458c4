/**
 * Bad input on the queue, generated with fast-check: raw SQS message bodies (garbage of any code
 * point SQS carries, JSON that is not an event, packed arrays mixing valid events with junk and
 * with mutated events, unusual unicode and SQL metacharacters inside them) through the real
 * consumer, fauxqs and PostgreSQL. Expected: no crash, unparseable bodies end in the DLQ, invalid
 * events in `rejects` with a reason, valid neighbours stored, and an exact reconcile.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { pipelineTotals } from "../api/mod.ts";
import { queueDepth, sendBodies } from "./consumer_support.ts";
import { createGenerator, createLedger, metaOf } from "../producer/mod.ts";
import { reconcile } from "../producer/reconcile.ts";
import { decodeEvent, type Event, rejectInfo } from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";
import { createTestConsumer } from "./pipeline_support.ts";
import { boundedShrink, fuzzParams, jsonJunk } from "./fuzz_params.ts";

const gen = createGenerator({ seed: 47, users: 50, products: 20 });
const validEvent = (): Event => gen.next(Date.now() - 2000);

/** JSON with every non-ASCII character escaped (SQS, and fauxqs, refuse some raw ones). */
const asciiJson = (v: unknown) =>
  (JSON.stringify(v) ?? "null").replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );

/** Only the characters an SQS message body may hold (BMP; fauxqs refuses the rest). */
const sqsSafe = (s: string) => s.replace(/[^\t\n\r\x20-\ud7ff\ue000-\ufffd]/g, "?") || "?";

const weirdString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.constantFrom("'; drop table events; --", "\u0000", "\ud800", "😀", "\u202e", "$1", "%s"),
);
const junk = jsonJunk(weirdString, 3);
const mutated = fc.record({
  field: fc.constantFrom(
    "eventId",
    "eventType",
    "userId",
    "sessionId",
    "price",
    "quantity",
    "productId",
    "location",
    "properties",
    "deviceType",
    "userAgent",
    "searchQuery",
  ),
  value: fc.option(junk, { nil: undefined }),
});

type Item = { kind: "valid" } | { kind: "junk"; value: unknown } | {
  kind: "mutated";
  field: string;
  value: unknown;
};
const item: fc.Arbitrary<Item> = fc.oneof(
  { arbitrary: fc.constant({ kind: "valid" as const }), weight: 3 },
  { arbitrary: junk.map((value) => ({ kind: "junk" as const, value })), weight: 1 },
  { arbitrary: mutated.map((m) => ({ kind: "mutated" as const, ...m })), weight: 2 },
);
type Body = { kind: "garbage"; text: string } | { kind: "packed"; items: Item[] } | {
  kind: "single";
  value: unknown;
};
const body: fc.Arbitrary<Body> = fc.oneof(
  {
    arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 200 }).map((text) => ({
      kind: "garbage" as const,
      text,
    })),
    weight: 1,
  },
  {
    arbitrary: fc.array(item, { minLength: 1, maxLength: 15 }).map((items) => ({
      kind: "packed" as const,
      items,
    })),
    weight: 4,
  },
  { arbitrary: junk.map((value) => ({ kind: "single" as const, value })), weight: 1 },
);

Deno.test("fuzz: raw SQS bodies through the real consumer — poison to the DLQ, rejects with reasons, valid neighbours stored, exact reconcile", async () => {
  let bodiesTried = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(body, { minLength: 5, maxLength: 20 }),
      boundedShrink(async (bodies) => {
        const db = await createTestDb();
        const q = await createTestSqs({ maxReceiveCount: 1, visibilityTimeoutS: 5 });
        const consumer = createTestConsumer(db, q, "fuzz", {
          config: testConfig({ visibilityTimeoutS: 5 }),
        });
        try {
          // The expected outcome of each body, from the JSON and event specifications.
          const ledger = createLedger();
          let poison = 0;
          const texts: string[] = [];
          // A reject is keyed by the event's id, else its payload: the same junk twice is one
          // reject (it cannot be told from a re-send).
          const rejectKeys = new Set<string>();
          const classify = (value: unknown) => {
            const v = decodeEvent(value); // the consumer's own decode path is the specification
            if (v.ok) ledger.acked([metaOf("unique", v.event)]);
            else if (!rejectKeys.has(rejectInfo(value).key)) {
              rejectKeys.add(rejectInfo(value).key);
              ledger.acked([metaOf("invalid", null)]);
            }
          };
          for (const b of bodies) {
            if (b.kind === "packed") {
              const values = b.items.map((it) => {
                if (it.kind === "valid") return validEvent();
                if (it.kind === "junk") return it.value;
                const e: Record<string, unknown> = { ...validEvent() };
                if (it.value === undefined) delete e[it.field];
                else e[it.field] = it.value;
                return e;
              });
              values.forEach(classify);
              texts.push(asciiJson(values));
              continue;
            }
            const text = b.kind === "garbage" ? sqsSafe(b.text) : asciiJson(b.value);
            let parsed: unknown;
            let ok = true;
            try {
              parsed = JSON.parse(text);
            } catch {
              ok = false;
            }
            if (!ok || parsed === null || typeof parsed !== "object") poison++;
            else if (Array.isArray(parsed)) parsed.forEach(classify);
            else classify(parsed);
            texts.push(text);
          }
          bodiesTried += texts.length;
          await sendBodies(q.sqs, q.queueUrl, texts);
          consumer.start();

          const expected = ledger.totals();
          // Settled: every message was either deleted after its commit or moved to the DLQ. This
          // does not depend on the outcome being right, so a wrong outcome fails at once instead
          // of waiting for a time limit.
          const settled = await eventually(
            async () =>
              consumer.stats.inflightMessages === 0 &&
              (await queueDepth(q.sqs, q.queueUrl)) === 0 &&
              (await queueDepth(q.sqs, q.dlqUrl)) >= poison,
            60_000,
          );
          await consumer.stop();
          const result = reconcile(expected, await pipelineTotals({ sql: db.sql }));
          assert.deepEqual(result.differences, [], "the pipeline differs from the expectation");
          assert.ok(settled, "the queue did not settle");
          assert.equal(await queueDepth(q.sqs, q.dlqUrl), poison, "poison messages in the DLQ");
          assert.equal(consumer.stats.receiveErrors, 0);
          const [bad] = await db.sql<{ n: number }[]>`
          select count(*)::int as n from rejects where coalesce(reason, '') = ''`;
          assert.equal(bad?.n, 0, "every reject has a reason");
        } finally {
          await consumer.stop();
          await q.close();
          await db.close();
        }
      }),
    ),
    fuzzParams("sqs bodies", 4, { perRunMs: 120_000 }),
  );
  assert.ok(bodiesTried >= 20);
});
