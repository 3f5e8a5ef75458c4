/**
 * Everything a consumer process runs beside its loop, wired once for `deno task consume` and
 * `deno task dev`: enrichment, metrics (with the queue-depth poller), the analytics stages, the
 * periodic analytics jobs and the alert dispatcher. `stop()` drains them in order.
 */
import { type Config, getLogger, settleWithin, type Sql, type SQSClient } from "../shared/mod.ts";
import { type Consumer, createConsumer } from "./consumer.ts";
import { startConsumerMetrics } from "./metrics.ts";
import { createEnricher } from "./enrich.ts";
import { analyticsStages, startAnalyticsJobs } from "./analytics_stages.ts";
import { createAlertDispatcher } from "./alert_dispatcher.ts";

const log = getLogger(["scalestream", "consumer", "runtime"]);

/** Past the shutdown deadline, how long the companions may still take (the consumer's grace). */
const COMPANIONS_GRACE_MS = 1000;

export interface ConsumerRuntime {
  consumer: Consumer;
  metrics: ReturnType<typeof startConsumerMetrics>;
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
}): ConsumerRuntime {
  const { sql, sqs, queueUrl, dlqUrl, config } = deps;
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
    enricher,
    onFlush: metrics.onFlush,
    stages: analyticsStages(config),
  });
  const analyticsJobs = startAnalyticsJobs({ sql }, config);
  const alerts = createAlertDispatcher({ sql }, {
    webhooks: {
      fraud: config.alertWebhookFraud,
      inventory: config.alertWebhookInventory,
      anomaly: config.alertWebhookAnomaly,
    },
    maxAttempts: config.alertMaxAttempts,
  });
  alerts.start();
  return {
    consumer,
    metrics,
    start: () => consumer.start(),
    async stop() {
      const boundMs = config.shutdownDeadlineMs + COMPANIONS_GRACE_MS;
      const companions = Promise.all([analyticsJobs.stop(), alerts.stop()]);
      const [, inTime] = await Promise.all([consumer.stop(), settleWithin(companions, boundMs)]);
      if (!inTime) {
        log.warn(
          "Analytics jobs or alert delivery still running at the shutdown deadline; leaving them",
        );
      }
      metrics.stop();
    },
  };
}
