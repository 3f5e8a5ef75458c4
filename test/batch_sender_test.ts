/**
 * One sender core, two transports: the same `createBatchSender` and the same sending code drive
 * SQS `SendMessageBatch` against a real fauxqs and `POST /v1/events` against the real API served
 * over HTTP on a real PostgreSQL schema (which enqueues into a fauxqs of its own).
 */
import assert from "node:assert/strict";
import type { Message } from "@aws-sdk/client-sqs";
import { createApp } from "../api/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import {
  createBatchSender,
  encodeEvent,
  type Event,
  httpTransport,
  messageBytes,
  type SenderTransport,
  sqsTransport,
} from "../shared/mod.ts";
import { createTestDb, createTestSqs, drainQueue, messageEvents } from "./harness.ts";

type Result =
  | { status: "accepted" }
  | { status: "rejected"; reason: string }
  | { status: "failed"; error: string };

/** A valid search event whose properties pad it to `bytes` of encoded JSON (strings ≤ 8 KiB). */
function padded(base: Event, bytes: number): Event {
  const event = { ...base, eventId: crypto.randomUUID(), properties: {} as Record<string, string> };
  const overhead = encodeEvent(event).length;
  let left = bytes - overhead;
  for (let i = 0; left > 0; i++) {
    const key = `p${i}`;
    const room = left - `"${key}":""`.length - (i > 0 ? 1 : 0);
    event.properties[key] = "x".repeat(Math.max(0, Math.min(room, 8_000)));
    left = bytes - encodeEvent(event).length;
  }
  assert.equal(encodeEvent(event).length, bytes);
  return event;
}

/**
 * Sends `events` through `transport` and then the largest event the transport takes: found by
 * offering ever smaller ones until `send()` stops refusing them with a `RangeError` (a refused
 * event is never buffered). Returns every event's result by id and the boundary event.
 */
async function sendThrough<U>(transport: SenderTransport<U>, events: Event[], startBytes: number) {
  const results = new Map<string, Result>();
  const sender = createBatchSender<string, U>({
    transport,
    lingerMs: 20,
    maxInflightBatches: 2,
    minRetryDelayMs: 1,
    onAck: (ids) => ids.forEach((id) => results.set(id, { status: "accepted" })),
    onReject: (ids, reasons) =>
      ids.forEach((id, i) => results.set(id, { status: "rejected", reason: reasons[i]! })),
    onFail: (ids, error) =>
      ids.forEach((id) => results.set(id, { status: "failed", error: String(error) })),
  });
  for (const e of events) await sender.send(e, e.eventId);
  let refused = 0;
  let boundary: Event | undefined;
  for (let bytes = startBytes; boundary === undefined; bytes--) {
    const e = padded(events[0]!, bytes);
    try {
      await sender.send(e, e.eventId);
      boundary = e;
    } catch (err) {
      assert.ok(err instanceof RangeError, String(err));
      refused++;
    }
  }
  assert.ok(refused > 0, "the first offer was over the limit");
  await sender.flush();
  return { results, boundary, stats: sender.stats };
}

const eventsOf = (m: Message) => messageEvents([m]) as Event[];

Deno.test("the same sender core sends to SQS and to the HTTP API, with per-event results and events up to the size limit", async () => {
  const db = await createTestDb();
  const direct = await createTestSqs();
  const behindApi = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: behindApi.sqs, queueUrl: behindApi.queueUrl });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  try {
    const gen = createGenerator({ seed: 19, users: 40, products: 20 });
    const t0 = Date.now() - 10_000;
    const events = Array.from({ length: 300 }, (_, i) => gen.next(t0 + i));
    const invalid = { ...events[7]!, eventId: crypto.randomUUID(), deviceType: "toaster" };
    events.push(invalid as unknown as Event);

    // SQS: 8 KiB messages of plain JSON; the boundary event fills a message on its own.
    const maxMessageBytes = 8_192;
    const viaSqs = await sendThrough(
      sqsTransport({
        sqs: direct.sqs,
        queueUrl: direct.queueUrl,
        maxMessageBytes,
        encoding: "json",
      }),
      events,
      maxMessageBytes,
    );
    const messages = await drainQueue(direct);
    assert.equal(messages.length, viaSqs.stats.messages);
    for (const m of messages) {
      assert.ok(messageBytes(m) <= maxMessageBytes, `message of ${messageBytes(m)} bytes`);
    }
    const alone = messages.find((m) =>
      eventsOf(m).some((e) => e.eventId === viaSqs.boundary.eventId)
    );
    assert.deepEqual(eventsOf(alone!).map((e) => e.eventId), [viaSqs.boundary.eventId]);
    assert.ok(messageBytes(alone!) > maxMessageBytes - 16, `${messageBytes(alone!)} bytes`);
    // The queue does not validate: every event, the invalid one too, is accepted there.
    assert.equal(viaSqs.results.size, events.length + 1);
    assert.ok([...viaSqs.results.values()].every((r) => r.status === "accepted"));
    assert.equal(messages.flatMap(eventsOf).length, events.length + 1);

    // HTTP: request bodies of at most 12,000 bytes; the API refuses the invalid event alone.
    const maxBatchBytes = 12_000;
    const bodySizes: number[] = [];
    const viaHttp = await sendThrough(
      httpTransport({
        url: `http://127.0.0.1:${server.addr.port}/v1/events`,
        maxBatchBytes,
        fetch: (input, init) => {
          bodySizes.push(String(init?.body ?? "").length);
          return fetch(input, init);
        },
      }),
      events,
      maxBatchBytes,
    );
    assert.ok(bodySizes.every((n) => n <= maxBatchBytes), `bodies ${bodySizes}`);
    assert.ok(bodySizes.includes(maxBatchBytes), "the boundary event filled a request alone");
    assert.equal(viaHttp.results.size, events.length + 1);
    const rejected = [...viaHttp.results].filter(([, r]) => r.status === "rejected");
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]![0], invalid.eventId);
    assert.match((rejected[0]![1] as { reason: string }).reason, /deviceType/);
    assert.equal(viaHttp.stats.ackedEvents, events.length);
    assert.equal(viaHttp.stats.rejectedEvents, 1);
    assert.equal(viaHttp.stats.failedEvents, 0);
    // 202 means the API's queue holds them: every accepted event, the boundary one included.
    const enqueued = (await drainQueue(behindApi)).flatMap(eventsOf).map((e) => e.eventId);
    assert.equal(enqueued.length, events.length);
    assert.ok(enqueued.includes(viaHttp.boundary.eventId));
    assert.ok(!enqueued.includes(invalid.eventId));
  } finally {
    await server.shutdown();
    await app.close();
    for (const resource of [behindApi, direct, db]) await resource.close();
  }
});
