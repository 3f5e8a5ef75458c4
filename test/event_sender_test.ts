/** The SQS packer against a real fauxqs server. */
import assert from "node:assert/strict";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  createEventSender,
  ENCODING_ATTRIBUTE,
  type Event,
  instrumentSqsClient,
  messageBytes,
  Registry,
  validateEvent,
} from "../shared/mod.ts";
import { createTestSqs, drainQueue, messageEvents } from "./harness.ts";
import {
  createEventSource,
  createGenerator,
  createLedger,
  type SentMeta,
} from "../producer/mod.ts";

Deno.test("the ledger equals what fauxqs holds; messages stay under the byte limit with attributes", async () => {
  const q = await createTestSqs();
  try {
    const ledger = createLedger();
    const sender = createEventSender<SentMeta>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 4096,
      lingerMs: 5,
      maxInflightBatches: 3,
      onAck: (m) => ledger.acked(m),
      onFail: (m) => ledger.failed(m),
    });
    const gen = createGenerator({ seed: 4, users: 100, products: 30 });
    const source = createEventSource(gen, {
      rates: { invalid: 0.03, duplicates: 0.03, tooNew: 0.01, tooOld: 0.01, late: 0.02 },
    });
    const t0 = Date.now();
    for (let i = 0; i < 3000; i++) {
      const { event, meta } = source.next(t0 + i);
      await sender.send(event, meta);
    }
    await sender.flush();
    const totals = ledger.totals();
    assert.equal(totals.accepted, 3000);
    assert.equal(totals.failed, 0);

    const messages = await drainQueue(q);
    assert.equal(messages.length, sender.stats.messages);
    const values = messageEvents(messages);
    assert.equal(values.length, totals.accepted);
    for (const m of messages) {
      assert.ok(messageBytes(m) <= 4096, `message of ${messageBytes(m)} bytes`);
    }
    const ids = new Set<string>();
    let invalid = 0;
    let duplicates = 0;
    const byType: Record<string, number> = {};
    for (const v of values) {
      const r = validateEvent(v);
      if (!r.ok) {
        invalid++;
        continue;
      }
      if (ids.has(r.event.eventId)) duplicates++;
      else ids.add(r.event.eventId);
    }
    assert.equal(invalid, totals.invalid);
    assert.equal(duplicates, totals.duplicates);
    assert.equal(ids.size, totals.unique);
    for (const v of values) {
      const e = v as Event;
      if (validateEvent(v).ok) byType[e.eventType] = (byType[e.eventType] ?? 0) + 1;
    }
    const inWindow = Object.values(totals.byType).reduce((a, b) => a + b, 0);
    assert.equal(inWindow + totals.tooNew + totals.tooOld, totals.unique);
  } finally {
    await q.close();
  }
});

Deno.test("emoji and other non-BMP characters survive the trip through fauxqs", async () => {
  const q = await createTestSqs();
  try {
    const sender = createEventSender<undefined>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 65_536,
      lingerMs: 5,
      maxInflightBatches: 2,
    });
    const gen = createGenerator({ seed: 8, users: 10, products: 5 });
    const e = gen.next(Date.now());
    const texts = ["gift 🎁 for 👩‍👩‍👧", "café ☕ crème", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 中文"];
    const sent = texts.map((t, i) => ({
      ...e,
      eventId: crypto.randomUUID(),
      eventType: "search" as const,
      searchQuery: t,
      properties: { i },
    }));
    for (const s of sent) await sender.send(s, undefined);
    await sender.flush();
    const got = messageEvents(await drainQueue(q)) as Event[];
    assert.deepEqual(got.map((g) => g.searchQuery).sort(), [...texts].sort());
  } finally {
    await q.close();
  }
});

Deno.test("only entries SQS lists as failed are retried; the sender's own faults are not", async () => {
  const q = await createTestSqs();
  try {
    let calls = 0;
    const attempts: number[] = [];
    // The real fauxqs client, with SQS's partial failure answers put in front of it: the first
    // request fails entry 0 as throttled (retryable) and entry 1 as the sender's fault.
    const flaky = {
      send: async (cmd: SendMessageBatchCommand) => {
        calls++;
        const entries = cmd.input.Entries ?? [];
        attempts.push(entries.length);
        if (calls > 1) return await q.sqs.send(cmd);
        const keep = entries.slice(2);
        const out = keep.length > 0
          ? await q.sqs.send(new SendMessageBatchCommand({ ...cmd.input, Entries: keep }))
          : { Successful: [], Failed: [] };
        return {
          ...out,
          Failed: [
            ...(out.Failed ?? []),
            { Id: entries[0]!.Id, Code: "RequestThrottled", SenderFault: true, Message: "slow" },
            { Id: entries[1]!.Id, Code: "InvalidMessageContents", SenderFault: true, Message: "x" },
          ],
        };
      },
    } as unknown as SQSClient;
    const ledger = createLedger();
    const sender = createEventSender<SentMeta>({
      sqs: flaky,
      queueUrl: q.queueUrl,
      maxMessageBytes: 2048,
      lingerMs: 5,
      maxInflightBatches: 1,
      minRetryDelayMs: 1,
      onAck: (m) => ledger.acked(m),
      onFail: (m) => ledger.failed(m),
    });
    const gen = createGenerator({ seed: 2, users: 20, products: 5 });
    for (let i = 0; i < 200; i++) {
      const e = gen.next(Date.now());
      await sender.send(e, { kind: "unique", eventType: e.eventType, revenueCents: 0 });
    }
    await sender.flush();
    assert.equal(attempts[1], 1, "the retry carries only the throttled entry");
    const totals = ledger.totals();
    assert.ok(totals.failed > 0, "the sender's fault is reported as failed");
    assert.equal(totals.accepted + totals.failed, 200);
    assert.equal(sender.stats.retriedEntries, 1);
    const received = messageEvents(await drainQueue(q));
    assert.equal(received.length, totals.accepted, "nothing acknowledged twice");
  } finally {
    await q.close();
  }
});

Deno.test("in-flight requests never exceed the bound", async () => {
  const q = await createTestSqs();
  try {
    let inflight = 0;
    let peak = 0;
    const slow = {
      send: async (cmd: SendMessageBatchCommand) => {
        inflight++;
        peak = Math.max(peak, inflight);
        await new Promise((r) => setTimeout(r, 5));
        try {
          return await q.sqs.send(cmd);
        } finally {
          inflight--;
        }
      },
    } as unknown as SQSClient;
    const sender = createEventSender<undefined>({
      sqs: slow,
      queueUrl: q.queueUrl,
      maxMessageBytes: 1024,
      lingerMs: 1,
      maxInflightBatches: 2,
    });
    const gen = createGenerator({ seed: 3, users: 20, products: 5 });
    for (let i = 0; i < 2000; i++) {
      await sender.send(gen.next(Date.now()), undefined);
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 2)); // let lingers fire
    }
    await sender.flush();
    assert.ok(peak <= 2, `peak of ${peak} requests in flight`);
    assert.equal(sender.stats.ackedEvents, 2000);
  } finally {
    await q.close();
  }
});

Deno.test("compressed messages stay under the byte limit and carry several times more events", async () => {
  const q = await createTestSqs();
  try {
    const gen = createGenerator({ seed: 5, users: 500, products: 100 });
    const t0 = Date.now();
    const events = Array.from({ length: 4000 }, (_, i) => gen.next(t0 + i));
    const counts: Record<string, number> = {};
    for (const encoding of ["json", "gzip+base64", "zstd+base64"] as const) {
      const sender = createEventSender<undefined>({
        sqs: q.sqs,
        queueUrl: q.queueUrl,
        maxMessageBytes: 8192,
        lingerMs: 60_000, // messages close by size only
        maxInflightBatches: 2,
        encoding,
      });
      for (const e of events) await sender.send(e, undefined);
      await sender.flush();
      const messages = await drainQueue(q);
      assert.equal(messages.length, sender.stats.messages);
      for (const m of messages) {
        assert.ok(messageBytes(m) <= 8192, `${encoding} message of ${messageBytes(m)} bytes`);
        assert.equal(m.MessageAttributes?.[ENCODING_ATTRIBUTE]?.StringValue, encoding);
      }
      assert.deepEqual(messageEvents(messages), events, `${encoding}: every event, in order`);
      counts[encoding] = messages.length;
      if (encoding !== "json") {
        // Nearly full on average (the last one holds what was left).
        const fill = messages.slice(0, -1).reduce((s, m) => s + messageBytes(m), 0) /
          (8192 * (messages.length - 1));
        assert.ok(fill >= 0.8, `${encoding}: messages ${Math.round(fill * 100)} % full`);
      }
    }
    assert.ok(counts["zstd+base64"]! * 3 < counts["json"]!, JSON.stringify(counts));
    assert.ok(counts["gzip+base64"]! * 3 < counts["json"]!, JSON.stringify(counts));
  } finally {
    await q.close();
  }
});

Deno.test("a message that does not shrink when compressed goes out as plain JSON", async () => {
  const q = await createTestSqs();
  try {
    const sender = createEventSender<undefined>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 8192,
      lingerMs: 5,
      maxInflightBatches: 1,
      encoding: "zstd+base64",
    });
    // Random base64: 6 bits of entropy per character, so compressed + base64 is larger.
    const noise = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(5000))));
    const event = { eventId: crypto.randomUUID(), noise };
    await sender.send(event, undefined);
    await sender.flush();
    const [m, ...rest] = await drainQueue(q);
    assert.equal(rest.length, 0);
    assert.equal(m!.MessageAttributes?.[ENCODING_ATTRIBUTE]?.StringValue, "json");
    assert.ok(messageBytes(m!) <= 8192);
    assert.deepEqual(messageEvents([m!]), [event]);
  } finally {
    await q.close();
  }
});

Deno.test("messages waiting for a free slot go out ten to a SendMessageBatch, not fewer", async () => {
  const q = await createTestSqs();
  try {
    const sizes: number[] = [];
    q.sqs.middlewareStack.add((next, context) => (args) => {
      if (context.commandName === "SendMessageBatchCommand") {
        sizes.push((args.input as { Entries?: unknown[] }).Entries?.length ?? 0);
      }
      return next(args);
    }, { step: "initialize" });
    const sender = createEventSender<undefined>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 65_536,
      lingerMs: 60_000, // only full batches leave before flush()
      maxInflightBatches: 1,
      encoding: "json",
    });
    // Two 30 KB events fill a 64 KiB message: 20 messages of ~60 KB, 1.2 MB in all. Nine of them
    // already pass half of SQS's 1 MiB batch limit, and still ten fit in one request.
    const pad = "x".repeat(30_000);
    for (let i = 0; i < 40; i++) await sender.send({ eventId: String(i), pad }, undefined);
    await sender.flush();
    assert.equal(sender.stats.messages, 20);
    assert.deepEqual(sizes, [10, 10]);
    assert.equal(sender.stats.ackedEvents, 40);
  } finally {
    await q.close();
  }
});

Deno.test("a batch larger than 64 KiB is billed once per started 64 KiB chunk of all its entries", async () => {
  const q = await createTestSqs();
  try {
    const registry = new Registry();
    instrumentSqsClient(q.sqs, registry);
    const sender = createEventSender<undefined>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 262_144,
      lingerMs: 60_000,
      maxInflightBatches: 1,
      encoding: "json",
    });
    // Three events of ~100 KB: two share a 256 KiB message, the third opens another; one request
    // of ~300 KB in all is 5 started chunks of 64 KiB (AWS: "each 64 KB chunk of a payload is
    // billed as 1 request").
    const pad = "y".repeat(100_000);
    for (let i = 0; i < 3; i++) await sender.send({ eventId: String(i), pad }, undefined);
    await sender.flush();
    assert.equal(sender.stats.messages, 2);
    const value = async (name: string, operation: string) =>
      (await registry.getSingleMetric(name)!.get()).values
        .filter((v) => v.labels.operation === operation)
        .reduce((s, v) => s + v.value, 0);
    assert.equal(await value("scalestream_sqs_requests_total", "SendMessageBatch"), 1);
    assert.equal(await value("scalestream_sqs_billed_requests_total", "SendMessageBatch"), 5);
    // Received back: billed by what each receive returned: 5 chunks when both come in one receive,
    // 4 + 2 = 6 when fauxqs returns them one per receive.
    const messages = await drainQueue(q);
    assert.equal(messages.length, 2);
    const receives = await value("scalestream_sqs_requests_total", "ReceiveMessage");
    const billedReceives = await value("scalestream_sqs_billed_requests_total", "ReceiveMessage");
    const nonEmpty = billedReceives - 2; // drainQueue() ends with two empty receives, 1 each
    assert.ok(nonEmpty === 5 || nonEmpty === 6, `${billedReceives} billed in ${receives} receives`);
  } finally {
    await q.close();
  }
});
