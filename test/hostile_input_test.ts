/**
 * Hostile input is ordinary input (issue 13, items 1, 2 and 10): events nested 10,000 and 100,000
 * levels deep, NUL in keys and values, lone surrogates, invalid UTF-8 and non-JSON bodies, over
 * SQS (real fauxqs, real PostgreSQL, a real consumer and a consumer process) and over HTTP. Each
 * bad event is one reject with a reason; its valid neighbours are stored; nothing reaches the DLQ;
 * no process dies.
 */
import assert from "node:assert/strict";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { gzipSync } from "node:zlib";
import { createApp, pipelineTotals } from "../api/mod.ts";
import { queueDepth } from "./consumer_support.ts";
import { createGenerator } from "../producer/mod.ts";
import { encodeEvent, ENCODING_ATTRIBUTE, type Event, type SQSClient } from "../shared/mod.ts";
import {
  hasExited,
  spawnConsumer,
  terminateExpectingZero,
  withChildProcesses,
} from "./consumer_child.ts";
import { createTestDb, createTestSqs, eventually, testConfig, testDatabaseUrl } from "./harness.ts";
import { createTestConsumer } from "./pipeline_support.ts";

const { embedded } = await testDatabaseUrl();
const gen = createGenerator({ seed: 1313, users: 30, products: 10 });
const fresh = (): Event => gen.next(Date.now() - 3000);

/** JSON text nesting `n` objects: `{"a":{"a":…1…}}`. Built as text: JSON.stringify would recurse. */
const deepObject = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);
/** JSON text nesting `n` arrays. */
const deepArray = (n: number) => "[".repeat(n) + "]".repeat(n);

/** A valid event's JSON with `properties` replaced by the given JSON text. */
function withProperties(e: Event, propertiesJson: string): string {
  const { properties: _, ...rest } = e;
  const json = encodeEvent(rest);
  return json.slice(0, -1) + ',"properties":' + propertiesJson + "}";
}

interface Hostile {
  /** Message bodies, each with its encoding. */
  bodies: { body: string; gzip: boolean }[];
  valid: Event[];
  /** Event id → what the reject reason must say. */
  rejects: Map<string, RegExp>;
  /** Rejects without a readable event id (whole deep values). */
  anonymousRejects: number;
}

function hostileMessages(): Hostile {
  const valid = Array.from({ length: 7 }, fresh);
  const bad = Array.from({ length: 6 }, fresh);
  const rejects = new Map<string, RegExp>([
    [bad[0]!.eventId, /properties(\.a)+: nests deeper than 16 levels/],
    [bad[1]!.eventId, /key "\\u0000" contains U\+0000/],
    [bad[2]!.eventId, /properties\.note: contains a lone surrogate/],
    [bad[3]!.eventId, /nests deeper than 16 levels/],
    [bad[4]!.eventId, /nests deeper than 16 levels/],
    [bad[5]!.eventId, /properties\.deep\.k: contains U\+0000/],
  ]);
  const gz = (text: string) => gzipSync(text).toString("base64");
  return {
    valid,
    rejects,
    anonymousRejects: 2,
    bodies: [
      {
        body: "[" + [
          encodeEvent(valid[0]),
          withProperties(bad[0]!, deepObject(10_000)),
          encodeEvent(valid[1]),
          withProperties(bad[1]!, '{"\\u0000":1}'),
          withProperties(bad[2]!, '{"note":"x\\ud800"}'),
          withProperties(bad[5]!, '{"deep":{"k":"a\\u0000b"}}'),
          encodeEvent(valid[2]),
        ].join(",") + "]",
        gzip: false,
      },
      // ~200 KB of brackets: 100,000-deep arrays inside properties, next to valid events.
      {
        body: "[" +
          [
            encodeEvent(valid[3]),
            withProperties(bad[3]!, deepArray(100_000)),
            encodeEvent(valid[4]),
          ]
            .join(",") +
          "]",
        gzip: false,
      },
      // 100,000-deep objects are 600 KB of text: compressed, as a producer would send them.
      {
        body: gz(
          "[" + [encodeEvent(valid[5]), withProperties(bad[4]!, deepObject(100_000))].join(",") +
            "]",
        ),
        gzip: true,
      },
      // A whole body that is one 100,000-deep object, and an array holding a 100,000-deep array.
      { body: gz(deepObject(100_000)), gzip: true },
      { body: "[" + deepArray(100_000) + "," + encodeEvent(valid[6]) + "]", gzip: false },
    ],
  };
}

async function send(sqs: SQSClient, queueUrl: string, bodies: Hostile["bodies"]) {
  const out = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((b, i) => ({
        Id: String(i),
        MessageBody: b.body,
        ...(b.gzip
          ? {
            MessageAttributes: {
              [ENCODING_ATTRIBUTE]: { DataType: "String", StringValue: "gzip+base64" },
            },
          }
          : {}),
      })),
    }),
  );
  assert.equal(out.Failed?.length ?? 0, 0, JSON.stringify(out.Failed));
}

Deno.test("events nested 10,000 and 100,000 deep, NUL keys and lone surrogates over SQS become rejects with reasons; valid neighbours are stored; the DLQ stays empty", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ maxReceiveCount: 1, visibilityTimeoutS: 5 });
  const consumer = createTestConsumer(db, q, "hostile", {
    config: testConfig({ visibilityTimeoutS: 5 }),
  });
  try {
    const h = hostileMessages();
    // SQS caps one SendMessageBatch at 256 KiB: the 200 KB body goes on its own.
    await send(q.sqs, q.queueUrl, [h.bodies[0]!, h.bodies[2]!, h.bodies[3]!]);
    await send(q.sqs, q.queueUrl, [h.bodies[1]!]);
    await send(q.sqs, q.queueUrl, [h.bodies[4]!]);
    consumer.start();
    const expectedRejects = h.rejects.size + h.anonymousRejects;
    assert.ok(
      await eventually(async () => {
        const t = await pipelineTotals({ sql: db.sql });
        return t.stored >= h.valid.length && t.rejected >= expectedRejects &&
          (await queueDepth(q.sqs, q.queueUrl)) === 0;
      }, 60_000),
      "the hostile messages were not all processed",
    );
    await consumer.stop();
    const t = await pipelineTotals({ sql: db.sql });
    assert.equal(t.stored, h.valid.length, "every valid neighbour is stored");
    assert.equal(t.rejected, expectedRejects);
    assert.equal(await queueDepth(q.sqs, q.dlqUrl), 0, "no message went to the DLQ");
    assert.equal(consumer.stats.poison, 0);
    assert.equal(consumer.stats.decodeErrors, 0);

    const app = createApp({ sql: db.sql });
    for (const [eventId, reason] of h.rejects) {
      const res = await app.request(`/v1/events/${eventId}`);
      assert.equal(res.status, 200, eventId);
      const body = await res.json();
      assert.equal(body.status, "rejected");
      assert.match(body.rejection.reason, reason);
    }
    const anonymous = await db.sql<{ event_id: string; reason: string; payload: string }[]>`
      select event_id, reason, payload from rejects
      where event_id not in ${db.sql([...h.rejects.keys()])}`;
    assert.equal(anonymous.length, h.anonymousRejects);
    for (const r of anonymous) {
      assert.match(r.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-/);
      assert.match(r.reason, /nests deeper than 16 levels/);
      assert.match(r.payload, /truncated from \d+ chars/);
    }
    await app.close();
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test({
  name:
    "a consumer process keeps running through hostile messages, stores their valid neighbours, and exits 0 on SIGTERM",
  ignore: embedded,
  fn: () =>
    withChildProcesses({ maxReceiveCount: 1, visibilityTimeoutS: 5 }, async ({ db, q, track }) => {
      const h = hostileMessages();
      await send(q.sqs, q.queueUrl, [h.bodies[0]!, h.bodies[2]!, h.bodies[3]!]);
      await send(q.sqs, q.queueUrl, [h.bodies[1]!]);
      await send(q.sqs, q.queueUrl, [h.bodies[4]!]);
      const child = track(spawnConsumer(db, q, "hostile-process"));
      const processed = await eventually(async () => {
        if (await hasExited(child)) return true;
        const t = await pipelineTotals({ sql: db.sql });
        return t.stored >= h.valid.length && (await queueDepth(q.sqs, q.queueUrl)) === 0;
      }, 60_000);
      assert.ok(!(await hasExited(child)), "the consumer process died");
      assert.ok(processed, "the hostile messages were not processed");
      assert.equal((await pipelineTotals({ sql: db.sql })).stored, h.valid.length);
      await terminateExpectingZero(child);
    }),
});

Deno.test("POST /v1/events: deep nesting, NUL and lone surrogates are refused per event with a reason; invalid UTF-8 is a 400, a body that is not JSON a 415", async (t) => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl, dlqUrl: q.dlqUrl });
  const post = (body: BodyInit, contentType: string | null = "application/json") =>
    app.request("/v1/events", {
      method: "POST",
      headers: contentType === null ? {} : { "content-type": contentType },
      body,
    });
  try {
    await t.step("events nested 3,000, 10,000 and 100,000 deep are rejected by index", async () => {
      for (const text of [deepObject(3_000), deepObject(10_000), deepArray(100_000)]) {
        const ok = fresh();
        const res = await post(`[${encodeEvent(ok)},${withProperties(fresh(), text)}]`);
        assert.equal(res.status, 202);
        const r = await res.json();
        assert.equal(r.accepted, 1);
        assert.equal(r.rejected, 1);
        assert.equal(r.errors[0].index, 1);
        assert.match(r.errors[0].reason, /nests deeper than 16 levels/);
      }
      const whole = await post(deepObject(100_000));
      assert.equal(whole.status, 202);
      assert.match((await whole.json()).errors[0].reason, /nests deeper than 16 levels/);
    });

    await t.step("NUL in a key or value and a lone surrogate are rejected by index", async () => {
      const res = await post(
        `[${withProperties(fresh(), '{"\\u0000":1}')},${
          withProperties(fresh(), '{"a":{"b":["\\u0000"]}}')
        },${withProperties(fresh(), '{"x":"\\udc00"}')}]`,
      );
      assert.equal(res.status, 202);
      const r = await res.json();
      assert.equal(r.rejected, 3);
      assert.match(r.errors[0].reason, /U\+0000/);
      assert.match(r.errors[1].reason, /properties\.a\.b\[0\]: contains U\+0000/);
      assert.match(r.errors[2].reason, /lone surrogate/);
    });

    await t.step("invalid UTF-8 is a 400 that names the problem", async () => {
      const json = new TextEncoder().encode(encodeEvent(fresh()));
      const bytes = new Uint8Array([...json.slice(0, 20), 0xff, 0xfe, ...json.slice(20)]);
      const res = await post(bytes);
      assert.equal(res.status, 400);
      assert.match(res.headers.get("content-type") ?? "", /problem\+json/);
      assert.match((await res.json()).detail, /not valid UTF-8/);
    });

    await t.step("a body that is not application/json is a 415", async () => {
      for (const type of ["text/plain", "application/x-www-form-urlencoded", null]) {
        const res = await post(encodeEvent(fresh()), type);
        assert.equal(res.status, 415, String(type));
        assert.match((await res.json()).detail, /application\/json/);
      }
      const latin1 = await post(encodeEvent(fresh()), "application/json; charset=iso-8859-1");
      assert.equal(latin1.status, 415);
      await latin1.body?.cancel();
      const utf8 = await post(encodeEvent(fresh()), "application/json; charset=UTF-8");
      assert.equal(utf8.status, 202);
      await utf8.body?.cancel();
    });
  } finally {
    await app.close();
    await q.close();
    await db.close();
  }
});
