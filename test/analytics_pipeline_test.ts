/**
 * Analytics through the real consumer and fauxqs: events (with duplicates) sent by the packing
 * producer are counted once in every analytics table, and the metrics equal the sent events.
 */
import assert from "node:assert/strict";
import { createConsumer } from "../consumer/mod.ts";
import { createEventSender, metaOf, type SentMeta } from "../producer/mod.ts";
import { revenueCents } from "../shared/mod.ts";
import { seededEvents, segmentOf, stages } from "./analytics_fixtures.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

Deno.test("the consumer with analytics stages counts every event once, duplicates included", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "analytics-1",
    stages,
    segmentOf,
  });
  // A second consumer on the same queue: concurrent flushes on the same users and keys.
  const consumer2 = createConsumer({
    sql: db.connect(4),
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "analytics-2",
    stages,
    segmentOf,
  });
  try {
    consumer.start();
    consumer2.start();
    const sender = createEventSender<SentMeta>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 16_384,
      lingerMs: 5,
      maxInflightBatches: 4,
    });
    const start = Date.now() - 20 * 60_000;
    const { events } = seededEvents(3000, start, 15 * 60_000, { seed: 8, users: 80 });
    for (let i = 0; i < events.length; i++) {
      await sender.send(events[i]!, metaOf("unique", events[i]!));
      if (i % 10 === 0) await sender.send(events[i >> 1]!, metaOf("duplicate", events[i >> 1]!));
    }
    await sender.flush();
    const stored = async () =>
      (await db.sql<
        { n: number }[]
      >`select coalesce(sum(events), 0)::int as n from agg_minute_dims`)[0]!.n;
    assert.ok(
      await eventually(async () => (await stored()) >= events.length),
      "consumers did not catch up",
    );
    await consumer.stop();
    await consumer2.stop();
    assert.equal(await stored(), events.length);
    const purchases = events.filter((e) => e.eventType === "purchase");
    const [r] = await db.sql<{ revenue: number; orders: number }[]>`
      select sum(revenue_cents)::bigint as revenue, sum(orders)::int as orders from agg_minute_dims`;
    assert.equal(r!.revenue, purchases.reduce((s, e) => s + revenueCents(e), 0));
    assert.equal(r!.orders, purchases.length);
    const [f] = await db.sql<{ n: number }[]>`select count(*)::int as n from fraud_scores`;
    assert.equal(f!.n, purchases.length);
    const [s] = await db.sql<{ events: number }[]>`select sum(events)::int as events from sessions`;
    assert.equal(s!.events, events.length);
    const [u] = await db.sql<{ n: number; events: number }[]>`
      select count(*)::int as n, sum(events)::int as events from user_features`;
    assert.deepEqual(u, { n: new Set(events.map((e) => e.userId)).size, events: events.length });
    // Sessions never overlap within a user, whatever the interleaving of the two consumers.
    const [overlaps] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from sessions a join sessions b
        on a.user_id = b.user_id and a.session_id < b.session_id
       and a.started_at <= b.last_at + interval '30 minutes'
       and b.started_at <= a.last_at + interval '30 minutes'`;
    assert.equal(overlaps!.n, 0);
  } finally {
    await consumer.stop();
    await consumer2.stop();
    await q.close();
    await db.close();
  }
});
