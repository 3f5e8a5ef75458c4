/**
 * Faults the consumer must absorb without losing or double counting: transient database errors
 * (retried with backoff, messages kept), DeleteMessageBatch entries that fail (redelivered, skipped
 * as duplicates), a backlog far larger than the in-flight bound (memory bounded, polls pause),
 * enrichment feeding `agg_minute.segment`, and the status row.
 */
import assert from "node:assert/strict";
import { delay } from "../shared/mod.ts";
import type {
  DeleteMessageBatchCommandInput,
  DeleteMessageBatchCommandOutput,
} from "@aws-sdk/client-sqs";
import { pipelineTotals } from "../api/mod.ts";
import { createConsumer, createEnricher, type FlushStage } from "../consumer/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendPacked,
} from "./consumer_support.ts";
import { createGenerator, dimensionsOf } from "../producer/mod.ts";
import { createSqsClient, loadDimensions } from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

Deno.test("transient database errors are retried with the messages kept; nothing is lost or doubled", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  let calls = 0;
  const flaky: FlushStage = () => {
    calls++;
    if (calls > 4) return Promise.resolve();
    const code = calls % 2 === 0 ? "40P01" : "40001";
    return Promise.reject(Object.assign(new Error(`simulated ${code}`), { code }));
  };
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "flaky",
    stages: [flaky],
  });
  try {
    const events = makeEvents(500, 31);
    await sendPacked(q.sqs, q.queueUrl, events, 50);
    consumer.start();
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 500));
    await consumer.stop();
    assert.ok(consumer.stats.flushErrors >= 4);
    assert.equal(consumer.stats.poison, 0);
    assert.equal(await queueDepth(q.sqs, q.queueUrl), 0);
    await assertTotals(db.sql, expectedOf(events));
    assert.equal((await pipelineTotals({ sql: db.sql })).duplicates, 0);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test("messages whose delete fails come back and are skipped as duplicates", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ visibilityTimeoutS: 5 });
  // fauxqs (like SQS for a well-formed but stale handle) reports unknown receipt handles as
  // deleted, so partial failure is injected on a second client to the same fauxqs: while `broken`,
  // every other entry of a DeleteMessageBatch is not sent and comes back as a `Failed` entry; the
  // others really are deleted. The consumer must retry only the failed ones, give up after three
  // attempts, and lose or double count nothing when those messages come back.
  const sqs = createSqsClient({ awsRegion: "us-east-1", sqsEndpoint: q.endpoint });
  let broken = true;
  sqs.middlewareStack.add((next, context) => async (args) => {
    if (!broken || context.commandName !== "DeleteMessageBatchCommand") return next(args);
    const input = args.input as DeleteMessageBatchCommandInput;
    const entries = input.Entries ?? [];
    const failed = entries.filter((_, i) => i % 2 === 0).map((e) => ({
      Id: e.Id!,
      SenderFault: false,
      Code: "InternalError",
      Message: "injected failure",
    }));
    const pass = entries.filter((_, i) => i % 2 === 1);
    if (pass.length === 0) {
      return { output: { Successful: [], Failed: failed, $metadata: {} }, response: {} } as never;
    }
    const res = await next({ ...args, input: { ...input, Entries: pass } });
    const out = res.output as DeleteMessageBatchCommandOutput;
    return { ...res, output: { ...out, Failed: [...(out.Failed ?? []), ...failed] } };
  }, { step: "initialize" });
  const consumer = createConsumer({
    sql: db.sql,
    sqs,
    queueUrl: q.queueUrl,
    config: testConfig({ visibilityTimeoutS: 5 }),
    workerId: "deletes",
  });
  try {
    const events = makeEvents(200, 41);
    const messages = await sendPacked(q.sqs, q.queueUrl, events, 40);
    consumer.start();
    assert.ok(
      await eventually(() => consumer.stats.deleted + consumer.stats.deleteFailures >= messages),
    );
    broken = false;
    const lost = consumer.stats.deleteFailures;
    assert.ok(lost >= 1);
    assert.ok(
      await eventually(async () => (await pipelineTotals({ sql: db.sql })).duplicates >= 40 * lost),
    );
    assert.ok(await eventually(async () => (await queueDepth(q.sqs, q.queueUrl)) === 0));
    await consumer.stop();
    await assertTotals(db.sql, expectedOf(events));
    assert.equal((await pipelineTotals({ sql: db.sql })).duplicates, 40 * lost);
  } finally {
    await consumer.stop();
    sqs.destroy();
    await q.close();
    await db.close();
  }
});

Deno.test("a backlog far above the in-flight bound keeps memory bounded and pauses polling", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const slowDb: FlushStage = () => delay(20); // every flush takes a little longer
  const config = testConfig({
    maxInflightEvents: 400,
    flushMaxEvents: 100,
    flushConcurrency: 1,
    pollers: 2,
  });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "backlog",
    stages: [slowDb],
  });
  try {
    const events = makeEvents(4000, 51); // 10× the in-flight bound
    await sendPacked(q.sqs, q.queueUrl, events, 20);
    consumer.start();
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 4000));
    await consumer.stop();
    await assertTotals(db.sql, expectedOf(events));
    // Each poll checks for room first; one receive per poller may land on top (10 messages × 20).
    const bound = config.maxInflightEvents + config.pollers * 10 * 20;
    assert.ok(
      consumer.stats.peakInflightEvents <= bound,
      `peak ${consumer.stats.peakInflightEvents} > ${bound}`,
    );
    assert.ok(consumer.stats.pollsPaused > 0, "polling never paused");
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test("enrichment fills agg_minute.segment and each consumer keeps a status row", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const gen = createGenerator({ seed: 61, users: 200, products: 50 });
  const dims = dimensionsOf(gen);
  dims.users.forEach((u, i) => u.segment = ["new", "returning", "loyal"][i % 3]!);
  // A quarter of the users are missing from the dimension: they are counted as "unknown".
  await loadDimensions({ products: dims.products, users: dims.users.slice(50) }, { sql: db.sql });
  const enricher = createEnricher({ sql: db.sql, ttlMs: 60_000, maxEntries: 1000 });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig({ consumerStatusIntervalMs: 100 }),
    workerId: "enriched",
    enricher,
  });
  try {
    const now = Date.now();
    const events = Array.from({ length: 600 }, (_, i) => gen.next(now - 60_000 + i * 50));
    await sendPacked(q.sqs, q.queueUrl, events, 60);
    consumer.start();
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 600));
    await consumer.stop();
    await assertTotals(db.sql, expectedOf(events));
    const segmentOf = new Map(dims.users.slice(50).map((u) => [u.userId, u.segment]));
    const want: Record<string, number> = {};
    for (const e of events) {
      const s = segmentOf.get(e.userId) ?? "unknown";
      want[s] = (want[s] ?? 0) + 1;
    }
    const rows = await db.sql<{ segment: string; events: number }[]>`
      select segment, sum(events)::int as events from agg_minute group by segment`;
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.segment, r.events])), want);
    assert.ok(enricher.stats.unknownUsers > 0);
    assert.ok(enricher.stats.queries <= consumer.stats.flushes + consumer.stats.flushErrors);
    const [status] = await db.sql<{ stored: number; worker_id: string }[]>`
      select worker_id, stored from consumer_status`;
    assert.equal(status?.worker_id, "enriched");
    assert.equal(status?.stored, 600);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});
