import assert from "node:assert/strict";
import { createTestDb, createTestSqs, testConfig } from "../test/harness.ts";
import { createConsumer, createHealthApp } from "./mod.ts";

Deno.test("health server reports 503 until the consumer runs, readiness and metrics", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "health",
  });
  try {
    const app = createHealthApp({
      consumer,
      sql: db.sql,
      metrics: () => Promise.resolve("consumer_up 1\n"),
    });
    let res = await app.request("/health");
    assert.equal(res.status, 503);
    assert.equal((await res.json()).reason, "not started");
    consumer.start();
    res = await app.request("/health");
    assert.equal(res.status, 200);
    res = await app.request("/ready");
    assert.equal(res.status, 200);
    res = await app.request("/metrics");
    assert.equal(await res.text(), "consumer_up 1\n");
    await consumer.stop();
    res = await app.request("/health");
    assert.equal(res.status, 503);
    assert.equal((await res.json()).reason, "shutting down");
    const gone = createHealthApp({ consumer, sql: db.connect(1) });
    await db.close(); // ends every pool: the database is unreachable for this app
    res = await gone.request("/ready");
    assert.equal(res.status, 503);
    assert.equal((await gone.request("/metrics")).status, 404);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});
