/**
 * HTTP ingestion and event status through `app.request()`, on a real PostgreSQL schema, a real
 * fauxqs queue and a real consumer.
 */
import assert from "node:assert/strict";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { createApp, type EventStatus, type IngestResult } from "../api/mod.ts";
import { createConsumer } from "../consumer/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { encodeEvent, type Event, packBody } from "../shared/mod.ts";
import {
  createTestDb,
  createTestSqs,
  drainQueue,
  eventually,
  messageEvents,
  testConfig,
} from "./harness.ts";

const db = await createTestDb();
globalThis.addEventListener("unload", () => void db.close());

const gen = createGenerator({ seed: 6, users: 20, products: 10 });
const fresh = (n: number): Event[] =>
  Array.from({ length: n }, (_, i) => gen.next(Date.now() - 5_000 + i));

function post(app: ReturnType<typeof createApp>, body: unknown, headers: HeadersInit = {}) {
  return app.request("/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("POST /v1/events enqueues a batch, a consumer stores it, and GET /v1/events/{id} finds it stored without raw IP or user agent", async () => {
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl, dlqUrl: q.dlqUrl });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "api-ingest",
  });
  try {
    const events = fresh(300);
    events[0] = { ...events[0]!, ipAddress: "203.0.113.77", userAgent: "Mozilla/5.0 (Secret)" };
    const res = await post(app, events);
    assert.equal(res.status, 202);
    const body: IngestResult = await res.json();
    assert.deepEqual(body, {
      accepted: 300,
      rejected: 0,
      errors: [],
      eventIds: events.map((e) => e.eventId),
    });

    // 202 means SQS already holds them: nothing is left in the sender's buffer.
    consumer.start();
    const id = events[0]!.eventId;
    let status: EventStatus | undefined;
    assert.ok(
      await eventually(async () => {
        const r = await app.request(`/v1/events/${id}`);
        if (r.status !== 200) {
          await r.body?.cancel();
          return false;
        }
        status = await r.json();
        return true;
      }),
      "event was not stored",
    );
    assert.equal(status!.status, "stored");
    assert.equal(status!.event?.eventId, id);
    assert.equal(status!.event?.eventType, events[0]!.eventType);
    assert.equal(status!.event?.ipNetwork, "203.0.113.0/24");
    const text = JSON.stringify(status);
    assert.ok(!text.includes("203.0.113.77"), "raw IP leaked");
    assert.ok(!text.includes("Secret"), "user agent leaked");
    assert.ok(
      await eventually(async () => {
        const [r] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`;
        return r?.n === 300;
      }),
    );
  } finally {
    await consumer.stop();
    await app.close();
    await q.close();
  }
});

Deno.test("POST /v1/events reports invalid events by index and enqueues only the valid ones", async () => {
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl });
  try {
    const [a, b, c] = fresh(3);
    const res = await post(app, [a, { ...b, eventId: "not-a-uuid" }, c, 42, {
      ...a,
      eventId: crypto.randomUUID(),
      price: 1.001,
      eventType: "purchase",
    }]);
    assert.equal(res.status, 202);
    const body: IngestResult = await res.json();
    assert.equal(body.accepted, 2);
    assert.equal(body.rejected, 3);
    assert.deepEqual(body.errors.map((e) => e.index), [1, 3, 4]);
    assert.match(body.errors[0]!.reason, /eventId/);
    const queued = messageEvents(await drainQueue(q));
    assert.deepEqual(
      queued.map((e) => (e as Event).eventId).sort(),
      [a!.eventId, c!.eventId].sort(),
    );
  } finally {
    await app.close();
    await q.close();
  }
});

Deno.test("POST /v1/events accepts one event and seed 003's snake_case field names", async () => {
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl });
  try {
    const snake = {
      event_id: crypto.randomUUID(),
      user_id: "u-snake",
      session_id: "s-snake",
      event_type: "click",
      timestamp: new Date().toISOString(),
      page_url: "/p/1",
      product_id: "p-1",
      category: "books",
      device_type: "mobile",
      user_agent: "curl/8",
      ip_address: "198.51.100.4",
      country: "DE",
      region: "Berlin",
      custom_properties: { campaign: "spring" },
    };
    const res = await post(app, snake);
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), {
      accepted: 1,
      rejected: 0,
      errors: [],
      eventIds: [snake.event_id],
    });
    const [queued] = messageEvents(await drainQueue(q)) as Event[];
    assert.equal(queued?.eventId, snake.event_id);
    assert.equal(queued?.userId, "u-snake");
    assert.equal(queued?.eventType, "product_click");
    assert.deepEqual(queued?.location, { country: "DE", region: "Berlin" });
    assert.deepEqual(queued?.properties, { campaign: "spring" });
    assert.equal(queued?.ipAddress, "198.51.100.4");
  } finally {
    await app.close();
    await q.close();
  }
});

Deno.test("POST /v1/events answers 413 problems above 1 MiB or 500 events, and 400 for bad JSON", async () => {
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl });
  try {
    const big = await post(app, "[" + " ".repeat(1_100_000) + "]");
    assert.equal(big.status, 413);
    assert.equal(big.headers.get("content-type"), "application/problem+json");
    assert.equal((await big.json()).status, 413);

    const many = await post(app, fresh(501));
    assert.equal(many.status, 413);
    assert.match((await many.json()).detail, /at most 500 events/);

    const bad = await post(app, "{not json");
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).title, "Bad Request");
    assert.equal((await drainQueue(q)).length, 0);
  } finally {
    await app.close();
    await q.close();
  }
});

Deno.test("GET /v1/events/{id} reports a consumer's reject with its reason, and 404 for an unseen id", async () => {
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "api-rejects",
  });
  try {
    // Sent straight to the queue, past the API's validation, as another producer could.
    const [e] = fresh(1);
    const bad = { ...e!, deviceType: "toaster" };
    await q.sqs.send(
      new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: packBody([encodeEvent(bad)]) }),
    );
    consumer.start();
    let status: EventStatus | undefined;
    assert.ok(
      await eventually(async () => {
        const r = await app.request(`/v1/events/${bad.eventId}`);
        if (r.status !== 200) {
          await r.body?.cancel();
          return false;
        }
        status = await r.json();
        return true;
      }),
    );
    assert.equal(status!.status, "rejected");
    assert.equal(status!.rejection?.kind, "invalid");
    assert.match(status!.rejection!.reason, /deviceType/);

    const missing = await app.request(`/v1/events/${crypto.randomUUID()}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/problem+json");
    const p = await missing.json();
    assert.equal(p.status, 404);
    assert.equal(p.title, "Not Found");
    assert.equal(p.stack, undefined);

    const tooLong = await app.request(`/v1/events/${"x".repeat(200)}`);
    assert.equal(tooLong.status, 400);
    const v = await tooLong.json();
    assert.equal(v.errors[0].path, "eventId");
  } finally {
    await consumer.stop();
    await app.close();
    await q.close();
  }
});

Deno.test("POST /v1/events without a queue configured answers a 503 problem", async () => {
  const app = createApp({ sql: db.sql });
  const res = await post(app, fresh(1));
  assert.equal(res.status, 503);
  assert.match((await res.json()).detail, /not configured/);
  await app.close();
});
