/**
 * Everything a consumer process runs beside its loop, wired once for `deno task consume` and
 * `deno task dev`: enrichment, metrics (with the queue-depth poller), the analytics stages, the
 * periodic analytics jobs and the alert dispatcher. `stop()` drains them in order.
 */
import type { Config, Sql, SQSClient } from "../shared/mod.ts";
import { type Consumer, createConsumer } from "./consumer.ts";
import { startConsumerMetrics } from "./metrics.ts";
import { createEnricher } from "./enrich.ts";
import { analyticsStages, startAnalyticsJobs } from "./analytics_stages.ts";
import { createAlertDispatcher } from "./alert_dispatcher.ts";

export interface ConsumerRuntime {
  consumer: Consumer;
  metrics: ReturnType<typeof startConsumerMetrics>;
  /** Starts the loop (the jobs and the dispatcher run from creation). */
  start(): void;
  /** Drains the consumer, then stops the jobs, the dispatcher and the metrics. */
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
      await consumer.stop();
      await analyticsJobs.stop();
      await alerts.stop();
      metrics.stop();
    },
  };
}
