/** Visibility heartbeats: a flush slower than the visibility timeout keeps its messages hidden. */
import assert from "node:assert/strict";
import { delay } from "../shared/mod.ts";
import { pipelineTotals } from "../api/mod.ts";
import { createConsumer, type FlushStage } from "../consumer/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendPacked,
} from "./consumer_support.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

Deno.test("a flush slower than the visibility timeout is not processed by a second consumer meanwhile", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ visibilityTimeoutS: 5 });
  const config = testConfig({ visibilityTimeoutS: 5 });
  let slowFlushes = 0;
  const slow: FlushStage = async ({ inserted }) => {
    if (inserted.length === 0) return;
    slowFlushes++;
    await delay(8_000); // well past the 5 s visibility timeout
  };
  const first = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "slow",
    stages: [slow],
  });
  const second = createConsumer({
    sql: db.connect(2),
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "watcher",
  });
  try {
    const events = makeEvents(100, 71);
    await sendPacked(q.sqs, q.queueUrl, events, 100);
    first.start();
    assert.ok(await eventually(() => slowFlushes === 1));
    second.start(); // polls the whole time the first one's flush is slow
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 100));
    assert.ok(await eventually(async () => (await queueDepth(q.sqs, q.queueUrl)) === 0));
    await Promise.all([first.stop(), second.stop()]);
    assert.ok(first.stats.heartbeats >= 1, "no visibility was extended");
    assert.equal(second.stats.received, 0, "the second consumer received the message meanwhile");
    assert.equal(first.stats.deleted, 1);
    await assertTotals(db.sql, expectedOf(events));
    assert.equal((await pipelineTotals({ sql: db.sql })).duplicates, 0);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
    await q.close();
    await db.close();
  }
});
