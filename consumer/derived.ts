/**
 * The derived stage: sessions, user features, co-purchase pairs, fraud scores, inventory, orders
 * and bot reports, computed from committed core batches through the outbox (`core_batches`).
 *
 * Exactly once: a batch's derived writes commit in the same transaction that deletes its outbox
 * row, so a batch is derived once whichever worker gets it and however often one dies. Two ways
 * in, both through that delete:
 * - fast path: the consumer that committed a batch submits its events here (no re-read);
 * - sweep: outbox rows older than `sweepAfterMs` (their consumer died or is behind) are claimed
 *   with `for update skip locked` and their events read back from raw rows by `batch_id`.
 * Several workers run in parallel (one per consumer); the stages lock their rows in key order, so
 * they never deadlock. Derived state can be replayed from raw rows, so these transactions commit
 * with `synchronous_commit = off`; the core flush never does.
 */
import {
  derivedGauge,
  getLogger,
  type RawEventRow,
  type Registry,
  rowToEvent,
  type Sql,
  type Tx,
} from "../shared/mod.ts";
import type { AcceptedEvent } from "./decode_message.ts";
import type { FlushResult, FlushStage } from "./flush_events.ts";

const log = getLogger(["scalestream", "derived"]);

export interface DerivedOptions {
  stages: readonly FlushStage[];
  /** Outbox rows older than this are swept by any worker (default 5 s). */
  sweepAfterMs?: number;
  /** How often the sweep runs (default 1 s). */
  sweepIntervalMs?: number;
  /** Batches claimed per sweep transaction (default 8). */
  sweepBatches?: number;
  now?: () => number;
  /** Called after each derived transaction commits (metrics). */
  onDerived?: (info: { batches: number; events: number; lagMs: number }) => void;
}

export interface DerivedStats {
  batches: number;
  events: number;
  /** Commit-to-derived time of the last batch this worker derived, in ms. */
  lastLagMs: number;
  lastAtMs: number;
  /** Submit time of the oldest batch submitted here and not derived yet (ms), or null. */
  oldestPendingAtMs: number | null;
}

export interface DerivedWorker {
  readonly stats: Readonly<DerivedStats>;
  /** Hands a committed core batch to this worker (fast path). */
  submit(result: FlushResult): void;
  /** Waits until every submitted batch is derived. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a worker: fast path for submitted batches, sweep for orphaned ones. */
export function startDerivedWorker(deps: { sql: Sql }, options: DerivedOptions): DerivedWorker {
  const now = options.now ?? Date.now;
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const pending = new Map<number, number>(); // batch id → submitted at
  const stats: DerivedStats = {
    batches: 0,
    events: 0,
    lastLagMs: 0,
    lastAtMs: 0,
    oldestPendingAtMs: null,
  };
  const observe = (info: { batches: number; events: number; lagMs: number }) => {
    stats.batches += info.batches;
    stats.events += info.events;
    stats.lastLagMs = info.lagMs;
    stats.lastAtMs = now();
    options.onDerived?.(info);
  };
  const run = (what: string, work: () => Promise<unknown>) => {
    const next = chain.then(work).catch((err) =>
      log.warn("Derived {what} failed (the sweep retries it): {error}", {
        what,
        error: String(err),
      })
    );
    chain = next;
    return next;
  };
  const timer = setInterval(() => {
    if (!stopped) {
      void run("sweep", () =>
        sweepDerived(deps, {
          ...options,
          onDerived: observe,
          olderThanMs: options.sweepAfterMs ?? 5_000,
          limit: options.sweepBatches ?? 8,
        }));
    }
  }, options.sweepIntervalMs ?? 1_000);
  return {
    get stats() {
      let oldest: number | null = null;
      for (const at of pending.values()) oldest = oldest === null ? at : Math.min(oldest, at);
      return { ...stats, oldestPendingAtMs: oldest };
    },
    submit(result) {
      if (stopped || result.stored === 0) return;
      const submittedAt = now();
      pending.set(result.batchId, submittedAt);
      void run("batch", async () => {
        try {
          const derived = await deriveBatch(deps, options, result.batchId, result.inserted, {
            segmentOf: result.segmentOf,
            nowMs: now(),
          });
          if (derived) observe({ batches: 1, events: result.stored, lagMs: now() - submittedAt });
        } finally {
          pending.delete(result.batchId);
        }
      });
    },
    idle: () => chain.then(() => undefined),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await chain;
    },
  };
}

/**
 * Derives one batch from events the caller holds, if its outbox row is still there (deleting it
 * in the same transaction). Resolves false when another worker derived it already.
 */
export async function deriveBatch(
  deps: { sql: Sql },
  options: Pick<DerivedOptions, "stages">,
  batchId: number,
  events: readonly AcceptedEvent[],
  ctx: { segmentOf: (userId: string) => string; nowMs: number },
): Promise<boolean> {
  return await deps.sql.begin(async (tx) => {
    await tx`set local synchronous_commit = off`;
    const taken = await tx`delete from core_batches where batch_id = ${batchId} returning 1`;
    if (taken.length === 0) return false;
    await runStages(tx, options.stages, events, ctx.segmentOf, ctx.nowMs);
    return true;
  });
}

/**
 * Claims up to `limit` outbox rows older than `olderThanMs`, reads their events back from raw
 * rows and derives them in one transaction. Resolves to the number of batches derived.
 */
export async function sweepDerived(
  deps: { sql: Sql },
  options: Pick<DerivedOptions, "stages" | "now" | "onDerived"> & {
    olderThanMs: number;
    limit: number;
  },
): Promise<number> {
  const now = options.now ?? Date.now;
  const r = await deps.sql.begin(async (tx) => {
    await tx`set local synchronous_commit = off`;
    const claimed = await tx<{ batch_id: string; lag_ms: number }[]>`
      select batch_id::text,
             (extract(epoch from clock_timestamp() - created_at) * 1000)::float8 as lag_ms
      from core_batches where created_at <= now() - ${options.olderThanMs} * interval '1 ms'
      order by batch_id limit ${options.limit} for update skip locked`;
    if (claimed.length === 0) return null;
    const ids = claimed.map((c) => c.batch_id);
    // Consumed first, as on the fast path: a stage reading raw rows (inventory's recount) counts
    // this batch as derived and leaves out batches still waiting in the outbox.
    await tx`delete from core_batches where batch_id = any(${ids}::bigint[])`;
    const { events, segments } = await loadBatches(tx, ids);
    await runStages(tx, options.stages, events, (u) => segments.get(u) ?? "unknown", now());
    return { batches: ids.length, events: events.length, lagMs: claimed[0]!.lag_ms };
  });
  if (r === null) return 0;
  options.onDerived?.(r);
  return r.batches;
}

/** Sweeps until the outbox is empty (tests, `rebuild`, and the drain bench). */
export async function deriveAll(
  deps: { sql: Sql },
  options: Pick<DerivedOptions, "stages" | "now"> & {
    /** Batches per transaction (default 32; 1 derives each batch on its own, as streaming does). */
    limit?: number;
  },
): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await sweepDerived(deps, { ...options, olderThanMs: 0, limit: options.limit ?? 32 });
    if (n === 0) return total;
    total += n;
  }
}

/** Age of the oldest batch not yet derived, in milliseconds (0 when none waits). */
export async function derivedLagMs(sql: Sql): Promise<number> {
  const [r] = await sql<{ lag_ms: number | null }[]>`
    select (extract(epoch from clock_timestamp() - min(created_at)) * 1000)::float8 as lag_ms
    from core_batches`;
  return Math.max(0, r?.lag_ms ?? 0);
}

async function runStages(
  tx: Tx,
  stages: readonly FlushStage[],
  events: readonly AcceptedEvent[],
  segmentOf: (userId: string) => string,
  nowMs: number,
): Promise<void> {
  if (events.length === 0) return;
  for (const stage of stages) await stage({ tx, inserted: events, segmentOf, nowMs });
}

/** The events of the given batches from raw rows (sorted by id, as the flush had them). */
export async function loadBatches(
  tx: Tx | Sql,
  batchIds: readonly string[],
): Promise<{ events: AcceptedEvent[]; segments: Map<string, string> }> {
  const rows = await tx<RawEventRow[]>`
    select event_id::text, event_time, event_type, user_id, session_id, product_id, category,
           price_cents::text, quantity, device_type, country, region, order_id, ip_address, attrs,
           segment
    from events where batch_id = any(${batchIds as string[]}::bigint[])
    order by event_id`;
  const segments = new Map<string, string>();
  const events = rows.map((row) => {
    if (typeof row.segment === "string") segments.set(row.user_id, row.segment);
    return { event: rowToEvent(row), timeMs: row.event_time.getTime() };
  });
  return { events, segments };
}

/** Registers the derived stage's metrics of one worker (lag, batches, events). */
export function registerDerivedMetrics(
  registry: Registry,
  worker: Pick<DerivedWorker, "stats">,
  now: () => number = Date.now,
): void {
  derivedGauge(
    registry,
    "scalestream_derived_lag_seconds",
    "Time from a core batch's commit to its derived state's commit: the oldest batch still waiting in this worker, else the last one derived (0 after 15 s idle)",
    () => {
      const s = worker.stats;
      const t = now();
      const waiting = s.oldestPendingAtMs === null ? 0 : t - s.oldestPendingAtMs;
      const last = t - s.lastAtMs > 15_000 ? 0 : s.lastLagMs;
      return Math.max(waiting, last) / 1000;
    },
  );
  derivedGauge(
    registry,
    "scalestream_derived_batches",
    "Core batches this worker derived (monotonic)",
    () => worker.stats.batches,
  );
  derivedGauge(
    registry,
    "scalestream_derived_events",
    "Events this worker derived (monotonic)",
    () => worker.stats.events,
  );
}

/** Tables the derived stages own: reset by {@linkcode rebuildDerived}. */
export const DERIVED_TABLES = [
  "sessions",
  "user_features",
  "user_hour_products",
  "item_pairs",
  "fraud_counters",
  "fraud_scores",
  "user_risk",
  "inventory",
  "orders",
] as const;

/**
 * Recomputes all derived state from raw rows: the derived tables and the order columns of
 * `agg_minute_dims` are reset, every stored batch goes back into the outbox, and the stages derive
 * them again in batch order. Alerts are state of record, not derived: re-derivation may match
 * existing ones (their repeat count grows) but sends nothing (outbox rows it creates are dropped).
 * Run it with consumers paused (their fast path would race the reset).
 */
export async function rebuildDerived(
  deps: { sql: Sql },
  options: Pick<DerivedOptions, "stages" | "now">,
): Promise<{ batches: number }> {
  const [mark] = await deps.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('scalestream.rebuild'))`;
    await tx.unsafe(`truncate ${DERIVED_TABLES.join(", ")}`);
    await tx`
      update agg_minute_dims set orders = 0, cancelled_orders = 0, cancelled_revenue_cents = 0
      where orders <> 0 or cancelled_orders <> 0 or cancelled_revenue_cents <> 0`;
    await tx`
      insert into core_batches (batch_id, events, created_at)
      select batch_id, count(*), now() from events group by batch_id
      on conflict (batch_id) do nothing`;
    return await tx<{ alert_id: string }[]>`
      select coalesce(max(alert_id), 0)::text as alert_id from alerts`;
  });
  // One batch per transaction, in commit order: fraud scores depend on what a batch sees.
  const batches = await deriveAll(deps, { ...options, limit: 1 });
  await deps.sql`
    delete from alert_outbox where alert_id > ${mark!.alert_id}::bigint and status = 'pending'`;
  return { batches };
}
