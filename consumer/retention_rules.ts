/**
 * Retention for every table (issue 16, invariant 12 "everything ages out"), as a registry of rules.
 * Each rule names its table, how long rows stay by default, why, what must happen before its rows
 * may go, and how to delete expired rows in bounded batches. A module that adds a table registers
 * its rule here (or calls `registry.register` at start-up); test/maintenance_test.ts fails while a
 * table of the schema has neither a rule nor a place in `KEPT_TABLES`. docs/operations.md lists the
 * rules; `RETENTION_OVERRIDES=table=days,…` changes any of them, `RETENTION_DAYS` the raw events.
 */
import { ConfigError, type Sql } from "../shared/mod.ts";

/**
 * What a rule waits for. `rollup`: the rows' minutes are rolled into hour/day tables (rows are
 * pruned only below the rollup watermark). `runningTotals`: the totals no longer sum this table
 * (pipeline totals kept as running sums, issue 15). Until then the rule is held: nothing a total or
 * a rollup still needs is deleted.
 */
export type RetentionRequirement = "rollup" | "runningTotals";

export interface RetentionRule {
  table: string;
  /** Days rows stay by default; "raw" = `RETENTION_DAYS` (the raw events' retention). */
  keepDays: number | "raw";
  /** Why this long, for the operator reading docs/operations.md. */
  why: string;
  requires?: readonly RetentionRequirement[];
  /** Tables whose rows go with this table's rows (children by foreign key). */
  alsoPrunes?: readonly string[];
  /** Deletes at most `limit` rows that expired before `cutoff`; resolves to the number deleted. */
  prune(sql: Sql, cutoff: Date, limit: number): Promise<number>;
}

/** Tables kept without a time limit, and what bounds them instead. */
export const KEPT_TABLES: Readonly<Record<string, string>> = {
  item_pairs: "co-occurrence counts per product pair: bounded by the catalogue (products²)",
  inventory: "one row per product",
  dim_products: "the catalogue",
  dim_users: "user profiles from the CRM; deleted there",
  user_ordinal:
    "one integer per user and per region the user was seen in (the user-set bitmaps' positions): " +
    "bounded by the shoppers ever seen; pruning it would renumber every bitmap",
  api_keys: "a handful of keys; revoked keys stay for the record",
  schema_migrations: "one row per migration",
  lake_state: "one row: the export watermark",
  event_ids: "the dedupe horizon: generations of 7 days, dropped whole past the previous one",
  core_batches: "the outbox: each row is deleted by the derived stage that consumes it",
  pipeline_totals:
    "running totals: at most 64 shards × kinds (event types, reject kinds, duplicates)",
  rollup_dirty: "marks of hours to roll: the roll-up job deletes each mark it has rolled",
  lake_reports: "the latest report of each kind and name (cohorts, experiments)",
};

/**
 * A prune that deletes rows whose `column` is older than the cutoff (and that match `and`, a
 * further condition), `limit` at a time by ctid so each statement stays short.
 */
export function pruneByColumn(
  table: string,
  column: string,
  and?: (sql: Sql) => ReturnType<Sql>,
): RetentionRule["prune"] {
  return async (sql, cutoff, limit) => {
    const extra = and ? and(sql) : sql``;
    const r = await sql`
      delete from ${sql(table)} where ctid = any(array(
        select ctid from ${sql(table)} where ${sql(column)} < ${cutoff} ${extra} limit ${limit}))`;
    return r.count;
  };
}

const DAY = 1;

/** The rules of the tables on main today, oldest migrations first. */
export const DEFAULT_RETENTION_RULES: readonly RetentionRule[] = [
  {
    table: "events_default",
    keepDays: "raw",
    why: "raw events outside the daily partitions; partitions themselves are dropped whole",
    prune: pruneByColumn("events_default", "event_time"),
  },
  ...["agg_minute", "agg_minute_dims", "agg_geo_minute", "agg_product_minute", "active_user_minute"]
    .map((table): RetentionRule => ({
      table,
      keepDays: 8 * DAY,
      why: "minute grain, for 1m/5m windows of the last week; hour/day rollups keep the rest",
      requires: ["rollup", "runningTotals"],
      prune: pruneByColumn(table, "bucket"),
    })),
  {
    table: "agg_type_minute",
    keepDays: 8 * DAY,
    why: "rolled minutes per event type (unfiltered 1m/5m series); as long as the minute tables",
    prune: pruneByColumn("agg_type_minute", "bucket"),
  },
  ...[
    "agg_dims_hour",
    "agg_type_hour",
    "agg_geo_hour",
    "agg_product_hour",
    "active_user_hour",
    "active_count_hour",
  ].map((table): RetentionRule => ({
    table,
    keepDays: 90 * DAY,
    why:
      "hour rollups: 1h windows over the 30 days the API serves, and the days re-rolled from them",
    prune: pruneByColumn(table, "bucket"),
  })),
  {
    table: "rollup_hours",
    keepDays: 730 * DAY,
    why: "hours rolled up; a day is read from its rollup only while all its hours are here",
    prune: pruneByColumn("rollup_hours", "hour"),
  },
  ...[
    "agg_dims_day",
    "agg_type_day",
    "agg_geo_day",
    "agg_product_day",
    "active_user_day",
    "active_count_day",
    "user_set_day",
  ].map((table): RetentionRule => ({
    table,
    keepDays: 730 * DAY,
    why: "day rollups: two years of daily history, a few thousand rows a day",
    prune: pruneByColumn(table, "bucket"),
  })),
  {
    table: "rejects",
    keepDays: 30 * DAY,
    why: "rejected payloads to inspect and replay after a fix",
    requires: ["runningTotals"],
    prune: pruneByColumn("rejects", "received_at"),
  },
  {
    table: "ingest_stats",
    keepDays: 30 * DAY,
    why: "per-worker ingestion counters (duplicates feed the totals)",
    requires: ["runningTotals"],
    prune: pruneByColumn("ingest_stats", "bucket"),
  },
  {
    table: "orders",
    keepDays: 30 * DAY,
    why: "a cancellation finds its purchase within the late horizon (1 day); kept a month",
    prune: async (sql, cutoff, limit) =>
      (await sql`
        delete from orders where order_id = any(array(
          select order_id from orders where coalesce(purchased_at, cancelled_at) < ${cutoff}
          limit ${limit}))`).count,
  },
  {
    table: "sessions",
    keepDays: 7 * DAY,
    why: "closed sessions, as long as raw events; open ones stay until the sweep closes them",
    prune: pruneByColumn("sessions", "last_at", (sql) => sql`and closed`),
  },
  {
    table: "fraud_counters",
    keepDays: 2 * DAY,
    why: "per-minute purchase counts for the fraud windows (FRAUD_WINDOW_S ≤ 1 day)",
    prune: pruneByColumn("fraud_counters", "bucket"),
  },
  {
    table: "fraud_scores",
    keepDays: 30 * DAY,
    why: "scored purchases for review",
    prune: pruneByColumn("fraud_scores", "event_time"),
  },
  {
    table: "user_risk",
    keepDays: 90 * DAY,
    why: "risk profile of users who purchased in the last quarter",
    prune: pruneByColumn("user_risk", "updated_at"),
  },
  {
    table: "alerts",
    keepDays: 30 * DAY,
    why: "alerts with their outbox rows and delivery records; pending deliveries are never deleted",
    alsoPrunes: ["alert_outbox", "alert_deliveries"],
    prune: pruneAlerts,
  },
  {
    table: "anomalies",
    keepDays: 30 * DAY,
    why: "detected anomalies for review",
    prune: pruneByColumn("anomalies", "bucket"),
  },
  {
    table: "anomaly_baselines",
    keepDays: 7 * DAY,
    why: "baselines of series that stopped (a series that comes back warms up again)",
    prune: pruneByColumn("anomaly_baselines", "last_bucket"),
  },
  {
    table: "user_features",
    keepDays: 90 * DAY,
    why: "features of users seen in the last quarter",
    prune: pruneByColumn("user_features", "last_seen"),
  },
  {
    table: "user_hour_products",
    keepDays: "raw",
    why: "products per user-hour that pair up into item_pairs; late events need their hour",
    prune: pruneByColumn("user_hour_products", "hour"),
  },
  {
    table: "lake_exports",
    keepDays: 90 * DAY,
    why:
      "committed export batches (the manifest); the watermark, not this history, makes re-runs exact",
    prune: pruneByColumn("lake_exports", "committed_at", (sql) => sql`and state = 'committed'`),
  },
  {
    table: "lake_batch_checks",
    keepDays: 90 * DAY,
    why: "the batch view's daily verdicts, a quarter of history",
    prune: async (sql, cutoff, limit) =>
      (await sql`
        delete from lake_batch_checks where day = any(array(
          select day from lake_batch_checks where day < ${cutoff}::date limit ${limit}))`).count,
  },
  {
    table: "consumer_status",
    keepDays: 1 * DAY,
    why: "status rows of workers that stopped reporting",
    prune: pruneByColumn("consumer_status", "updated_at"),
  },
];

/** Alerts go with their outbox rows and deliveries, in one statement (FK checks at its end). */
async function pruneAlerts(sql: Sql, cutoff: Date, limit: number): Promise<number> {
  const r = await sql`
    with doomed as (
      select a.alert_id from alerts a left join alert_outbox o using (alert_id)
      where a.created_at < ${cutoff} and coalesce(o.status, 'delivered') <> 'pending'
      limit ${limit}),
    d as (delete from alert_deliveries where alert_id in (select alert_id from doomed)),
    o as (delete from alert_outbox where alert_id in (select alert_id from doomed))
    delete from alerts where alert_id in (select alert_id from doomed)`;
  return r.count;
}

export interface RetentionRegistry {
  /** Adds the rule of a table; a second rule for the same table is a programming error. */
  register(rule: RetentionRule): void;
  rules(): readonly RetentionRule[];
}

/** A registry holding `rules` (default: the tables on main). */
export function createRetentionRegistry(
  rules: readonly RetentionRule[] = DEFAULT_RETENTION_RULES,
): RetentionRegistry {
  const byTable = new Map<string, RetentionRule>();
  const registry: RetentionRegistry = {
    register(rule) {
      if (byTable.has(rule.table)) {
        throw new TypeError(`Table "${rule.table}" already has a retention rule`);
      }
      if (rule.table in KEPT_TABLES) {
        throw new TypeError(`Table "${rule.table}" is kept without a limit (KEPT_TABLES)`);
      }
      byTable.set(rule.table, rule);
    },
    rules: () => [...byTable.values()],
  };
  for (const r of rules) registry.register(r);
  return registry;
}

/** A rule with its effective retention. */
export interface ResolvedRule extends RetentionRule {
  days: number;
}

/**
 * Each rule's retention in days: `overrides[table]`, else its default (`raw` = `retentionDays`).
 * An override naming no rule fails with a {@linkcode ConfigError} on RETENTION_OVERRIDES.
 */
export function resolveRetention(
  registry: RetentionRegistry,
  options: { retentionDays: number; overrides?: Readonly<Record<string, number>> },
): ResolvedRule[] {
  const rules = registry.rules();
  for (const table of Object.keys(options.overrides ?? {})) {
    if (!rules.some((r) => r.table === table)) {
      throw new ConfigError(
        "RETENTION_OVERRIDES",
        `RETENTION_OVERRIDES names "${table}", which has no retention rule (one of: ${
          rules.map((r) => r.table).join(", ")
        })`,
      );
    }
  }
  return rules.map((r) => ({
    ...r,
    days: options.overrides?.[r.table] ??
      (r.keepDays === "raw" ? options.retentionDays : r.keepDays),
  }));
}
