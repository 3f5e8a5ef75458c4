/**
 * Deletes that come back full (issue 20): committed messages of every flush share DeleteMessageBatch
 * requests of ten, what is left goes out on stop(), and a flush that fails deletes nothing. Real
 * fauxqs and PostgreSQL; assertions on counts and state, never on times.
 */
import assert from "node:assert/strict";
import type { DeleteMessageBatchCommandInput } from "@aws-sdk/client-sqs";
import { pipelineTotals } from "../api/mod.ts";
import { createConsumer, type FlushStage } from "../consumer/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendPacked,
} from "./consumer_support.ts";
import { instrumentSqsClient, Registry } from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig, type TestSqs } from "./harness.ts";

/** Entries of every DeleteMessageBatch sent through `q.sqs` from now on. */
function recordDeletes(q: TestSqs): number[] {
  const sizes: number[] = [];
  q.sqs.middlewareStack.add((next, context) => (args) => {
    if (context.commandName === "DeleteMessageBatchCommand") {
      sizes.push((args.input as DeleteMessageBatchCommandInput).Entries?.length ?? 0);
    }
    return next(args);
  }, { step: "initialize" });
  return sizes;
}

async function billedDeletes(registry: Registry): Promise<number> {
  const m = await registry.getSingleMetric("scalestream_sqs_billed_requests_total")!.get();
  return m.values.find((v) => v.labels.operation === "DeleteMessageBatch")?.value ?? 0;
}

Deno.test("a drained backlog is deleted in DeleteMessageBatch requests of ten; the rest goes out on stop()", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ visibilityTimeoutS: 300 });
  const registry = new Registry();
  instrumentSqsClient(q.sqs, registry);
  // A delete wait longer than the test: every request before stop() must be a full one.
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig({ pollers: 4, deleteMaxWaitMs: 10_000, visibilityTimeoutS: 300 }),
    workerId: "deletes-full",
  });
  try {
    const events = makeEvents(1250, 71);
    const messages = await sendPacked(q.sqs, q.queueUrl, events, 10); // 125 messages
    const sizes = recordDeletes(q);
    consumer.start();
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 1250));
    assert.ok(await eventually(() => consumer.stats.deleted === 120, 60_000));
    assert.deepEqual(sizes, Array(12).fill(10), "twelve full requests for 120 messages");
    assert.equal(await queueDepth(q.sqs, q.queueUrl), 5, "five committed, waiting for a batch");
    await consumer.stop();
    assert.deepEqual(sizes, [...Array(12).fill(10), 5]);
    assert.equal(consumer.stats.deleted, messages);
    assert.equal(await billedDeletes(registry), Math.ceil(messages / 10));
    assert.equal(await queueDepth(q.sqs, q.queueUrl), 0);
    await assertTotals(db.sql, expectedOf(events));
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test("a flush that fails deletes nothing: its messages stay in the queue for the DLQ", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ visibilityTimeoutS: 300, maxReceiveCount: 5 });
  const broken: FlushStage = () => Promise.reject(new Error("simulated permanent failure"));
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig({ deleteMaxWaitMs: 0, visibilityTimeoutS: 300 }),
    workerId: "deletes-none",
    stages: [broken],
  });
  try {
    const events = makeEvents(40, 72);
    const messages = await sendPacked(q.sqs, q.queueUrl, events, 10);
    const sizes = recordDeletes(q);
    consumer.start();
    // Each message ends up failing a flush of its own (bisection) and is left for the DLQ.
    assert.ok(await eventually(() => consumer.stats.poison >= messages, 60_000));
    await consumer.stop();
    assert.deepEqual(sizes, [], "no DeleteMessageBatch at all");
    assert.equal(consumer.stats.deleted, 0);
    assert.equal((await pipelineTotals({ sql: db.sql })).stored, 0, "nothing committed");
    assert.equal(await queueDepth(q.sqs, q.queueUrl), messages, "every message still queued");
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});
