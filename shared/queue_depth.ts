/**
 * Queue depth: polls `GetQueueAttributes` of the event queue and its dead-letter queue every few
 * seconds, exports the counts as gauges and keeps the latest snapshot for `/v1/pipeline/status`.
 *
 * SQS reports no age of the oldest message through its API (CloudWatch does, as
 * `ApproximateAgeOfOldestMessage`); locally that age is approximated by consumer lag, the time from
 * `SentTimestamp` to receipt of the messages consumers take (`scalestream_consumer_lag_seconds`).
 */
import { GetQueueAttributesCommand, type QueueAttributeName } from "@aws-sdk/client-sqs";
import { Counter, Gauge, type Registry } from "prom-client";
import { getLogger } from "./log.ts";
import type { SQSClient } from "./sqs.ts";

const log = getLogger(["scalestream", "queue-depth"]);

/** Approximate message counts of one queue, as SQS reports them. */
export interface QueueDepth {
  /** `ApproximateNumberOfMessages`: waiting to be received. */
  visible: number;
  /** `ApproximateNumberOfMessagesNotVisible`: received, not yet deleted (in flight). */
  notVisible: number;
  /** `ApproximateNumberOfMessagesDelayed`: sent with a delay that has not passed. */
  delayed: number;
}

/** The latest poll of both queues. */
export interface QueueDepthSnapshot {
  queue: QueueDepth;
  dlq: QueueDepth;
  /** When the counts were read (epoch milliseconds). */
  polledAtMs: number;
}

export interface QueueDepthHooks {
  sqs: SQSClient;
  queueUrl: string;
  dlqUrl: string;
  /** Time between polls; SQS updates these counts about once a minute in AWS, instantly in fauxqs. */
  intervalMs?: number;
}

export interface QueueDepthMonitor {
  /** Polls now and at every interval until `stop()`. */
  start(): void;
  stop(): void;
  /** Polls both queues once and updates the snapshot. */
  poll(): Promise<QueueDepthSnapshot>;
  /** The latest snapshot; undefined before the first successful poll. */
  latest(): QueueDepthSnapshot | undefined;
}

const ATTRIBUTES: QueueAttributeName[] = [
  "ApproximateNumberOfMessages",
  "ApproximateNumberOfMessagesNotVisible",
  "ApproximateNumberOfMessagesDelayed",
];

/**
 * The one reader of a queue's depth: `GetQueueAttributes` for the three approximate counts.
 * `signal` bounds the request (a status read should not wait out the SDK's retries).
 */
export async function readQueueDepth(
  sqs: SQSClient,
  queueUrl: string,
  signal?: AbortSignal,
): Promise<QueueDepth> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ATTRIBUTES }),
    signal ? { abortSignal: signal } : {},
  );
  const a = out.Attributes ?? {};
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    notVisible: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

const STATES = { visible: "visible", notVisible: "not_visible", delayed: "delayed" } as const;

/**
 * Creates the poller and its metrics: `scalestream_queue_messages{queue="source"|"dlq", state}`,
 * `scalestream_queue_depth_polled_timestamp_seconds` and `scalestream_queue_depth_poll_errors_total`.
 */
export function createQueueDepthMonitor(
  registry: Registry,
  hooks: QueueDepthHooks,
): QueueDepthMonitor {
  const intervalMs = hooks.intervalMs ?? 5000;
  let snapshot: QueueDepthSnapshot | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let polling: Promise<unknown> | undefined;

  new Gauge({
    name: "scalestream_queue_messages",
    help:
      "Approximate messages in the source queue and the DLQ, by state (visible, not_visible, delayed)",
    labelNames: ["queue", "state"],
    registers: [registry],
    collect() {
      if (!snapshot) return;
      for (const queue of ["queue", "dlq"] as const) {
        for (const [key, state] of Object.entries(STATES)) {
          this.set(
            { queue: queue === "queue" ? "source" : "dlq", state },
            snapshot[queue][key as keyof QueueDepth],
          );
        }
      }
    },
  });
  new Gauge({
    name: "scalestream_queue_depth_polled_timestamp_seconds",
    help: "When the queue depth was last read successfully (Unix time)",
    registers: [registry],
    collect() {
      if (snapshot) this.set(snapshot.polledAtMs / 1000);
    },
  });
  const errors = new Counter({
    name: "scalestream_queue_depth_poll_errors_total",
    help: "Failed GetQueueAttributes polls",
    registers: [registry],
  });

  async function poll(): Promise<QueueDepthSnapshot> {
    const [queue, dlq] = await Promise.all([
      readQueueDepth(hooks.sqs, hooks.queueUrl),
      readQueueDepth(hooks.sqs, hooks.dlqUrl),
    ]);
    snapshot = { queue, dlq, polledAtMs: Date.now() };
    return snapshot;
  }

  function tick() {
    if (polling) return; // a slow poll is not stacked with the next
    polling = poll().catch((err) => {
      errors.inc();
      log.warn("Queue depth poll failed: {error}", { error: String(err) });
    }).finally(() => polling = undefined);
  }

  return {
    start() {
      if (timer !== undefined) return;
      tick();
      timer = setInterval(tick, intervalMs);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    poll,
    latest: () => snapshot,
  };
}
