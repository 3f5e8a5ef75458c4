/**
 * One round of maintenance (issue 16): partitions ahead, raw partitions past `RETENTION_DAYS`
 * dropped, minute data rolled up, then every table pruned by its retention rule
 * (retention_rules.ts). The elected leader runs it (maintenance_leader.ts); `deno task maintain`
 * runs it once by hand. Safe to run concurrently with flushes and with itself.
 */
import type { Clock, Sql } from "../shared/mod.ts";
import { maintainPartitions } from "./maintain_partitions.ts";
import { rollUp } from "./roll_up.ts";
import {
  createRetentionRegistry,
  resolveRetention,
  type RetentionRegistry,
  type RetentionRequirement,
} from "./retention_rules.ts";

/** What other streams provide and pruning waits for (see `RetentionRequirement`). */
export interface MaintenanceCapabilities {
  /**
   * Rolls minute data before `before` into the hour/day rollups and resolves to the instant up to
   * which minutes are rolled up (null: nothing yet). Minute rows are pruned only below it.
   */
  rollUp?: (deps: { sql: Sql }, options: { before: Date }) => Promise<Date | null>;
  /** Totals are running sums: pruning the tables they used to sum cannot change them. */
  runningTotals: boolean;
}

/**
 * What main provides: the roll-up job of the serving layer (roll_up.ts), and totals read from the
 * running sums (shared/pipeline_totals.ts), so pruning a minute table or `rejects` changes no total.
 */
export const MAINTENANCE_CAPABILITIES: MaintenanceCapabilities = {
  rollUp,
  runningTotals: true,
};

export interface MaintenanceOptions {
  retentionDays: number;
  /** Per-table retention over the rules' defaults (`RETENTION_OVERRIDES`). */
  overrides?: Readonly<Record<string, number>>;
  /** Days of future partitions to keep ready (default 3). */
  futureDays?: number;
  /** Rows per delete statement (default 10,000). */
  batchSize?: number;
}

export interface MaintenanceReport {
  /** The clock's time the round ran at (ISO). */
  at: string;
  partitionsCreated: number;
  partitionsDropped: string[];
  /** Minutes rolled up to (ISO), or null. */
  rolledUpTo: string | null;
  /** Rows deleted per table. */
  pruned: Record<string, number>;
  /** Tables not pruned, and what they wait for. */
  held: Record<string, string>;
}

const DAY_MS = 86_400_000;

/** Runs one round; see the module comment. */
export async function runMaintenance(
  deps: {
    sql: Sql;
    now: Clock;
    capabilities?: MaintenanceCapabilities;
    registry?: RetentionRegistry;
  },
  options: MaintenanceOptions,
): Promise<MaintenanceReport> {
  const { sql } = deps;
  const caps = deps.capabilities ?? MAINTENANCE_CAPABILITIES;
  const nowMs = deps.now();
  const rules = resolveRetention(deps.registry ?? createRetentionRegistry(), {
    retentionDays: options.retentionDays,
    ...(options.overrides ? { overrides: options.overrides } : {}),
  });
  const partitions = await maintainPartitions({ sql }, {
    retentionDays: options.retentionDays,
    futureDays: options.futureDays ?? 3,
    nowMs,
  });

  const cutoffOf = (days: number) => new Date(nowMs - days * DAY_MS);
  const needRollup = rules.filter((r) => r.requires?.includes("rollup"));
  let rolledUpTo: Date | null = null;
  if (caps.rollUp && needRollup.length > 0) {
    const before = new Date(Math.max(...needRollup.map((r) => cutoffOf(r.days).getTime())));
    rolledUpTo = await caps.rollUp({ sql }, { before });
  }

  const missing = (req: RetentionRequirement): string | undefined => {
    if (req === "runningTotals" && !caps.runningTotals) return "running totals (issue 15)";
    if (req === "rollup" && rolledUpTo === null) return "hour/day rollups (issue 15)";
    return undefined;
  };
  const pruned: Record<string, number> = {};
  const held: Record<string, string> = {};
  const limit = options.batchSize ?? 10_000;
  for (const rule of rules) {
    const waits = (rule.requires ?? []).map(missing).filter((x) => x !== undefined);
    if (waits.length > 0) {
      held[rule.table] = `waits for ${waits.join(" and ")}`;
      continue;
    }
    let cutoff = cutoffOf(rule.days);
    if (rule.requires?.includes("rollup") && rolledUpTo && rolledUpTo < cutoff) cutoff = rolledUpTo;
    let total = 0;
    for (;;) {
      const n = await rule.prune(sql, cutoff, limit);
      total += n;
      if (n < limit) break;
    }
    pruned[rule.table] = total;
  }
  return {
    at: new Date(nowMs).toISOString(),
    partitionsCreated: partitions.created,
    partitionsDropped: partitions.dropped,
    rolledUpTo: rolledUpTo?.toISOString() ?? null,
    pruned,
    held,
  };
}
