/**
 * Consumer metrics. Counters and gauges are read at scrape time from the consumer's own `stats`;
 * histograms are observed from the `onFlush` callback; database errors are classified by wrapping
 * `sql.begin`; consumer lag is read from the `SentTimestamp` of received messages by an SQS
 * middleware.
 *
 * End-to-end latency is event timestamp → commit of the flush that stored it, observed once per
 * newly inserted event (duplicates are not observed again). Events older than the top bucket
 * (10 min) are counted in `scalestream_e2e_late_events_total` instead: the generator sends late
 * events on purpose and a CSV import replays old ones, and hours-old observations would otherwise
 * swamp the histogram's upper quantiles with what is not pipeline latency at all.
 */
import type { Message } from "@aws-sdk/client-sqs";
import {
  Counter,
  createMetricsRegistry,
  createQueueDepthMonitor,
  derivedCounter,
  derivedGauge,
  DURATION_BUCKETS_S,
  getLogger,
  Histogram,
  instrumentSqsClient,
  isTransientDbError,
  LATENCY_BUCKETS_S,
  type QueueDepthMonitor,
  type Registry,
  type Sql,
  type SQSClient,
  tracer,
} from "../shared/mod.ts";
import type { ConsumerStats } from "./consumer.ts";
import type { FlushResult } from "./flush_events.ts";

const log = getLogger(["scalestream", "consumer", "flush"]);

/** Events later than this (event time → commit) count as late, outside the e2e histogram. */
export const E2E_LATE_AFTER_S = LATENCY_BUCKETS_S[LATENCY_BUCKETS_S.length - 1]!;

/** Flush sizes in events: 1 to 100k, roughly ×2.5 per bucket. */
const FLUSH_SIZE_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000];

export interface ConsumerMetricsHooks {
  /** The running totals of the consumer (`consumer.stats`), read at each scrape. */
  stats: () => Readonly<ConsumerStats>;
  /** When given, received messages are timed from their `SentTimestamp` (consumer lag). */
  sqs?: SQSClient;
  now?: () => number;
}

export interface ConsumerMetrics {
  /** Pass as `createConsumer({ onFlush })`. */
  onFlush(result: FlushResult, info: { latencyMs: number; messages: number }): void;
  /** Returns `sql` with `begin` wrapped so failing transactions are counted by error class. */
  instrumentSql(sql: Sql): Sql;
}

/** How long a lag observation stays in the lag gauge after the last receive. */
const LAG_WINDOW_MS = 15_000;

/** Registers the consumer's metrics on `registry`. */
export function createConsumerMetrics(
  registry: Registry,
  hooks: ConsumerMetricsHooks,
): ConsumerMetrics {
  const now = hooks.now ?? Date.now;
  const s = hooks.stats;
  const counter = (name: string, help: string, read: () => number) =>
    derivedCounter(registry, `scalestream_consumer_${name}`, help, read);

  counter("messages_received_total", "SQS messages received", () => s().received);
  counter("messages_deleted_total", "SQS messages deleted after commit", () => s().deleted);
  counter(
    "delete_failures_total",
    "Committed messages that could not be deleted (they are skipped as duplicates on redelivery)",
    () => s().deleteFailures,
  );
  counter(
    "poison_messages_total",
    "Receives of messages left for the dead-letter queue (undecodable, or failing permanently on their own); SQS moves one there after SQS_MAX_RECEIVE_COUNT receives",
    () => s().poison,
  );
  counter(
    "decode_errors_total",
    "Messages whose decoding failed unexpectedly (not a known poison shape); each is isolated and left for the dead-letter queue like poison",
    () => s().decodeErrors,
  );
  counter("receive_errors_total", "Failed ReceiveMessage calls", () => s().receiveErrors);
  counter(
    "receives_total",
    "Successful ReceiveMessage calls; messages_received_total / receives_total is the mean fill",
    () => s().receives,
  );
  derivedGauge(
    registry,
    "scalestream_consumer_active_pollers",
    "Receive loops running: follows the backlog between 1 and CONSUMER_POLLERS",
    () => s().activePollers,
  );
  counter("flushes_total", "Committed flushes (one transaction each)", () => s().flushes);
  counter(
    "events_processed_total",
    "Events handled by committed flushes: stored + duplicates + rejected",
    () => {
      const t = s();
      return t.stored + t.duplicates + t.rejected + t.outOfRange;
    },
  );
  counter("events_stored_total", "Events newly stored in PostgreSQL", () => s().stored);
  counter(
    "duplicates_skipped_total",
    "Events skipped because their event id was already stored",
    () => s().duplicates,
  );
  derivedCounter(
    registry,
    "scalestream_consumer_events_rejected_total",
    "Events stored in the rejects table, by kind: invalid (schema) or out_of_range (event time beyond the late horizon or the future-skew limit)",
    () => ({ invalid: s().rejected, out_of_range: s().outOfRange }),
    "kind",
  );
  counter(
    "heartbeat_extensions_total",
    "Visibility timeouts extended for messages still in flight",
    () => s().heartbeats,
  );
  derivedGauge(
    registry,
    "scalestream_consumer_inflight_messages",
    "Messages received and not yet committed",
    () => s().inflightMessages,
  );
  derivedGauge(
    registry,
    "scalestream_consumer_inflight_events",
    "Events received and not yet committed",
    () => s().inflightEvents,
  );
  derivedGauge(
    registry,
    "scalestream_consumer_inflight_bytes",
    "Message bytes received and not yet committed",
    () => s().inflightBytes,
  );
  derivedGauge(
    registry,
    "scalestream_consumer_last_flush_timestamp_seconds",
    "When the last flush committed (Unix time; 0 before the first)",
    () => s().lastFlushAtMs / 1000,
  );

  const flushSize = new Histogram({
    name: "scalestream_consumer_flush_size_events",
    help: "Events per committed flush",
    buckets: FLUSH_SIZE_BUCKETS,
    registers: [registry],
  });
  const flushDuration = new Histogram({
    name: "scalestream_consumer_flush_duration_seconds",
    help: "Time of a committed flush, retries included",
    buckets: [...DURATION_BUCKETS_S],
    registers: [registry],
  });
  const e2e = new Histogram({
    name: "scalestream_e2e_latency_seconds",
    help:
      `Event timestamp to commit, per newly stored event; events later than ${E2E_LATE_AFTER_S} s are counted in scalestream_e2e_late_events_total instead`,
    buckets: [...LATENCY_BUCKETS_S],
    registers: [registry],
  });
  const late = new Counter({
    name: "scalestream_e2e_late_events_total",
    help: `Newly stored events whose event time was more than ${E2E_LATE_AFTER_S} s before commit`,
    registers: [registry],
  });
  const dbErrors = new Counter({
    name: "scalestream_consumer_db_errors_total",
    help: "Failed database transactions by class: transient (retried) or permanent",
    labelNames: ["class"],
    registers: [registry],
  });
  dbErrors.inc({ class: "transient" }, 0);
  dbErrors.inc({ class: "permanent" }, 0);

  // Lag: the largest now − SentTimestamp among recent receives; 0 once nothing came for a while.
  let lagMaxS = 0;
  let lagAtMs = 0;
  derivedGauge(
    registry,
    "scalestream_consumer_lag_seconds",
    "Largest time from SentTimestamp to receipt among messages received in the last 15 s (local stand-in for CloudWatch's ApproximateAgeOfOldestMessage)",
    () => (now() - lagAtMs > LAG_WINDOW_MS ? 0 : lagMaxS),
  );
  const receiveLag = new Histogram({
    name: "scalestream_consumer_receive_lag_seconds",
    help: "Time from SentTimestamp to receipt, per received message",
    buckets: [...LATENCY_BUCKETS_S],
    registers: [registry],
  });

  function observeReceived(messages: readonly Message[]) {
    const t = now();
    let max = 0;
    for (const m of messages) {
      const sent = Number(m.Attributes?.SentTimestamp);
      if (!Number.isFinite(sent)) continue;
      const lagS = Math.max(0, (t - sent) / 1000);
      receiveLag.observe(lagS);
      if (lagS > max) max = lagS;
    }
    if (t - lagAtMs > LAG_WINDOW_MS || max > lagMaxS) lagMaxS = max;
    lagAtMs = t;
  }

  if (hooks.sqs) {
    (hooks.sqs.middlewareStack as unknown as _Stack).add(
      (next, ctx) => async (args) => {
        const result = await next(args);
        if ((ctx as { commandName?: string }).commandName === "ReceiveMessageCommand") {
          const messages = (result as { output?: { Messages?: Message[] } }).output?.Messages;
          if (messages?.length) observeReceived(messages);
        }
        return result;
      },
      { step: "initialize", name: "scalestreamConsumerLag", override: true },
    );
  }

  function onFlush(result: FlushResult, info: { latencyMs: number; messages: number }) {
    const commitMs = now();
    flushSize.observe(result.received);
    flushDuration.observe(info.latencyMs / 1000);
    let lateCount = 0;
    for (const { timeMs } of result.inserted) {
      const latencyS = (commitMs - timeMs) / 1000;
      if (latencyS > E2E_LATE_AFTER_S) lateCount++;
      else e2e.observe(latencyS < 0 ? 0 : latencyS);
    }
    if (lateCount > 0) late.inc(lateCount);
    // Retroactive: the consumer calls back after commit; the span still shows the flush's extent.
    const span = tracer.startSpan("flush", {
      startTime: commitMs - info.latencyMs,
      attributes: {
        "scalestream.flush.messages": info.messages,
        "scalestream.flush.events": result.received,
        "scalestream.flush.stored": result.stored,
        "scalestream.flush.duplicates": result.duplicates,
      },
    });
    span.end(commitMs);
    log.debug(
      "Flush committed: {events} events from {messages} messages ({stored} stored, {duplicates} duplicates, {rejected} rejected) in {latencyMs} ms",
      {
        events: result.received,
        messages: info.messages,
        stored: result.stored,
        duplicates: result.duplicates,
        rejected: result.rejected + result.outOfRange,
        latencyMs: Math.round(info.latencyMs),
      },
    );
  }

  function instrumentSql(sql: Sql): Sql {
    const begin = sql.begin.bind(sql) as (...args: unknown[]) => Promise<unknown>;
    const wrapped = async (...args: unknown[]) => {
      try {
        return await begin(...args);
      } catch (err) {
        dbErrors.inc({ class: isTransientDbError(err) ? "transient" : "permanent" });
        throw err;
      }
    };
    return new Proxy(sql, {
      get: (target, prop, receiver) =>
        prop === "begin" ? wrapped : Reflect.get(target, prop, receiver),
    });
  }

  return { onFlush, instrumentSql };
}

/**
 * Everything a consumer program needs in one call: a registry with process metrics, the SQS client
 * instrumented, the consumer's metrics, and the queue-depth poller (started unless
 * `queueDepthIntervalMs` is 0). Serve `text` at `GET /metrics`.
 */
export function startConsumerMetrics(
  options: ConsumerMetricsHooks & {
    sqs: SQSClient;
    queueUrl: string;
    dlqUrl: string;
    queueDepthIntervalMs: number;
  },
): ConsumerMetrics & {
  registry: Registry;
  depth: QueueDepthMonitor;
  text: () => Promise<string>;
  stop(): void;
} {
  const registry = createMetricsRegistry();
  instrumentSqsClient(options.sqs, registry);
  const metrics = createConsumerMetrics(registry, options);
  const depth = createQueueDepthMonitor(registry, {
    sqs: options.sqs,
    queueUrl: options.queueUrl,
    dlqUrl: options.dlqUrl,
    intervalMs: options.queueDepthIntervalMs || 5000,
  });
  if (options.queueDepthIntervalMs > 0) depth.start();
  return { ...metrics, registry, depth, text: () => registry.metrics(), stop: () => depth.stop() };
}

/** The part of the SDK's middleware stack used here. */
interface _Stack {
  add(
    middleware: (
      next: (args: unknown) => Promise<unknown>,
      ctx: unknown,
    ) => (args: unknown) => Promise<unknown>,
    options: { step: "initialize"; name: string; override?: boolean },
  ): void;
}
