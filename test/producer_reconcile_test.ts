/**
 * The producer's ledger against what the pipeline stored: a run with every kind of injection,
 * through real fauxqs, a real consumer and real PostgreSQL, reconciles exactly.
 */
import assert from "node:assert/strict";
import { pipelineTotals } from "../api/mod.ts";
import {
  createEventSender,
  createEventSource,
  createGenerator,
  createLedger,
  type InjectionRates,
  reconcile,
  runProducer,
  runTotals,
  scopeRun,
  type SentMeta,
} from "../producer/mod.ts";
import { createTestSqs, eventually, testConfig } from "./harness.ts";
import { startTestPipeline } from "./pipeline_support.ts";

type TestSqs = Awaited<ReturnType<typeof createTestSqs>>;

/** A fresh database, a queue and a started consumer (no analytics stages). */
async function startPipeline(workerId: string) {
  const { db, q, config, consumer } = await startTestPipeline(workerId);
  return {
    db,
    q,
    config,
    async close() {
      await consumer.stop();
      await q.close();
      await db.close();
    },
  };
}

/** One producer run of `n` events with injections, tagged with a run id; its ledger and scope. */
async function produceRun(
  q: TestSqs,
  config: ReturnType<typeof testConfig>,
  options: { seed: number; n: number; users: number; products: number; rates: InjectionRates },
) {
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
  const gen = createGenerator({
    seed: options.seed,
    users: options.users,
    products: options.products,
  });
  const source = createEventSource(gen, {
    rates: options.rates,
    lateHorizonS: config.lateHorizonS,
    futureSkewS: config.futureSkewS,
  });
  const run = scopeRun(source.next);
  await runProducer({ rateAt: () => 50_000, maxEvents: options.n }, { next: run.next, sender });
  return { ledger: ledger.totals(), scope: run.scope() };
}

Deno.test("a run with duplicates, invalid, late, future and out-of-window events reconciles with the pipeline", async () => {
  const { db, q, config, close } = await startPipeline("reconcile");
  try {
    const { ledger: sent } = await produceRun(q, config, {
      seed: 77,
      n: 6000,
      users: 200,
      products: 40,
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
    });
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
    await close();
  }
});

Deno.test("reconcile of a run counts that run's events only, with an earlier run in the same database", async () => {
  const { db, q, config, close } = await startPipeline("reconcile-runs");
  const rates = { invalid: 0.03, duplicates: 0.03, late: 0.02, tooNew: 0.02, tooOld: 0.02 };
  const produce = (seed: number, n: number) =>
    produceRun(q, config, { seed, n, users: 100, products: 30, rates });
  try {
    const first = await produce(1, 1500);
    const second = await produce(2, 2000);
    const accepted = first.ledger.accepted + second.ledger.accepted;
    const caughtUp = await eventually(async () => {
      const t = await pipelineTotals({ sql: db.sql });
      return t.stored + t.rejected + t.tooNew + t.tooOld + t.duplicates >= accepted;
    });
    assert.ok(caughtUp, "the consumer did not catch up");

    // The whole database holds both runs: the second run's ledger alone finds "extra" events.
    const whole = reconcile(second.ledger, await pipelineTotals({ sql: db.sql }));
    assert.equal(whole.exact, false);
    assert.ok(whole.extra > 0);

    for (const run of [first, second]) {
      const totals = await runTotals(run.scope, { sql: db.sql });
      for (const k of ["invalid", "tooNew", "tooOld"] as const) {
        assert.ok(run.ledger[k] > 0, `no ${k} in run ${run.scope.id}`);
      }
      const result = reconcile(run.ledger, totals);
      assert.deepEqual(result.differences, [], `run ${run.scope.id}`);
      assert.equal(result.extra, 0);
      assert.equal(totals.duplicates, null);
    }
  } finally {
    await close();
  }
});
