/**
 * Maintenance in process: one leader by advisory lock (re-elected when it dies), every table under
 * a retention rule, and pruning that never changes a total or a rollup.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { pipelineTotals } from "../api/mod.ts";
import { registerAnalyticsRoutes } from "../api/routes/analytics/register.ts";
import { flushEvents, runAnalyticsJobs } from "../consumer/mod.ts";
import { startMaintenanceLeader } from "../consumer/maintenance_leader.ts";
import {
  createRetentionRegistry,
  KEPT_TABLES,
  resolveRetention,
} from "../consumer/retention_rules.ts";
import { runMaintenance } from "../consumer/run_maintenance.ts";
import { ConfigError, createSql, type Sql } from "../shared/mod.ts";
import { accepted, config, flushAll, seededEvents, segmentOf } from "./analytics_fixtures.ts";
import { createTestDb, eventually, testDatabaseUrl } from "./harness.ts";

const DAY = 86_400_000;
const { embedded } = await testDatabaseUrl();

async function rowCounts(sql: Sql): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const rule of createRetentionRegistry().rules()) {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(rule.table)}`;
    out[rule.table] = r!.n;
  }
  const [e] = await sql<{ n: number }[]>`select count(*)::int as n from events`;
  out.events = e!.n;
  return out;
}

/** What the API answers per day over the whole history: traffic, revenue, users, top products. */
async function dailyAnswers(sql: Sql, nowMs: number) {
  const app = new OpenAPIHono();
  registerAnalyticsRoutes(app, { sql });
  const range = `window=1d&from=${new Date(nowMs - 22 * DAY).toISOString()}&to=${
    new Date(nowMs).toISOString()
  }`;
  const out: Record<string, unknown> = {};
  for (
    const path of [
      `/v1/metrics/traffic?${range}`,
      `/v1/metrics/revenue?${range}&device=mobile`,
      `/v1/metrics/active-users?${range}`,
      `/v1/metrics/geo?${range}`,
      `/v1/top/products?${range}&limit=20`,
    ]
  ) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    out[path] = await res.json();
  }
  return out;
}

Deno.test("every table of the schema has a retention rule or a reason to be kept", async () => {
  const db = await createTestDb();
  try {
    const tables = await db.sql<{ name: string }[]>`
      select c.relname as name from pg_class c
      where c.relnamespace = current_schema()::regnamespace
        and c.relkind in ('r', 'p') and not c.relispartition`;
    const ruled = new Set(
      createRetentionRegistry().rules().flatMap((r) => [r.table, ...(r.alsoPrunes ?? [])]),
    );
    for (const { name } of tables) {
      if (name === "events") continue; // daily partitions, dropped whole past RETENTION_DAYS
      assert.ok(
        ruled.has(name) || name in KEPT_TABLES,
        `table "${name}" has no retention rule (consumer/retention_rules.ts)`,
      );
    }
    // And docs/operations.md lists every rule.
    const doc = await Deno.readTextFile(new URL("../docs/operations.md", import.meta.url));
    for (
      const t of [
        ...createRetentionRegistry().rules().map((r) => r.table),
        ...Object.keys(KEPT_TABLES),
      ]
    ) {
      assert.ok(doc.includes(`| \`${t}\``), `docs/operations.md does not list ${t}`);
    }
  } finally {
    await db.close();
  }
});

Deno.test("resolveRetention() applies overrides and refuses one that names no table", () => {
  const registry = createRetentionRegistry();
  const rules = resolveRetention(registry, { retentionDays: 5, overrides: { rejects: 90 } });
  assert.equal(rules.find((r) => r.table === "rejects")!.days, 90);
  assert.equal(rules.find((r) => r.table === "events_default")!.days, 5);
  assert.throws(
    () => resolveRetention(registry, { retentionDays: 5, overrides: { reject: 1 } }),
    (e) => e instanceof ConfigError && e.variable === "RETENTION_OVERRIDES",
  );
  assert.throws(() => registry.register({ ...rules[0]!, table: "rejects" }), TypeError);
});

Deno.test({
  name: "one consumer leads maintenance; when it dies or stops another takes over",
  ignore: embedded,
  async fn() {
    const db = await createTestDb();
    const tag = crypto.randomUUID().slice(0, 8);
    const pool = (name: string) =>
      createSql(db.url, { max: 1, searchPath: db.schema, applicationName: `${name}-${tag}` });
    const [a, b] = [pool("leader-a"), pool("leader-b")];
    const runs: string[] = [];
    const leaderA = startMaintenanceLeader({ session: a }, {
      intervalMs: 0,
      run: () => Promise.resolve(runs.push("a")),
    });
    const leaderB = startMaintenanceLeader({ session: b }, {
      intervalMs: 0,
      run: () => Promise.resolve(runs.push("b")),
    });
    try {
      assert.equal(await leaderA.tick(), true);
      assert.equal(await leaderB.tick(), false);
      assert.equal(await leaderA.tick(), true);
      assert.equal(await leaderB.tick(), false);
      assert.deepEqual(runs, ["a", "a"]);
      // A's process dies: its connection closes, PostgreSQL ends the session and frees the lock.
      await a.end({ timeout: 0 });
      assert.ok(
        await eventually(async () =>
          (await db.sql`
            select 1 from pg_stat_activity where application_name = ${`leader-a-${tag}`}`)
            .length === 0
        ),
      );
      assert.equal(await leaderB.tick(), true);
      assert.equal(await leaderB.tick(), true);
      assert.deepEqual(runs, ["a", "a", "b", "b"]);
      // A new process (A restarted) follows while B leads.
      const c = pool("leader-c");
      const leaderC = startMaintenanceLeader({ session: c }, {
        intervalMs: 0,
        run: () => Promise.resolve(runs.push("c")),
      });
      assert.equal(await leaderC.tick(), false);
      // A leader that stops hands over at the next tick.
      await leaderB.stop();
      assert.equal(await leaderC.tick(), true);
      assert.deepEqual(runs, ["a", "a", "b", "b", "c"]);
      await leaderC.stop();
      await c.end({ timeout: 2 });
    } finally {
      await leaderA.stop();
      await leaderB.stop();
      await a.end({ timeout: 2 });
      await b.end({ timeout: 2 });
      await db.close();
    }
  },
});

Deno.test("pruning 20 days of history changes no total and no rollup, and bounds the rest", async () => {
  const db = await createTestDb();
  try {
    const now = Date.UTC(2026, 0, 21, 12);
    // 20 days of events, a reject per day, through the real flush with every analytics stage.
    for (let d = 20; d >= 0; d--) {
      const start = now - d * DAY - 6 * 3_600_000;
      const { events } = seededEvents(300, start, 6 * 3_600_000, { seed: 100 + d, users: 60 });
      await flushAll(db.sql, events, { nowMs: start + 6 * 3_600_000 });
      await flushEvents({
        events: accepted([]),
        rejects: [{
          messageId: `m-${d}`,
          index: 0,
          key: `00000000-0000-8000-8000-${String(d).padStart(12, "0")}`,
          kind: "invalid",
          reason: "test",
          eventId: null,
          eventType: null,
          payload: "{}",
        }],
        messages: 1,
        workerId: "test",
      }, { sql: db.sql, segmentOf });
      await runAnalyticsJobs({ sql: db.sql }, config, start + 7 * 3_600_000);
    }
    const totalsBefore = await pipelineTotals({ sql: db.sql });
    const answersBefore = await dailyAnswers(db.sql, now);
    const before = await rowCounts(db.sql);

    const report = await runMaintenance({ sql: db.sql, now: () => now }, { retentionDays: 7 });

    // Totals (running sums) and the API's daily answers over all 21 days (now from the rollups)
    // are exactly what they were; nothing waits any more, and minute rows past 8 days are gone.
    assert.deepEqual(await pipelineTotals({ sql: db.sql }), totalsBefore);
    assert.deepEqual(await dailyAnswers(db.sql, now), answersBefore);
    assert.deepEqual(report.held, {});
    assert.ok(report.pruned.agg_minute_dims! > 0, JSON.stringify(report.pruned));
    const [minute] = await db.sql<{ t: Date }[]>`select min(bucket) as t from agg_minute_dims`;
    assert.ok(minute!.t.getTime() >= now - 8 * DAY - 3_600_000, minute!.t.toISOString());
    // Raw events older than 7 days are gone (moved into partitions, then dropped whole).
    const after = await rowCounts(db.sql);
    const [oldest] = await db.sql<{ t: Date }[]>`select min(event_time) as t from events`;
    assert.ok(oldest!.t.getTime() >= now - 8 * DAY, oldest!.t.toISOString());
    assert.ok(after.events! < before.events!);
    assert.ok(report.partitionsCreated > 0);
    // The rest is pruned by its rule.
    for (const t of ["sessions", "fraud_counters", "user_hour_products"]) {
      assert.ok(report.pruned[t]! > 0, `${t} pruned nothing: ${JSON.stringify(report)}`);
      assert.equal(after[t], before[t]! - report.pruned[t]!);
    }
    const [s] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from sessions where closed and last_at < ${new Date(
      now - 7 * DAY,
    )}`;
    assert.equal(s!.n, 0);
    // A second round finds nothing more.
    const again = await runMaintenance({ sql: db.sql, now: () => now }, { retentionDays: 7 });
    assert.equal(again.partitionsDropped.length, 0);
    assert.ok(Object.values(again.pruned).every((n) => n === 0), JSON.stringify(again.pruned));
  } finally {
    await db.close();
  }
});

Deno.test("minute rows are pruned only below the rollup watermark once totals are running sums", async () => {
  const db = await createTestDb();
  try {
    const now = Date.UTC(2026, 0, 21, 12);
    for (const d of [12, 10, 9]) {
      const { events } = seededEvents(100, now - d * DAY, 3_600_000, { seed: d, users: 20 });
      await flushAll(db.sql, events, { nowMs: now - d * DAY });
    }
    // A rollup that got only as far as 11 days ago: days 10 and 9 stay although expired.
    const watermark = new Date(now - 11 * DAY);
    const asked: Date[] = [];
    const report = await runMaintenance({
      sql: db.sql,
      now: () => now,
      capabilities: {
        runningTotals: true,
        rollUp: (_, { before }) => {
          asked.push(before);
          return Promise.resolve(watermark);
        },
      },
    }, { retentionDays: 7 });
    assert.deepEqual(asked, [new Date(now - 8 * DAY)]);
    assert.equal(report.rolledUpTo, watermark.toISOString());
    assert.equal(report.held.agg_minute, undefined);
    assert.ok(report.pruned.agg_minute! > 0);
    const [r] = await db.sql<{ min: Date }[]>`select min(bucket) as min from agg_minute`;
    assert.ok(r!.min >= watermark, r!.min.toISOString());
    const [old] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from agg_minute where bucket < ${new Date(now - 8 * DAY)}`;
    assert.ok(old!.n > 0, "rows above the watermark were pruned");
  } finally {
    await db.close();
  }
});
