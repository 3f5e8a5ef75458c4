/**
 * The lake's batch layer in one call: export what is committed, check days with the batch view,
 * and recompute the cohort and experiment reports. `deno task lake jobs` runs it once (the scheduled
 * `LakeJobsTask` in production, deploy/cdk/lake_jobs_task.ts); `deno task dev` runs it on an
 * interval.
 */
import { type BatchCheck, getLogger, type Sql } from "../../shared/mod.ts";
import { type ExportResult, exportToLake, readWatermark } from "./export_events.ts";
import { type BatchViewDeps, checkDay } from "./batch_view.ts";
import { computeCohorts, computeExperiments, storeReport } from "./compute_reports.ts";
import { openLakeDb } from "./duckdb_lake.ts";
import { syncLake } from "./sync_lake.ts";

const defaultLog = getLogger(["scalestream", "lake", "jobs"]);

/** What the jobs need: the database, the lake's bucket and the local mirror. */
export type LakeJobDeps = BatchViewDeps;

export interface LakeJobResult {
  export: ExportResult;
  checks: BatchCheck[];
  experiments: string[];
  cohorts: number;
}

/** Yesterday and today in UTC, the days whose rollups can still change. */
export function recentDays(nowMs = Date.now()): string[] {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return [day(nowMs - 86_400_000), day(nowMs)];
}

/** Computes the cohort and experiment reports from the whole lake and stores them. */
export async function refreshReports(
  deps: LakeJobDeps,
): Promise<{ experiments: string[]; cohorts: number }> {
  // The watermark before the sync: every object the sync finds covers at least that much.
  const watermark = await readWatermark(deps.sql);
  await syncLake(deps, { cacheDir: deps.cacheDir });
  const db = await openLakeDb(deps.cacheDir);
  try {
    const cohorts = await computeCohorts(db, watermark);
    await storeReport(deps.sql, "cohorts", "weekly", cohorts);
    const experiments = await computeExperiments(db, watermark);
    for (const e of experiments) await storeReport(deps.sql, "experiment", e.experiment, e);
    return { experiments: experiments.map((e) => e.experiment), cohorts: cohorts.cohorts.length };
  } finally {
    db.close();
  }
}

/** Export, then the batch view of `days` (default yesterday and today), then the reports. */
export async function runLakeJobs(
  deps: LakeJobDeps,
  options: { days?: string[]; maxRows?: number; signal?: AbortSignal } = {},
): Promise<LakeJobResult> {
  const log = deps.log ?? defaultLog;
  const exported = await exportToLake(deps, {
    ...(options.maxRows ? { maxRows: options.maxRows } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const checks: BatchCheck[] = [];
  for (const day of options.days ?? recentDays()) checks.push(await checkDay(day, deps));
  const reports = await refreshReports(deps);
  log.debug("Lake jobs: exported {rows} events, checked {days} days, {experiments} experiments", {
    rows: exported.rows,
    days: checks.length,
    experiments: reports.experiments.length,
  });
  return { export: exported, checks, ...reports };
}

/**
 * Takes the session-level advisory lock that makes `lake jobs` runs exclusive (per schema), on a
 * connection reserved from `sql` for as long as it is held. Resolves to the release function, or
 * to null when another run holds the lock. The export alone would be safe twice over (one pending
 * range, one commit), but two runs would check and report twice, and the slower one could store
 * reports older than the faster one's.
 */
export async function tryLakeJobsLock(sql: Sql): Promise<(() => Promise<void>) | null> {
  const session = await sql.reserve();
  try {
    const [row] = await session<{ ok: boolean }[]>`
      select pg_try_advisory_lock(hashtext(current_schema() || '.scalestream.lake.jobs')) as ok`;
    if (row?.ok !== true) {
      session.release();
      return null;
    }
  } catch (err) {
    session.release();
    throw err;
  }
  return async () => {
    try {
      await session`
        select pg_advisory_unlock(hashtext(current_schema() || '.scalestream.lake.jobs'))`;
    } finally {
      session.release();
    }
  };
}
