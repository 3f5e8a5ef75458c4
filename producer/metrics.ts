/**
 * Producer metrics, read at scrape time from the sender's `stats` and the rate driver's latest
 * progress, and the producer's own `GET /metrics` server (`PRODUCER_METRICS_PORT`, 0 = off): the
 * producer has no other HTTP server to hang it on.
 */
import {
  createMetricsRegistry,
  derivedCounter,
  derivedGauge,
  instrumentSqsClient,
  logMetricsEndpoint,
  type MetricsServer,
  type Registry,
  serveMetrics,
  type SQSClient,
} from "../shared/mod.ts";
import type { SenderStats } from "../shared/mod.ts";
import type { Progress } from "./run_producer.ts";

export interface ProducerMetricsHooks {
  /** The sender's running totals (`sender.stats`), read at each scrape. */
  stats: () => Readonly<SenderStats>;
}

export interface ProducerMetrics {
  /** Pass the rate driver's progress here (`runProducer({ onProgress })`). */
  observeProgress(p: Progress): void;
}

/** Registers the producer's metrics on `registry`. */
export function createProducerMetrics(
  registry: Registry,
  hooks: ProducerMetricsHooks,
): ProducerMetrics {
  const s = hooks.stats;
  const counter = (name: string, help: string, read: () => number) =>
    derivedCounter(registry, `scalestream_producer_${name}`, help, read);
  counter("events_total", "Events handed to the sender", () => s().events);
  counter("events_acked_total", "Events in messages SQS acknowledged", () => s().ackedEvents);
  counter(
    "events_rejected_total",
    "Events the HTTP ingestion API refused one by one (--target http)",
    () => s().rejectedEvents,
  );
  counter(
    "events_failed_total",
    "Events in messages that failed after all retries",
    () => s().failedEvents,
  );
  counter(
    "entries_retried_total",
    "Batch entries sent again after a failed entry or request",
    () => s().retriedEntries,
  );
  counter("messages_total", "SQS messages packed", () => s().messages);
  counter("batches_total", "SendMessageBatch requests started", () => s().batches);
  counter("event_bytes_total", "Encoded event bytes packed into messages", () => s().bytes);
  counter(
    "body_bytes_total",
    "Message body bytes sent (compressed where compressed): body_bytes / event_bytes is the compression ratio",
    () => s().bodyBytes,
  );
  derivedGauge(
    registry,
    "scalestream_producer_inflight_batches",
    "SendMessageBatch requests in flight",
    () => s().inflightBatches,
  );
  let progress: Progress | undefined;
  derivedGauge(
    registry,
    "scalestream_producer_target_events_per_second",
    "Target send rate",
    () => progress?.targetRate ?? 0,
  );
  derivedGauge(
    registry,
    "scalestream_producer_achieved_events_per_second",
    "Achieved send rate since the start; below target when the queue pushes back",
    () => progress?.achievedRate ?? 0,
  );
  return {
    observeProgress(p) {
      progress = p;
    },
  };
}

/**
 * Serves `registry` at `GET /metrics` on `port`; resolves to undefined when `port` is 0 (off).
 */
export async function serveProducerMetrics(
  registry: Registry,
  options: { port: number; hostname?: string },
): Promise<MetricsServer | undefined> {
  if (options.port === 0) return undefined;
  return await serveMetrics(registry, options);
}

/**
 * Everything a producer program needs in one call: a registry with process metrics, the SQS
 * client instrumented, the producer's metrics, and `/metrics` served on `port` (0 = off).
 */
export async function startProducerMetrics(
  options: ProducerMetricsHooks & { sqs: SQSClient; port: number; hostname?: string },
): Promise<ProducerMetrics & { registry: Registry; server?: MetricsServer }> {
  const registry = createMetricsRegistry();
  instrumentSqsClient(options.sqs, registry);
  const metrics = createProducerMetrics(registry, options);
  const server = await serveProducerMetrics(registry, options);
  if (server) logMetricsEndpoint("producer", server.url);
  return { ...metrics, registry, ...(server ? { server } : {}) };
}
