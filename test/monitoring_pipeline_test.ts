/**
 * Monitoring on real components: the exported metrics after a run through fauxqs and PostgreSQL
 * equal what was produced and stored; queue depth shows a backlog made on purpose and the DLQ.
 */
import assert from "node:assert/strict";
import { SendMessageBatchCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { Hono } from "hono";
import { createApiMetrics, createApp } from "../api/mod.ts";
import { createConsumer, createConsumerMetrics } from "../consumer/mod.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  createProducerMetrics,
  metaOf,
  type SentMeta,
  serveProducerMetrics,
} from "../producer/mod.ts";
import {
  createMetricsRegistry,
  createQueueDepthMonitor,
  encodeEvent,
  instrumentSqsClient,
  packBody,
  type Registry,
  serveMetrics,
} from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

/**
 * The sum of the series of `name` that carry `labels`, as a scrape would see it (collect() runs
 * first). Histogram series are named with their suffix (`_bucket`, `_sum`, `_count`).
 */
async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const metric = registry.getSingleMetric(name) ?? registry.getSingleMetric(base);
  assert.ok(metric, `metric "${name}" is not registered`);
  const { values } = await metric.get();
  return values
    .filter((v) => ((v as { metricName?: string }).metricName ?? name) === name)
    .filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))
    .reduce((sum, v) => sum + v.value, 0);
}

Deno.test("after a real run the exported counters equal what was produced and stored", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const registry = createMetricsRegistry({ defaultMetrics: false });
  instrumentSqsClient(q.sqs, registry);
  const config = testConfig();
  const consumerMetrics = createConsumerMetrics(registry, {
    stats: () => consumer.stats,
    sqs: q.sqs,
  });
  const consumer = createConsumer({
    sql: consumerMetrics.instrumentSql(db.sql),
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "m1",
    onFlush: consumerMetrics.onFlush,
  });
  const ledger = createLedger();
  const sender = createEventSender<SentMeta>({
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    maxMessageBytes: 8192,
    lingerMs: 10,
    maxInflightBatches: 4,
    onAck: (m) => ledger.acked(m),
    onFail: (m) => ledger.failed(m),
  });
  const producerMetrics = createProducerMetrics(registry, { stats: () => sender.stats });
  try {
    consumer.start();
    const gen = createGenerator({ seed: 11, users: 40, products: 20 });
    const now = Date.now();
    const sent = [];
    for (let i = 0; i < 1000; i++) {
      const e = gen.next(now - 2000 + i);
      sent.push(e);
      await sender.send(e, metaOf("unique", e));
    }
    // Deliberately late (an hour old, inside the late horizon): stored, kept out of the histogram.
    for (let i = 0; i < 20; i++) {
      const e = gen.next(now - 3_600_000 + i);
      await sender.send(e, metaOf("unique", e));
    }
    for (let i = 0; i < 10; i++) {
      await sender.send({ ...sent[i]!, eventId: "not-a-uuid" }, metaOf("invalid", null));
      await sender.send(sent[i * 7]!, metaOf("duplicate", sent[i * 7]!));
    }
    await sender.flush();
    producerMetrics.observeProgress({
      elapsedMs: 1000,
      targetRate: 1040,
      achievedRate: 1000,
      due: 1040,
      sent: 1040,
    });
    const expected = ledger.totals();
    assert.equal(expected.accepted, 1040);
    assert.ok(
      await eventually(() =>
        consumer.stats.stored + consumer.stats.duplicates + consumer.stats.rejected >=
          expected.accepted && consumer.stats.deleted >= sender.stats.messages
      ),
      "consumer did not catch up",
    );
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`;

    // Producer
    assert.equal(await value(registry, "scalestream_producer_events_total"), 1040);
    assert.equal(await value(registry, "scalestream_producer_events_acked_total"), 1040);
    assert.equal(await value(registry, "scalestream_producer_events_failed_total"), 0);
    const messages = await value(registry, "scalestream_producer_messages_total");
    const batches = await value(registry, "scalestream_producer_batches_total");
    assert.equal(messages, sender.stats.messages);
    assert.ok(messages > 1 && batches >= Math.ceil(messages / 10));
    assert.equal(await value(registry, "scalestream_producer_target_events_per_second"), 1040);
    assert.equal(
      await value(registry, "scalestream_sqs_requests_total", {
        operation: "SendMessageBatch",
        outcome: "ok",
      }),
      batches,
    );

    // Consumer
    assert.equal(row?.n, 1020);
    assert.equal(await value(registry, "scalestream_consumer_events_stored_total"), 1020);
    assert.equal(await value(registry, "scalestream_consumer_duplicates_skipped_total"), 10);
    assert.equal(
      await value(registry, "scalestream_consumer_events_rejected_total", { kind: "invalid" }),
      10,
    );
    assert.equal(await value(registry, "scalestream_consumer_events_processed_total"), 1040);
    assert.equal(await value(registry, "scalestream_consumer_messages_received_total"), messages);
    assert.equal(await value(registry, "scalestream_consumer_messages_deleted_total"), messages);
    assert.equal(await value(registry, "scalestream_consumer_poison_messages_total"), 0);
    assert.equal(
      await value(registry, "scalestream_consumer_db_errors_total", { class: "transient" }),
      0,
    );
    assert.equal(await value(registry, "scalestream_consumer_inflight_events"), 0);
    const flushes = await value(registry, "scalestream_consumer_flushes_total");
    assert.ok(flushes >= 1);
    assert.equal(await value(registry, "scalestream_consumer_flush_size_events_sum"), 1040);
    assert.equal(await value(registry, "scalestream_consumer_flush_size_events_count"), flushes);
    assert.equal(
      await value(registry, "scalestream_consumer_flush_duration_seconds_count"),
      flushes,
    );
    assert.equal(await value(registry, "scalestream_consumer_receive_lag_seconds_count"), messages);

    // End to end: every newly stored event observed once; the late ones counted apart.
    assert.equal(await value(registry, "scalestream_e2e_latency_seconds_count"), 1000);
    assert.equal(await value(registry, "scalestream_e2e_late_events_total"), 20);
    assert.equal(
      await value(registry, "scalestream_e2e_latency_seconds_bucket", { le: "600" }),
      1000,
    );

    const text = await registry.metrics();
    assert.match(text, /^# TYPE scalestream_e2e_latency_seconds histogram$/m);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test("the queue-depth gauges show a backlog sent with no consumer running, then the DLQ", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ maxReceiveCount: 1 });
  const registry = createMetricsRegistry({ defaultMetrics: false });
  const depth = createQueueDepthMonitor(registry, {
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    dlqUrl: q.dlqUrl,
    intervalMs: 100,
  });
  const consumerMetrics = createConsumerMetrics(registry, { stats: () => consumer.stats });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig({ visibilityTimeoutS: 5 }),
    workerId: "m2",
    onFlush: consumerMetrics.onFlush,
  });
  try {
    assert.equal(depth.latest(), undefined);
    const gen = createGenerator({ seed: 3, users: 5, products: 5 });
    for (let b = 0; b < 3; b++) {
      await q.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: q.queueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({
            Id: String(i),
            MessageBody: packBody([encodeEvent(gen.next(Date.now()))]),
          })),
        }),
      );
    }
    // One message nobody can read: the consumer leaves it, SQS moves it to the DLQ.
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "{not json" }));
    const snap = await depth.poll();
    assert.equal(snap.queue.visible, 31);
    assert.equal(snap.dlq.visible, 0);
    assert.equal(
      await value(registry, "scalestream_queue_messages", { queue: "source", state: "visible" }),
      31,
    );

    depth.start();
    consumer.start();
    assert.ok(
      await eventually(() => {
        const s = depth.latest();
        return s !== undefined && s.queue.visible === 0 && s.queue.notVisible === 0 &&
          s.dlq.visible === 1;
      }),
      `queue did not drain into the DLQ: ${JSON.stringify(depth.latest())}`,
    );
    assert.equal(
      await value(registry, "scalestream_queue_messages", { queue: "dlq", state: "visible" }),
      1,
    );
    assert.equal(
      await value(registry, "scalestream_queue_messages", { queue: "source", state: "visible" }),
      0,
    );
    assert.ok(await value(registry, "scalestream_consumer_poison_messages_total") >= 1);
    assert.equal(await value(registry, "scalestream_consumer_events_stored_total"), 30);
  } finally {
    depth.stop();
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test("the API middleware counts requests by route pattern and status", async () => {
  const db = await createTestDb();
  try {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const { middleware } = createApiMetrics(registry);
    const app = new Hono();
    app.use(middleware);
    app.route("/", createApp({ sql: db.sql }));
    for (let i = 0; i < 3; i++) assert.equal((await app.request("/health")).status, 200);
    assert.equal((await app.request("/v1/pipeline/totals")).status, 200);
    assert.equal((await app.request("/nope/123")).status, 404);
    const count = (route: string, status: string) =>
      value(registry, "scalestream_api_requests_total", { method: "GET", route, status });
    assert.equal(await count("/health", "200"), 3);
    assert.equal(await count("/v1/pipeline/totals", "200"), 1);
    assert.equal(await count("unmatched", "404"), 1);
    assert.equal(await value(registry, "scalestream_api_request_duration_seconds_count"), 5);
  } finally {
    await db.close();
  }
});

Deno.test("the producer metrics are served at GET /metrics, and not at all with port 0", async () => {
  const registry = createMetricsRegistry();
  createProducerMetrics(registry, {
    stats: () => ({
      events: 5,
      messages: 1,
      batches: 1,
      ackedEvents: 5,
      rejectedEvents: 2,
      failedEvents: 0,
      retriedEntries: 0,
      inflightBatches: 0,
      bytes: 100,
      bodyBytes: 20,
      splits: 0,
    }),
  });
  assert.equal(await serveProducerMetrics(registry, { port: 0 }), undefined);
  const server = await serveMetrics(registry, { port: 0, hostname: "127.0.0.1" });
  try {
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^scalestream_producer_events_acked_total 5$/m);
    assert.match(text, /^scalestream_producer_body_bytes_total 20$/m);
    assert.match(text, /^scalestream_producer_events_rejected_total 2$/m);
    assert.match(text, /^process_cpu_seconds_total /m);
    const missing = await fetch(server.url.replace("/metrics", "/other"));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
