/**
 * The lake end to end on real components: a producer run with a simulated A/B test goes through
 * fauxqs SQS and the consumer into PostgreSQL, is exported to fauxqs S3, and then
 * `deno task query` (the real program) counts exactly the stored events, the batch view finds no
 * difference, and the experiment report's interval holds the lift the producer simulated.
 */
import assert from "node:assert/strict";
import { createApp, type LakeStatus } from "../api/mod.ts";
import { createConsumer } from "../consumer/mod.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  metaOf,
  parseExperiment,
  runProducer,
  type SentMeta,
} from "../producer/mod.ts";
import type { CohortReport, ExperimentReport } from "../shared/mod.ts";
import { checkDay } from "../consumer/lake/batch_view.ts";
import { refreshReports } from "../consumer/lake/run_lake_jobs.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";
import { createTestLake, exportAll } from "./lake_fixtures.ts";

const EVENTS = 30_000;
const LIFT = 0.3;

Deno.test("after a producer run the lake holds every stored event and the simulated lift lies in its interval", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const lake = await createTestLake();
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "lake-w1",
  });
  try {
    consumer.start();
    const ledger = createLedger();
    const sender = createEventSender<SentMeta>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 65_536,
      lingerMs: 10,
      maxInflightBatches: 8,
      onAck: (m) => ledger.acked(m),
      onFail: (m) => ledger.failed(m),
    });
    const generator = createGenerator({
      seed: 11,
      users: 2000,
      products: 100,
      experiment: parseExperiment(`checkout:${LIFT}`),
    });
    // Simulated time: events 20 ms apart, ending now, whatever the real pace of the run.
    const startMs = Date.now() - EVENTS * 20;
    let i = 0;
    await runProducer({ rateAt: () => 50_000, maxEvents: EVENTS }, {
      next: () => {
        const event = generator.next(startMs + i++ * 20);
        return { event, meta: metaOf("unique", event) };
      },
      sender,
    });
    await sender.flush();
    assert.equal(ledger.totals().accepted, EVENTS);
    assert.ok(
      await eventually(async () => {
        const [r] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`;
        return r!.n >= EVENTS;
      }, 120_000),
      "the consumer did not store every event",
    );
    await consumer.stop();

    await exportAll(db.sql, lake);
    const [stored] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`;
    assert.equal(stored!.n, EVENTS);

    // The Done-when command, as a user runs it.
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "query", "--json", "select count(*) as n from events"],
      env: {
        SQS_ENDPOINT: lake.endpoint,
        LAKE_BUCKET: lake.bucket,
        LAKE_CACHE_DIR: lake.cacheDir,
        LOG_LEVEL: "warning",
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    const rows = JSON.parse(new TextDecoder().decode(run.stdout)) as { n: number }[];
    assert.deepEqual(rows, [{ n: stored!.n }]);

    const deps = { sql: db.sql, s3: lake.s3, bucket: lake.bucket, cacheDir: lake.cacheDir };
    const days = [
      ...new Set([startMs, Date.now()].map((t) => new Date(t).toISOString().slice(0, 10))),
    ];
    for (const day of days) {
      const check = await checkDay(day, deps);
      assert.equal(check.differences, 0, JSON.stringify(check.details));
      assert.ok(check.keys > 0);
    }
    const reports = await refreshReports(deps);
    assert.deepEqual(reports.experiments, ["checkout"]);

    const app = createApp({ sql: db.sql });
    const status = await (await app.request("/v1/lake/status")).json() as LakeStatus;
    assert.equal(status.exportedEvents, EVENTS);
    assert.equal(status.batchView.differences, 0);
    assert.equal(status.pendingExport, null);

    const res = await app.request("/v1/lake/experiments/checkout");
    assert.equal(res.status, 200);
    const report = await res.json() as ExperimentReport;
    assert.equal(report.baseline, "control");
    const [control, treatment] = ["control", "treatment"].map((v) =>
      report.variants.find((x) => x.variant === v)!
    );
    const exposed = await db.sql<{ n: number }[]>`
      select count(distinct user_id)::int as n from events where attrs -> 'properties' ? 'variant'`;
    assert.equal(control!.users + treatment!.users, exposed[0]!.n);
    const comparison = report.comparisons[0]!;
    const [low, high] = comparison.relativeLiftInterval!;
    const measured = treatment!.rate / control!.rate - 1;
    assert.ok(Math.abs(comparison.relativeLift! - measured) < 1e-12);
    assert.ok(low <= measured && measured <= high, `measured lift ${measured} in ${low}..${high}`);
    assert.ok(low <= LIFT && LIFT <= high, `simulated lift ${LIFT} in ${low}..${high}`);
    assert.equal(report.sampleRatio.mismatch, false);

    const cohorts = await (await app.request("/v1/lake/cohorts")).json() as CohortReport;
    const shoppers = await db.sql<{ n: number }[]>`
      select count(distinct user_id)::int as n from events where event_type <> 'inventory_update'`;
    assert.equal(cohorts.cohorts.reduce((s, c) => s + c.users, 0), shoppers[0]!.n);
    assert.equal((await app.request("/v1/lake/experiments/nope")).status, 404);
  } finally {
    await consumer.stop();
    await lake.close();
    await q.close();
    await db.close();
  }
});
