/**
 * What the pipeline has stored, in the shape of the producer's ledger, from the running sums the
 * core flush keeps in `pipeline_totals` (migration 0016): at most 64 shards × kinds rows, so the
 * read costs the same at one day of history as at thirty. The API serves it
 * (`GET /v1/pipeline/totals`, the live stream), the producer's reconcile compares against it.
 */
import type { Sql } from "./db.ts";

export interface PipelineTotals {
  stored: number;
  byType: Record<string, number>;
  /** Sum of purchase revenue in currency units. */
  revenue: number;
  rejected: number;
  duplicates: number;
  tooOld: number;
  tooNew: number;
}

/** Kinds of `pipeline_totals` that are not event types. */
const COUNTERS = new Set(["rejected", "duplicates", "too_old", "too_new"]);

/** Sums the running totals over their shards; see the module comment. */
export async function pipelineTotals(deps: { sql: Sql }): Promise<PipelineTotals> {
  const rows = await deps.sql<{ kind: string; n: number; revenue_cents: number }[]>`
    select kind, sum(n)::bigint as n, sum(revenue_cents)::bigint as revenue_cents
    from pipeline_totals group by kind order by kind`;
  const byType: Record<string, number> = {};
  const counter: Record<string, number> = {};
  let cents = 0;
  for (const r of rows) {
    if (COUNTERS.has(r.kind)) counter[r.kind] = r.n;
    else if (r.n !== 0) {
      byType[r.kind] = r.n;
      if (r.kind === "purchase") cents += r.revenue_cents;
    }
  }
  return totalsOf(byType, cents, counter);
}

/**
 * Totals in the ledger's shape from stored events per type, purchase revenue in cents and the
 * other outcomes by kind (`rejected`, `duplicates`, `too_old`, `too_new`; a kind not given is 0).
 */
export function totalsOf(
  byType: Record<string, number>,
  revenueCents: number,
  outcomes: Partial<Record<"rejected" | "duplicates" | "too_old" | "too_new", number>>,
): PipelineTotals {
  return {
    stored: Object.values(byType).reduce((a, b) => a + b, 0),
    byType,
    revenue: revenueCents / 100,
    rejected: outcomes.rejected ?? 0,
    duplicates: outcomes.duplicates ?? 0,
    tooOld: outcomes.too_old ?? 0,
    tooNew: outcomes.too_new ?? 0,
  };
}
