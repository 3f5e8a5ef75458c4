/**
 * The producer's ledger against what PostgreSQL holds. With `failed == 0`, after the consumers
 * have drained the queue, the pipeline reconciles exactly:
 *
 *   stored == unique − tooOld − tooNew,  byType and revenue equal,
 *   rejected == invalid,  tooNew == tooNew,  tooOld == tooOld,
 *   duplicates >= duplicates (SQS may deliver a message more than once).
 *
 * `reconcile` is pure (ledger + totals → differences); `reconcileCommand` is
 * `deno task reconcile --ledger FILE`, reading the totals from DATABASE_URL / DB_SCHEMA: of the
 * ledger's run only (`runTotals`: events carrying its `properties.runId`) when the ledger names
 * one, so earlier runs in the same database are not "extra"; of the whole database otherwise.
 */
import {
  createSql,
  loadConfig,
  parseFlags,
  type PipelineTotals,
  pipelineTotals,
  type Sql,
  totalsOf,
  UsageError,
} from "../shared/mod.ts";
import type { LedgerTotals } from "./ledger.ts";
import type { RunScope } from "./run_scope.ts";

/**
 * What the pipeline stored, in the ledger's shape (`GET /v1/pipeline/totals`). `duplicates` is
 * null for one run's totals: skipped re-sends leave no row naming their run.
 */
export type StoredTotals = Omit<PipelineTotals, "duplicates"> & { duplicates: number | null };

/** A ledger file: the totals, and the run they belong to (ledgers before run ids have none). */
export type LedgerFile = LedgerTotals & { run?: RunScope };

/** One way the pipeline differs from the ledger. */
export interface Difference {
  /** What is compared: `stored`, `byType.purchase`, `revenue`, `rejected`, … */
  field: string;
  expected: number;
  actual: number;
  /** `expected` is a lower bound (duplicates skipped), not an exact value. */
  atLeast?: boolean;
  /** Why the comparison could not be exact (the ledger recorded failed sends). */
  note?: string;
}

export interface ReconcileResult {
  exact: boolean;
  differences: Difference[];
  /** Events the ledger says were accepted but the pipeline does not hold (stored + rejects). */
  missing: number;
  /** Events the pipeline holds beyond what the ledger accepted (stored + rejects). */
  extra: number;
}

const cents = (x: number) => Math.round(x * 100);

/** Compares a ledger with the stored totals; `exact` only when there is no difference at all. */
export function reconcile(ledger: LedgerTotals, totals: StoredTotals): ReconcileResult {
  const differences: Difference[] = [];
  const exact = (field: string, expected: number, actual: number) => {
    if (expected !== actual) differences.push({ field, expected, actual });
  };
  if (ledger.failed > 0) {
    differences.push({
      field: "failed",
      expected: 0,
      actual: ledger.failed,
      note: "events failed to send; an exact reconcile needs a ledger with failed == 0",
    });
  }
  const expectedStored = ledger.unique - ledger.tooOld - ledger.tooNew;
  exact("stored", expectedStored, totals.stored);
  const types = new Set([...Object.keys(ledger.byType), ...Object.keys(totals.byType)]);
  for (const type of [...types].sort()) {
    const want = (ledger.byType as Record<string, number | undefined>)[type] ?? 0;
    exact(`byType.${type}`, want, totals.byType[type] ?? 0);
  }
  if (cents(ledger.revenue) !== cents(totals.revenue)) {
    differences.push({ field: "revenue", expected: ledger.revenue, actual: totals.revenue });
  }
  exact("rejected", ledger.invalid, totals.rejected);
  exact("tooNew", ledger.tooNew, totals.tooNew);
  exact("tooOld", ledger.tooOld, totals.tooOld);
  if (totals.duplicates !== null && totals.duplicates < ledger.duplicates) {
    differences.push({
      field: "duplicates",
      expected: ledger.duplicates,
      actual: totals.duplicates,
      atLeast: true,
    });
  }
  const want = expectedStored + ledger.invalid + ledger.tooNew + ledger.tooOld;
  const have = totals.stored + totals.rejected + totals.tooNew + totals.tooOld;
  return {
    exact: differences.length === 0,
    differences,
    missing: Math.max(0, want - have),
    extra: Math.max(0, have - want),
  };
}

/** One line per difference, e.g. `stored: expected 1000, got 998 (−2)`. */
export function formatDifferences(differences: readonly Difference[]): string[] {
  return differences.map((d) => {
    const delta = d.actual - d.expected;
    const sign = delta > 0 ? "+" : "−";
    const amount = d.field === "revenue" ? Math.abs(delta).toFixed(2) : String(Math.abs(delta));
    const want = d.atLeast ? `at least ${d.expected}` : String(d.expected);
    return `${d.field}: expected ${want}, got ${d.actual} (${sign}${amount})` +
      (d.note ? ` — ${d.note}` : "");
  });
}

/** Reads and checks a ledger file written by `deno task produce --ledger FILE`. */
export async function readLedger(file: string): Promise<LedgerFile> {
  const text = await Deno.readTextFile(file);
  const v = JSON.parse(text) as Partial<LedgerFile>;
  for (const k of ["unique", "invalid", "duplicates", "tooNew", "tooOld", "failed"] as const) {
    if (typeof v[k] !== "number") throw new Error(`${file}: "${k}" is missing or not a number`);
  }
  if (typeof v.revenue !== "number" || typeof v.byType !== "object" || v.byType === null) {
    throw new Error(`${file}: "revenue" or "byType" is missing`);
  }
  if (
    v.run !== undefined && (typeof v.run?.id !== "string" || typeof v.run.startedAt !== "string")
  ) {
    throw new Error(`${file}: "run" has no "id" or "startedAt"`);
  }
  return v as LedgerFile;
}

/**
 * What the pipeline stored of one run: its events (those carrying `properties.runId`, read only
 * in the run's event-time range so partitions outside it are skipped) and its rejects (received
 * since the run started, their raw payload naming the id). One snapshot, so the parts agree.
 */
export async function runTotals(run: RunScope, deps: { sql: Sql }): Promise<StoredTotals> {
  const byType: Record<string, number> = {};
  let cents = 0;
  const rejects: Record<string, number> = {};
  await deps.sql.begin("isolation level repeatable read read only", async (tx) => {
    if (run.eventTimeFrom !== null && run.eventTimeTo !== null) {
      const rows = await tx<{ event_type: string; n: number; cents: string }[]>`
        select event_type, count(*)::int as n,
               coalesce(sum(price_cents * coalesce(quantity, 1))
                 filter (where event_type = 'purchase'), 0)::text as cents
        from events
        where event_time between ${run.eventTimeFrom} and ${run.eventTimeTo}
          and attrs -> 'properties' ->> 'runId' = ${run.id}
        group by event_type`;
      for (const r of rows) {
        byType[r.event_type] = r.n;
        cents += Number(r.cents);
      }
    }
    // The payload is the event as sent (JSON, no spaces), whether or not it parsed.
    const needle = `"runId":${JSON.stringify(run.id)}`;
    const rows = await tx<{ kind: string; n: number }[]>`
      select kind, count(*)::int as n from rejects
      where received_at >= ${run.startedAt}::timestamptz - interval '5 minutes'
        and strpos(payload, ${needle}) > 0
      group by kind`;
    for (const r of rows) rejects[r.kind] = r.n;
  });
  // Duplicates are not known per run: the database counts them for all runs together.
  const totals = totalsOf(byType, cents, {
    rejected: rejects.invalid ?? 0,
    too_old: rejects.too_old ?? 0,
    too_new: rejects.too_new ?? 0,
  });
  return { ...totals, duplicates: null };
}

/**
 * Reads the stored totals from a database URL, with `schema` first on the search path: of `run`
 * when given, of the whole database otherwise.
 */
export async function readStoredTotals(
  url: string,
  schema?: string,
  run?: RunScope,
): Promise<StoredTotals> {
  const sql = createSql(url, {
    max: 1,
    applicationName: "scalestream-reconcile",
    ...(schema ? { searchPath: schema } : {}),
  });
  try {
    return run ? await runTotals(run, { sql }) : await pipelineTotals({ sql });
  } finally {
    await sql.end({ timeout: 2 });
  }
}

const RECONCILE_USAGE = "Usage: deno task reconcile --ledger FILE\n\nCompares a producer ledger " +
  "with what PostgreSQL holds (DATABASE_URL, DB_SCHEMA).\nExit status: 0 reconciled exactly, " +
  "1 differences found, 2 bad usage.";

/**
 * `reconcile --ledger FILE`: prints "reconciled exactly" and returns 0, or prints each difference
 * and returns 1; 2 for bad usage (no ledger, no DATABASE_URL, unreadable ledger).
 */
export async function reconcileCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, RECONCILE_USAGE, {
    ledger: { type: "string" },
    help: { type: "boolean" },
  });
  if (values.help) {
    console.log(RECONCILE_USAGE);
    return 0;
  }
  if (!values.ledger) throw new UsageError("--ledger FILE is required", RECONCILE_USAGE);
  const config = loadConfig(Deno.env.toObject());
  if (!config.databaseUrl) {
    console.error("error: DATABASE_URL is required");
    return 2;
  }
  let ledger: LedgerFile;
  try {
    ledger = await readLedger(values.ledger);
  } catch (err) {
    console.error(`error: cannot read the ledger: ${(err as Error).message}`);
    return 2;
  }
  const totals = await readStoredTotals(config.databaseUrl, config.dbSchema, ledger.run);
  const result = reconcile(ledger, totals);
  const scope = ledger.run
    ? `run ${ledger.run.id}`
    : "the whole database (the ledger names no run)";
  if (result.exact) {
    console.log(
      `reconciled exactly (${scope}): ${totals.stored} stored, ${totals.rejected} invalid, ` +
        `${totals.tooOld} too old, ${totals.tooNew} too new, ` +
        (totals.duplicates === null
          ? `${ledger.duplicates} duplicates sent (not counted per run)`
          : `${totals.duplicates} duplicates skipped (ledger: ${ledger.duplicates} sent)`),
    );
    return 0;
  }
  console.log(`Scope: ${scope}`);
  console.log(`NOT reconciled: ${result.differences.length} difference(s)`);
  for (const line of formatDifferences(result.differences)) console.log(`  ${line}`);
  console.log(`  missing ${result.missing}, extra ${result.extra}`);
  return 1;
}
