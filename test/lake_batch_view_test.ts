/**
 * The batch view and the lake's reports on real PostgreSQL, fauxqs S3 and DuckDB: a clean run has
 * no difference (exported or not yet), one corrupted rollup row is reported in the check, the API
 * and the gauge; weekly cohorts and an experiment with a broken split come out as built.
 */
import assert from "node:assert/strict";
import { createApp, type LakeStatus, registerLakeMetrics } from "../api/mod.ts";
import { flushEvents } from "../consumer/mod.ts";
import {
  createMetricsRegistry,
  type Event,
  type ExperimentReport,
  type Sql,
} from "../shared/mod.ts";
import { exportToLake } from "../consumer/lake/mod.ts";
import { checkDay } from "../consumer/lake/batch_view.ts";
import { refreshReports } from "../consumer/lake/run_lake_jobs.ts";
import { accepted, makeEvent, seededEvents } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";
import { createTestLake, exportAll } from "./lake_fixtures.ts";

async function flush(sql: Sql, events: readonly Event[]): Promise<void> {
  for (let i = 0; i < events.length; i += 400) {
    await flushEvents(
      { events: accepted(events.slice(i, i + 400)), rejects: [], messages: 1, workerId: "t" },
      { sql },
    );
  }
}

Deno.test("the batch view agrees on a clean run and reports a corrupted rollup row", async () => {
  const db = await createTestDb();
  const lake = await createTestLake();
  try {
    const day = "2026-03-04";
    const dayStart = Date.parse(`${day}T00:00:00Z`);
    const { events } = seededEvents(3000, dayStart + 3_600_000, 20 * 3_600_000, { seed: 9 });
    await flush(db.sql, events);
    const deps = { sql: db.sql, s3: lake.s3, bucket: lake.bucket, cacheDir: lake.cacheDir };

    // Nothing exported yet: every event is counted from PostgreSQL's unexported rows.
    const before = await checkDay(day, deps);
    assert.equal(before.differences, 0, JSON.stringify(before.details));
    assert.equal(before.lakeEvents, 0);
    // Part exported, part not.
    await exportToLake(deps, { maxRows: 1000, maxBatches: 1 });
    const partly = await checkDay(day, deps);
    assert.equal(partly.differences, 0, JSON.stringify(partly.details));
    await exportAll(db.sql, lake);
    const clean = await checkDay(day, deps);
    assert.equal(clean.differences, 0, JSON.stringify(clean.details));
    assert.equal(clean.lakeEvents, 3000);
    assert.ok(clean.keys >= 20);

    const [row] = await db.sql<{ bucket: Date; event_type: string }[]>`
      update agg_minute set events = events + 1
      where ctid = (select ctid from agg_minute where event_type = 'page_view'
                    order by bucket limit 1)
      returning bucket, event_type`;
    const corrupt = await checkDay(day, deps);
    assert.equal(corrupt.differences, 1);
    const d = corrupt.details[0]!;
    assert.equal(d.hour, row!.bucket.getUTCHours());
    assert.equal(d.eventType, "page_view");
    assert.equal(d.field, "events");
    assert.equal(d.stream, d.lake + 1);

    const app = createApp({ sql: db.sql });
    const status = await (await app.request("/v1/lake/status")).json() as LakeStatus;
    assert.equal(status.batchView.differences, 1);
    assert.deepEqual(status.batchView.checks[0]!.details, [d]);
    const registry = createMetricsRegistry();
    registerLakeMetrics(registry, { sql: db.sql });
    assert.match(await registry.metrics(), /^scalestream_lake_batch_view_differences 1$/m);
  } finally {
    await lake.close();
    await db.close();
  }
});

Deno.test("the reports build weekly cohorts and flag an experiment's sample-ratio mismatch", async () => {
  const db = await createTestDb();
  const lake = await createTestLake();
  try {
    const week = (n: number) => Date.parse("2026-02-02T10:00:00Z") + n * 7 * 86_400_000; // Mondays
    const at = (user: string, w: number, type: Event["eventType"] = "page_view") =>
      makeEvent({ eventType: type, userId: user, timestamp: new Date(week(w)).toISOString() });
    // a: weeks 0, 1, 2; b: weeks 0, 2; c: week 1 only.
    const events = [at("a", 0), at("a", 1), at("a", 2), at("b", 0), at("b", 2), at("c", 1)];
    // An experiment whose split is 70/30 although it is meant to be even.
    const e = (user: string, variant: string, type: Event["eventType"]) =>
      makeEvent({
        eventType: type,
        userId: user,
        timestamp: new Date(week(3)).toISOString(),
        properties: { experiment: "banner", variant },
      });
    for (let i = 0; i < 700; i++) {
      events.push(e(`x${i}`, "control", i < 70 ? "purchase" : "page_view"));
    }
    for (let i = 0; i < 300; i++) {
      events.push(e(`y${i}`, "treatment", i < 45 ? "purchase" : "page_view"));
    }
    await flush(db.sql, events);
    await exportAll(db.sql, lake);
    await refreshReports({
      sql: db.sql,
      s3: lake.s3,
      bucket: lake.bucket,
      cacheDir: lake.cacheDir,
    });

    const app = createApp({ sql: db.sql });
    const cohorts = await (await app.request("/v1/lake/cohorts")).json();
    const byWeek = Object.fromEntries(
      cohorts.cohorts.map((c: { week: string; retained: number[] }) => [c.week, c.retained]),
    );
    assert.deepEqual(byWeek["2026-02-02"], [2, 1, 2]);
    assert.deepEqual(byWeek["2026-02-09"], [1]);
    assert.deepEqual(byWeek["2026-02-23"], [1000]);

    const { experiments } = await (await app.request("/v1/lake/experiments")).json() as {
      experiments: ExperimentReport[];
    };
    assert.equal(experiments.length, 1);
    const banner = experiments[0]!;
    assert.deepEqual(
      banner.variants.map((v) => [v.variant, v.users, v.conversions]),
      [["control", 700, 70], ["treatment", 300, 45]],
    );
    assert.equal(banner.sampleRatio.mismatch, true);
    assert.ok(banner.sampleRatio.pValue < 1e-6);
    assert.ok(Math.abs(banner.comparisons[0]!.relativeLift! - 0.5) < 1e-12);
  } finally {
    await lake.close();
    await db.close();
  }
});
