/**
 * PostgreSQL stopped and started again while a consumer runs: flushes fail with connection errors,
 * back off with jitter and keep their messages (never deleted uncommitted), and the totals come out
 * exact. Runs on a private PostgreSQL cluster, never on the machine's shared one.
 */
import assert from "node:assert/strict";
import { delay } from "../shared/mod.ts";
import { pipelineTotals } from "../api/mod.ts";
import { createConsumer } from "../consumer/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendPacked,
} from "./consumer_support.ts";
import { createSql, migrate } from "../shared/mod.ts";
import { createTestSqs, eventually, testConfig } from "./harness.ts";
import { privatePostgresAvailable, startPrivatePostgres } from "./private_postgres.ts";

Deno.test({
  name: "PostgreSQL stopped and restarted during a run: messages are kept and totals are exact",
  ignore: !privatePostgresAvailable(),
  async fn() {
    const pg = await startPrivatePostgres();
    const q = await createTestSqs({ visibilityTimeoutS: 5 });
    const sql = createSql(pg.url, { max: 4, statementTimeoutMs: 5000 });
    const consumer = createConsumer({
      sql,
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      config: testConfig({ visibilityTimeoutS: 5 }),
      workerId: "pg-restart",
    });
    try {
      await migrate(sql);
      const events = makeEvents(3000, 111);
      consumer.start();
      await sendPacked(q.sqs, q.queueUrl, events.slice(0, 1000), 50);
      assert.ok(await eventually(async () => (await pipelineTotals({ sql })).stored >= 1000));

      await pg.stop();
      // Sent while the database is down: received, flushes fail, nothing may be deleted.
      await sendPacked(q.sqs, q.queueUrl, events.slice(1000, 2000), 50);
      assert.ok(await eventually(() => consumer.stats.flushErrors >= 2, 20_000));
      await delay(1500);
      assert.ok(await queueDepth(q.sqs, q.queueUrl) >= 20, "messages were deleted uncommitted");
      await pg.start();

      await sendPacked(q.sqs, q.queueUrl, events.slice(2000), 50);
      assert.ok(
        await eventually(async () => (await pipelineTotals({ sql })).stored >= 3000, 40_000),
        "did not catch up after the restart",
      );
      assert.ok(await eventually(async () => (await queueDepth(q.sqs, q.queueUrl)) === 0));
      await consumer.stop();
      await assertTotals(sql, expectedOf(events));
      assert.equal(consumer.stats.poison, 0);
    } finally {
      await consumer.stop();
      await sql.end({ timeout: 2 }).catch(() => {});
      await q.close();
      await pg.destroy();
    }
  },
});
