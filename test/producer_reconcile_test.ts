/**
 * The producer's ledger against what the pipeline stored: a run with every kind of injection,
 * through real fauxqs, a real consumer and real PostgreSQL, reconciles exactly.
 */
import assert from "node:assert/strict";
import { pipelineTotals } from "../api/mod.ts";
import { createConsumer } from "../consumer/mod.ts";
import {
  createEventSender,
  createEventSource,
  createGenerator,
  createLedger,
  runProducer,
  type SentMeta,
} from "../producer/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

Deno.test("a run with duplicates, invalid, late, future and out-of-window events reconciles with the pipeline", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const config = testConfig();
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "reconcile",
  });
  try {
    consumer.start();
    const ledger = createLedger();
    const sender = createEventSender<SentMeta>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 16_384,
      lingerMs: 10,
      maxInflightBatches: 4,
      onAck: (m) => ledger.acked(m),
      onFail: (m) => ledger.failed(m),
    });
    const gen = createGenerator({ seed: 77, users: 200, products: 40 });
    const source = createEventSource(gen, {
      rates: {
        fraud: 0.02,
        bots: 0.02,
        invalid: 0.02,
        duplicates: 0.03,
        late: 0.02,
        future: 0.02,
        tooNew: 0.01,
        tooOld: 0.01,
      },
      lateHorizonS: config.lateHorizonS,
      futureSkewS: config.futureSkewS,
    });
    await runProducer({ rateAt: () => 50_000, maxEvents: 6000 }, { next: source.next, sender });
    const sent = ledger.totals();
    assert.equal(sent.failed, 0);
    assert.equal(sent.accepted, 6000);
    for (const k of ["invalid", "duplicates", "tooNew", "tooOld"] as const) {
      assert.ok(sent[k] > 0, `no ${k} in the run`);
    }

    const caughtUp = await eventually(async () => {
      const t = await pipelineTotals({ sql: db.sql });
      return t.stored + t.rejected + t.tooNew + t.tooOld + t.duplicates >= sent.accepted;
    });
    assert.ok(caughtUp, "the consumer did not catch up");
    const t = await pipelineTotals({ sql: db.sql });
    assert.equal(t.stored, sent.unique - sent.tooOld - sent.tooNew);
    assert.deepEqual(t.byType, sent.byType);
    assert.equal(t.revenue, sent.revenue);
    assert.equal(t.rejected, sent.invalid);
    assert.equal(t.tooNew, sent.tooNew);
    assert.equal(t.tooOld, sent.tooOld);
    assert.ok(t.duplicates >= sent.duplicates);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});
