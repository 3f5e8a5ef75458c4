/**
 * Reports computed from the lake with DuckDB and stored in PostgreSQL for the API
 * (`lake_reports`): weekly retention cohorts, and per-variant conversion of every A/B experiment
 * the events carry (`properties.experiment` / `properties.variant`, exported as columns).
 *
 * Both read only exported events (batch_id below the watermark the sync saw), so a report names
 * the exact set of events behind it.
 */
import { type CohortReport, type ExperimentReport, type Sql } from "../../shared/mod.ts";
import type { LakeDb } from "./duckdb_lake.ts";
import { compareProportions, sampleRatioMismatch, wilsonInterval } from "./stats.ts";

/** The event that counts as converting. */
export const CONVERSION_EVENT = "purchase";
/** The chi-square p-value below which a split is reported as a sample-ratio mismatch. */
export const SRM_P_VALUE = 0.001;
/** Cohorts kept in the report (the most recent first-seen weeks). */
export const COHORT_WEEKS = 12;

/** Weekly retention: first-seen week × weeks since, over users' shopping events. */
export async function computeCohorts(
  db: LakeDb,
  watermark: number,
  now = new Date(),
): Promise<CohortReport> {
  const { rows } = await db.query(`
    with activity as (
      select distinct user_id, cast(date_trunc('week', event_time) as date) as week
      from events
      where event_type <> 'inventory_update' and batch_id < ${Number(watermark)}),
    firsts as (select user_id, min(week) as cohort from activity group by user_id)
    select strftime(cohort, '%Y-%m-%d') as cohort, datediff('week', cohort, week) as since,
           count(*) as users
    from activity join firsts using (user_id)
    group by all
    order by 1, 2`);
  const byCohort = new Map<string, number[]>();
  for (const [cohort, since, users] of rows) {
    const list = byCohort.get(String(cohort)) ?? [];
    list[Number(since)] = Number(users);
    byCohort.set(String(cohort), list);
  }
  const cohorts = [...byCohort.entries()].slice(-COHORT_WEEKS).map(([week, list]) => {
    const users = list[0] ?? 0;
    const retained = Array.from(list, (v) => v ?? 0);
    return {
      week,
      users,
      retained,
      rates: retained.map((v) => users > 0 ? v / users : 0),
    };
  });
  return { computedAt: now.toISOString(), watermark, cohorts };
}

/** Every experiment in the lake, analysed against its baseline variant. */
export async function computeExperiments(
  db: LakeDb,
  watermark: number,
  options: { confidence?: number; now?: Date } = {},
): Promise<ExperimentReport[]> {
  const confidence = options.confidence ?? 0.95;
  const { rows } = await db.query(`
    with per_user as (
      select experiment, user_id, min(variant) as first_variant, max(variant) as last_variant,
             bool_or(event_type = '${CONVERSION_EVENT}') as converted
      from events
      where experiment is not null and variant is not null and batch_id < ${Number(watermark)}
      group by experiment, user_id)
    select experiment, first_variant as variant,
           count(*) filter (where first_variant = last_variant) as users,
           count(*) filter (where first_variant = last_variant and converted) as conversions,
           count(*) filter (where first_variant <> last_variant) as mixed
    from per_user
    group by all
    order by 1, 2`);
  const byExperiment = new Map<string, { variant: string; users: number; conversions: number }[]>();
  const mixed = new Map<string, number>();
  for (const [experiment, variant, users, conversions, mixedUsers] of rows) {
    const name = String(experiment);
    mixed.set(name, (mixed.get(name) ?? 0) + Number(mixedUsers));
    if (Number(users) === 0) continue;
    const list = byExperiment.get(name) ?? [];
    list.push({ variant: String(variant), users: Number(users), conversions: Number(conversions) });
    byExperiment.set(name, list);
  }
  const computedAt = (options.now ?? new Date()).toISOString();
  const reports: ExperimentReport[] = [];
  for (const [experiment, variants] of byExperiment) {
    const baseline = variants.find((v) => v.variant === "control") ?? variants[0]!;
    const control = { successes: baseline.conversions, trials: baseline.users };
    const comparisons = variants.filter((v) => v !== baseline).map((v) => {
      const c = compareProportions(
        control,
        { successes: v.conversions, trials: v.users },
        confidence,
      );
      return { variant: v.variant, ...c, significant: c.pValue < 1 - confidence };
    });
    const shares = variants.map(() => 1 / variants.length);
    const srm = variants.length >= 2
      ? sampleRatioMismatch(variants.map((v) => v.users), shares)
      : { chiSquare: 0, degreesOfFreedom: 0, pValue: 1 };
    reports.push({
      experiment,
      computedAt,
      watermark,
      confidence,
      conversionEvent: CONVERSION_EVENT,
      baseline: baseline.variant,
      variants: variants.map((v) => ({
        ...v,
        rate: v.conversions / v.users,
        interval: wilsonInterval({ successes: v.conversions, trials: v.users }, confidence),
      })),
      comparisons,
      sampleRatio: { expectedShares: shares, ...srm, mismatch: srm.pValue < SRM_P_VALUE },
      excludedUsers: mixed.get(experiment) ?? 0,
    });
  }
  return reports;
}

/** Stores a report as the latest of its kind and name. */
export async function storeReport(
  sql: Sql,
  kind: "cohorts" | "experiment",
  name: string,
  body: CohortReport | ExperimentReport,
): Promise<void> {
  await sql`
    insert into lake_reports (kind, name, computed_at, watermark, body)
    values (${kind}, ${name}, ${body.computedAt}, ${body.watermark},
            ${JSON.stringify(body)}::text::jsonb)
    on conflict (kind, name) do update set
      computed_at = excluded.computed_at, watermark = excluded.watermark, body = excluded.body`;
}
