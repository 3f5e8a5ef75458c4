/**
 * Everything a consumer process runs beside its loop, wired once for `deno task consume` and
 * `deno task dev`: enrichment, metrics (with the queue-depth poller), the analytics stages, the
 * periodic analytics jobs and the alert dispatcher. `stop()` drains them in order.
 */
import {
  type Clock,
  type Config,
  getLogger,
  settleWithin,
  type Sql,
  type SQSClient,
} from "../shared/mod.ts";
import { type Consumer, createConsumer } from "./consumer.ts";
import { startConsumerMetrics } from "./metrics.ts";
import { createEnricher } from "./enrich.ts";
import { analyticsStages, startAnalyticsJobs } from "./analytics_stages.ts";
import { registerDerivedMetrics, startDerivedWorker } from "./derived.ts";
import { createAlertDispatcher } from "./alert_dispatcher.ts";
import { type MaintenanceLeader, startMaintenanceLeader } from "./maintenance_leader.ts";
import { type MaintenanceReport, runMaintenance } from "./run_maintenance.ts";
import { createRetentionRegistry, resolveRetention } from "./retention_rules.ts";

const log = getLogger(["scalestream", "maintenance"]);
const runtimeLog = getLogger(["scalestream", "consumer", "runtime"]);

/** Past the shutdown deadline, how long the companions may still take (the consumer's grace). */
const COMPANIONS_GRACE_MS = 1000;

export interface ConsumerRuntime {
  consumer: Consumer;
  metrics: ReturnType<typeof startConsumerMetrics>;
  /** The maintenance election (undefined with MAINTENANCE_INTERVAL_MS=0). */
  maintenance: MaintenanceLeader | undefined;
  /** Starts the loop (the jobs and the dispatcher run from creation). */
  start(): void;
  /**
   * Drains the consumer and stops the jobs, the dispatcher and the metrics, all within the
   * shutdown deadline (plus a short grace), whether or not the database answers.
   */
  stop(): Promise<void>;
}

/** Creates the consumer and its companions; call `start()` when the process is ready. */
export function createConsumerRuntime(deps: {
  sql: Sql;
  sqs: SQSClient;
  queueUrl: string;
  dlqUrl: string;
  config: Config;
  workerId: string;
  /** The clock of event-time decisions and maintenance (default: the system clock). */
  clock?: Clock;
  /**
   * A pool of one connection for the maintenance lock (see maintenance_leader.ts); without one,
   * `sql` itself, which only works for a one-connection pool (PGlite). The runtime ends it.
   */
  maintenanceSession?: Sql;
  /** Each maintenance round's report, when this process leads. */
  onMaintenance?: (report: MaintenanceReport) => void;
}): ConsumerRuntime {
  const { sql, sqs, queueUrl, dlqUrl, config } = deps;
  const now = deps.clock ?? Date.now;
  // Fails at start-up, naming RETENTION_OVERRIDES, when an override names no table.
  const registry = createRetentionRegistry();
  resolveRetention(registry, {
    retentionDays: config.retentionDays,
    overrides: config.retentionOverrides,
  });
  const enricher = createEnricher({
    sql,
    ttlMs: config.enrichCacheTtlMs,
    maxEntries: config.enrichCacheMaxEntries,
  });
  const metrics = startConsumerMetrics({
    sqs,
    queueUrl,
    dlqUrl,
    stats: () => consumer.stats,
    queueDepthIntervalMs: config.queueDepthIntervalMs,
  });
  const consumer = createConsumer({
    sql: metrics.instrumentSql(sql),
    sqs,
    queueUrl,
    config,
    workerId: deps.workerId,
    now,
    enricher,
    onFlush: (result, info) => {
      metrics.onFlush(result, info);
      derived.submit(result);
    },
  });
  // Derived state off the outbox: this process's batches on the fast path, anyone's orphans by sweep.
  const derived = startDerivedWorker({ sql }, { stages: analyticsStages(config), now });
  registerDerivedMetrics(metrics.registry, derived);
  const analyticsJobs = startAnalyticsJobs({ sql, now }, config);
  const alerts = createAlertDispatcher({ sql }, {
    webhooks: {
      fraud: config.alertWebhookFraud,
      inventory: config.alertWebhookInventory,
      anomaly: config.alertWebhookAnomaly,
    },
    maxAttempts: config.alertMaxAttempts,
  });
  alerts.start();
  if (config.maintenanceIntervalMs > 0 && !deps.maintenanceSession && config.dbPoolMax > 1) {
    // A lock taken through a pool is held by whichever connection ran the query.
    throw new TypeError("maintenanceSession is required with a pool of more than one connection");
  }
  const maintenance = config.maintenanceIntervalMs > 0
    ? startMaintenanceLeader({ session: deps.maintenanceSession ?? sql }, {
      intervalMs: config.maintenanceIntervalMs,
      run: () =>
        runMaintenance({ sql, now, registry }, {
          retentionDays: config.retentionDays,
          overrides: config.retentionOverrides,
        }),
      onRound: (r) => {
        const report = r as MaintenanceReport;
        log.info("Maintenance: {report}", { report: JSON.stringify(report) });
        deps.onMaintenance?.(report);
      },
    })
    : undefined;
  return {
    consumer,
    metrics,
    maintenance,
    start: () => consumer.start(),
    async stop() {
      const boundMs = config.shutdownDeadlineMs + COMPANIONS_GRACE_MS;
      // Companions stop beside the drain, all under one bound: each may wait on the database.
      const companions = Promise.all([
        derived.stop(),
        analyticsJobs.stop(),
        alerts.stop(),
        (async () => {
          await maintenance?.stop();
          if (deps.maintenanceSession) await deps.maintenanceSession.end({ timeout: 1 });
        })(),
      ]);
      const [, inTime] = await Promise.all([consumer.stop(), settleWithin(companions, boundMs)]);
      if (!inTime) {
        runtimeLog.warn(
          "Analytics jobs, alert delivery or maintenance still running at the shutdown deadline; leaving them",
        );
      }
      metrics.stop();
    },
  };
}
