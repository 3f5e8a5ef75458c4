/**
 * Receives that come back full (issue 20): pollers follow the backlog, a partial receive lingers,
 * and compressed and plain messages share a queue. Real fauxqs and PostgreSQL; assertions on
 * counts and state, never on times.
 */
import assert from "node:assert/strict";
import { type Consumer, createConsumer } from "../consumer/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendBodies,
  sendPacked,
  storedAtLeast,
} from "./consumer_support.ts";
import { createEventSender } from "../producer/mod.ts";
import { BODY_ENCODINGS, encodeEvent, packBody } from "../shared/mod.ts";
import {
  createTestDb,
  createTestSqs,
  eventually,
  testConfig,
  type TestDb,
  type TestSqs,
} from "./harness.ts";

/** A consumer on a fresh queue and schema, stopped and cleaned up whatever `fn` does. */
async function withConsumer(
  overrides: Parameters<typeof testConfig>[0],
  fn: (c: Consumer, db: TestDb, q: TestSqs) => Promise<void>,
) {
  const db = await createTestDb();
  const q = await createTestSqs();
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(overrides),
    workerId: "polling",
  });
  try {
    await fn(consumer, db, q);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
}

Deno.test("with a backlog, receives come back full and pollers scale up, then down to one when idle", async () => {
  await withConsumer({ pollers: 4, waitTimeS: 1 }, async (c, db, q) => {
    const events = makeEvents(1200, 31);
    const messages = await sendPacked(q.sqs, q.queueUrl, events, 3); // 400 messages waiting
    c.start();
    assert.ok(await eventually(() => storedAtLeast(db.sql, events.length), 60_000));
    assert.ok(await eventually(async () => (await queueDepth(q.sqs, q.queueUrl)) === 0));
    const s = c.stats;
    assert.equal(s.received, messages);
    const full = s.receives - s.emptyReceives;
    assert.ok(s.received / full >= 8, `${s.received} messages in ${full} receives`);
    assert.equal(s.peakActivePollers, 4, "the backlog brought every poller in");
    // Idle: long polls come back empty and pollers retire, down to one and never to none.
    assert.ok(await eventually(() => c.stats.activePollers === 1, 30_000));
    assert.ok(c.stats.emptyReceives > 0);
    await c.stop();
    assert.equal(c.stats.activePollers, 0);
    await assertTotals(db.sql, expectedOf(events));
  });
});

Deno.test("after a partial receive the poller lingers, so the next receive gathers what arrived; stop() cuts the linger short", async () => {
  const events = makeEvents(6, 32);
  // A linger far longer than one SendMessageBatch takes, even on a loaded machine.
  await withConsumer({ pollers: 4, waitTimeS: 1, receiveLingerMs: 3_000 }, async (c, db, q) => {
    const bodies = events.map((e) => packBody([encodeEvent(e)]));
    await sendBodies(q.sqs, q.queueUrl, bodies.slice(0, 1));
    c.start();
    assert.ok(await eventually(() => c.stats.received === 1));
    await sendBodies(q.sqs, q.queueUrl, bodies.slice(1)); // five arrive while the poller lingers
    assert.ok(await eventually(() => c.stats.received === 6, 60_000));
    const s = c.stats;
    assert.equal(s.receives - s.emptyReceives, 2, "the five came in one receive");
    assert.equal(s.peakActivePollers, 1, "partial receives never add pollers");
    assert.ok(await eventually(() => storedAtLeast(db.sql, 6)));
    await c.stop(); // lingering again: stop() must not wait the linger out
    assert.equal(c.stats.activePollers, 0);
    await assertTotals(db.sql, expectedOf(events));
  });
});

Deno.test("a queue of compressed and plain messages (a rolling deploy) drains exactly", async () => {
  await withConsumer({ pollers: 2 }, async (consumer, db, q) => {
    const events = makeEvents(3000, 33);
    const per = Math.ceil(events.length / (BODY_ENCODINGS.length + 1));
    for (const [i, encoding] of BODY_ENCODINGS.entries()) {
      const sender = createEventSender<undefined>({
        sqs: q.sqs,
        queueUrl: q.queueUrl,
        maxMessageBytes: 16_384,
        lingerMs: 5,
        maxInflightBatches: 2,
        encoding,
      });
      for (const e of events.slice(i * per, (i + 1) * per)) await sender.send(e, undefined);
      await sender.flush();
      assert.equal(sender.stats.ackedEvents, Math.min(per, events.length - i * per));
    }
    // What a producer from before message attributes sent: a plain body and no attribute at all.
    await sendPacked(q.sqs, q.queueUrl, events.slice(BODY_ENCODINGS.length * per), 50);
    consumer.start();
    assert.ok(await eventually(() => storedAtLeast(db.sql, events.length), 60_000));
    assert.ok(await eventually(async () => (await queueDepth(q.sqs, q.queueUrl)) === 0));
    await consumer.stop();
    assert.equal(consumer.stats.poison, 0);
    await assertTotals(db.sql, expectedOf(events));
  });
});
