/**
 * The consumer loop, in the manner of sqs-consumer: `start()` / `stop()`; receive → decode → buffer
 * → flush (one transaction) → delete. Polling is decoupled from flushing: several long polls run at
 * once while there is room under the in-flight bounds, and flushes combine many messages. A message
 * is deleted only after the transaction holding all of its events has committed.
 *
 * Backpressure: a poll starts only while in-flight events and bytes are under their bounds AND the
 * events waiting for a flush slot are fewer than `flushConcurrency × flushMaxEvents`. Intake therefore
 * follows the flush rate: when the database slows down, flushes take longer, the queue ahead of them
 * fills and polls pause; memory is bounded by the in-flight limits plus one receive per poller.
 *
 * Receives that come back full (issue 20: SQS bills every receive, and a long poll returns as soon
 * as one message is there). The number of active pollers follows the backlog, between 1 and
 * `pollers`: a receive that returns ten messages says more are waiting and adds a poller (only while
 * there is room); one that returns fewer, or nothing, retires one. A poller whose receive came back
 * partial waits `receiveLingerMs` before its next receive, so the queue gathers messages for it
 * instead of each message costing a round trip; the wait is aborted by `stop()` like the long poll.
 * sqs-consumer's `pollingWaitTimeMs`, Lambda's batching window and the Java SDK's adaptive
 * prefetching are the same idea; here it applies only after a partial receive, so a backlog is
 * drained by back-to-back full receives.
 *
 * Deletes come back full too: committed messages of every flush go to one delete batcher
 * (shared/sqs_delete_batcher.ts) that sends a `DeleteMessageBatch` as soon as ten are waiting, or
 * `deleteMaxWaitMs` after the first; `stop()` sends what is left before it resolves. A flush that
 * fails hands nothing to it, so a message is still deleted only after its transaction committed.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import pRetry, { AbortError } from "p-retry";
import {
  type Config,
  createDeleteBatcher,
  delay,
  getLogger,
  isTransientDbError,
  PoisonMessageError,
  type Sql,
  withContext,
} from "../shared/mod.ts";
import { type DecodedMessage, decodeMessage } from "./decode_message.ts";
import type { Enricher } from "./enrich.ts";
import { flushEvents, type FlushResult, type FlushStage } from "./flush_events.ts";

const log = getLogger(["scalestream", "consumer"]);

/** Settings the consumer reads from the shared configuration. */
export type ConsumerConfig =
  & Pick<
    Config,
    | "pollers"
    | "waitTimeS"
    | "receiveLingerMs"
    | "visibilityTimeoutS"
    | "maxInflightEvents"
    | "maxInflightBytes"
    | "flushMaxEvents"
    | "flushMaxMs"
    | "flushConcurrency"
    | "shutdownDeadlineMs"
    | "lateHorizonS"
    | "futureSkewS"
  >
  & Partial<Pick<Config, "consumerStatusIntervalMs" | "deleteMaxWaitMs" | "eventContract">>;

export interface ConsumerDeps {
  sql: Sql;
  sqs: SQSClient;
  queueUrl: string;
  config: ConsumerConfig;
  workerId: string;
  stages?: readonly FlushStage[];
  /** Segment of a user; overrides the enricher's when both are given. */
  segmentOf?: (userId: string) => string;
  /** Dimension lookups, primed once per flush (user segment, product category). */
  enricher?: Enricher;
  /**
   * The clock of event-time decisions (the late/future window, flush time); default `Date.now`.
   * Soak runs pass an accelerated one (shared/clock.ts).
   */
  now?: () => number;
  /** Called after each committed flush (metrics, live updates). */
  onFlush?: (result: FlushResult, info: { latencyMs: number; messages: number }) => void;
}

/** Running totals of one consumer process; all derived from what it did, never reset. */
export interface ConsumerStats {
  received: number;
  flushes: number;
  stored: number;
  duplicates: number;
  rejected: number;
  outOfRange: number;
  /** Messages left for the DLQ: undecodable, or failing their flush on their own. */
  poison: number;
  /** Of `poison`: messages whose decoding failed with an error other than `PoisonMessageError`. */
  decodeErrors: number;
  deleted: number;
  deleteFailures: number;
  flushErrors: number;
  receiveErrors: number;
  heartbeats: number;
  inflightMessages: number;
  inflightEvents: number;
  inflightBytes: number;
  /** Highest `inflightEvents` seen: shows the in-flight bound holding under a backlog. */
  peakInflightEvents: number;
  /** Polls that waited for room (backpressure) before receiving. */
  pollsPaused: number;
  /** Successful ReceiveMessage calls; `received / receives` is the mean messages per receive. */
  receives: number;
  /** Receives that returned nothing (the long poll ran out). */
  emptyReceives: number;
  /** Pollers running now: follows the backlog between 1 and `pollers`. */
  activePollers: number;
  /** Highest `activePollers` seen. */
  peakActivePollers: number;
  lastPollAtMs: number;
  lastFlushAtMs: number;
  /** Latency of the last committed flush, including retries, in milliseconds. */
  lastFlushLatencyMs: number;
  /** Now − SentTimestamp of the oldest message of the last flush, at its commit. */
  lagMs: number;
}

export interface Consumer {
  start(): void;
  /** Stops polling, drains what is in flight (bounded by the shutdown deadline), then resolves. */
  stop(): Promise<void>;
  readonly stats: Readonly<ConsumerStats>;
  /** Healthy while polling is not stalled and the process is not shutting down. */
  health(): { ok: boolean; reason?: string };
  readonly running: boolean;
}

interface Inflight {
  msg: DecodedMessage;
  /**
   * When it became receivable: a buffered message waits at most `flushMaxMs` for its flush, counted
   * from here. Usually its receipt; after a receive linger, when it reached the queue during the
   * linger, so waiting in the queue and in the buffer share one budget.
   */
  receivedAtMs: number;
  /** When the visibility timeout of this message runs out unless extended. */
  visibleAtMs: number;
}

const jitter = (ms: number) => ms / 2 + Math.random() * ms / 2;

/**
 * When the messages of a receive became receivable: the receipt itself, unless the poller lingered
 * before it; then the earliest SentTimestamp among them, but no earlier than the linger's start
 * (so a skewed SQS clock can shift it by at most one linger).
 */
function readyAt(messages: readonly Message[], lingerStartMs: number | undefined): number {
  const nowMs = Date.now();
  if (lingerStartMs === undefined) return nowMs;
  let oldest = nowMs;
  for (const m of messages) {
    const sent = Number(m.Attributes?.SentTimestamp);
    if (Number.isFinite(sent) && sent < oldest) oldest = sent;
  }
  return Math.min(nowMs, Math.max(lingerStartMs, oldest));
}

/** SQS returns at most ten messages per receive. */
const MAX_RECEIVE = 10;

/** Time a stopped consumer still waits for a transaction in flight after the deadline. */
const DEADLINE_GRACE_MS = 1000;

/** Creates a consumer; nothing happens until `start()`. */
export function createConsumer(deps: ConsumerDeps): Consumer {
  const { sqs, queueUrl, config } = deps;
  const stats: ConsumerStats = {
    received: 0,
    flushes: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    outOfRange: 0,
    poison: 0,
    decodeErrors: 0,
    deleted: 0,
    deleteFailures: 0,
    flushErrors: 0,
    receiveErrors: 0,
    heartbeats: 0,
    inflightMessages: 0,
    inflightEvents: 0,
    inflightBytes: 0,
    peakInflightEvents: 0,
    pollsPaused: 0,
    receives: 0,
    emptyReceives: 0,
    activePollers: 0,
    peakActivePollers: 0,
    lastPollAtMs: 0,
    lastFlushAtMs: 0,
    lastFlushLatencyMs: 0,
    lagMs: 0,
  };
  const inflight = new Map<string, Inflight>(); // by receipt handle
  let buffer: Inflight[] = [];
  let bufferedEvents = 0;
  let activeFlushes = 0;
  let running = false;
  let startedAtMs = 0;
  let stopping: Promise<void> | null = null;
  let pollAbort = new AbortController();
  /** Aborted when the shutdown deadline passes: flush retries give up, messages stay in SQS. */
  const hardAbort = new AbortController();
  const pollers = new Set<Promise<void>>();
  /** How many pollers the backlog calls for; running ones above it retire. */
  let targetPollers = 1;
  let nextPollerId = 0;
  const flushes = new Set<Promise<void>>();
  let roomWaiters: (() => void)[] = [];
  let flushTimer: ReturnType<typeof setInterval> | undefined;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  let heartbeatRunning = false;
  const queuedLimit = config.flushConcurrency * config.flushMaxEvents;
  const deletes = createDeleteBatcher({
    sqs,
    queueUrl,
    maxWaitMs: config.deleteMaxWaitMs ?? 200,
    signal: hardAbort.signal,
    onDeleted: (n) => stats.deleted += n,
    onGiveUp: (n) => stats.deleteFailures += n,
  });

  const hasRoom = () =>
    stats.inflightEvents < config.maxInflightEvents &&
    stats.inflightBytes < config.maxInflightBytes &&
    bufferedEvents < queuedLimit;

  function wakeRoomWaiters() {
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const w of waiters) w();
  }

  async function waitForRoom(signal: AbortSignal) {
    if (hasRoom()) return;
    stats.pollsPaused++;
    while (!hasRoom() && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        roomWaiters.push(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
    // Waiting for room is not a stall: the health check measures from here.
    stats.lastPollAtMs = Math.max(stats.lastPollAtMs, Date.now());
  }

  function spawnPoller() {
    if (!running || pollAbort.signal.aborted) return;
    stats.activePollers++;
    stats.peakActivePollers = Math.max(stats.peakActivePollers, stats.activePollers);
    const p = pollLoop(nextPollerId++).finally(() => pollers.delete(p));
    pollers.add(p);
  }

  /** After each receive: full → one more poller (if there is room), partial or empty → one fewer. */
  function followBacklog(received: number) {
    if (received >= MAX_RECEIVE) {
      targetPollers = Math.min(config.pollers, targetPollers + 1);
      while (stats.activePollers < targetPollers && hasRoom()) spawnPoller();
    } else {
      targetPollers = Math.max(1, targetPollers - 1);
    }
  }

  async function pollLoop(id: number) {
    const signal = pollAbort.signal;
    let failures = 0;
    /** Set while the last receive was followed by a linger: when that linger began. */
    let lingerStartMs: number | undefined;
    // The count drops in this function's own `finally`, i.e. in the same step as a decision to
    // retire: no two pollers retire on the strength of one surplus, and the last one never does.
    try {
      while (running && !signal.aborted) {
        if (stats.activePollers > targetPollers) return; // the backlog shrank: retire
        await waitForRoom(signal);
        if (signal.aborted) break;
        let messages: Message[] = [];
        try {
          const out = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: MAX_RECEIVE,
              WaitTimeSeconds: config.waitTimeS,
              VisibilityTimeout: config.visibilityTimeoutS,
              MessageAttributeNames: ["All"],
              MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
            }),
            // A receive that hangs (half-open connection) must not stall this poller forever.
            {
              abortSignal: AbortSignal.any([
                signal,
                AbortSignal.timeout((config.waitTimeS + 15) * 1000),
              ]),
            },
          );
          messages = out.Messages ?? [];
          failures = 0;
          stats.lastPollAtMs = Date.now();
          stats.receives++;
          if (messages.length === 0) stats.emptyReceives++;
        } catch (err) {
          if (signal.aborted) break;
          failures++;
          stats.receiveErrors++;
          log.warn("Receive failed on poller {id} ({failures} in a row): {error}", {
            id,
            failures,
            error: String(err),
          });
          await delay(jitter(Math.min(20_000, 200 * 2 ** failures)), signal);
          continue;
        }
        followBacklog(messages.length);
        try {
          if (messages.length > 0) accept(messages, readyAt(messages, lingerStartMs));
        } catch (err) {
          // A bug, not bad input (that is PoisonMessageError): the messages come back after their
          // visibility timeout, and polling goes on.
          stats.receiveErrors++;
          log.error("Could not take {count} received messages: {error}", {
            count: messages.length,
            error: String(err),
          });
        }
        if (messages.length > 0 && messages.length < MAX_RECEIVE && config.receiveLingerMs > 0) {
          // Partial: the queue is nearly empty; let it gather messages for the next receive.
          lingerStartMs = Date.now();
          await delay(config.receiveLingerMs, signal);
        } else {
          lingerStartMs = undefined;
        }
      }
    } finally {
      stats.activePollers--;
    }
  }

  function accept(messages: Message[], readyAtMs = Date.now()) {
    const nowMs = (deps.now ?? Date.now)();
    const window = {
      nowMs,
      lateHorizonMs: config.lateHorizonS * 1000,
      futureSkewMs: config.futureSkewS * 1000,
      contract: config.eventContract,
    };
    for (const m of messages) {
      stats.received++;
      let decoded: DecodedMessage;
      try {
        decoded = decodeMessage(m, window);
      } catch (err) {
        // Undecodable (poison), or a decoder failure nobody foresaw: either way only this message
        // is set aside for the DLQ; nothing a message holds may end the loop or the process.
        const error = err instanceof Error ? err : new Error(String(err));
        const receiveCount = Number(m.Attributes?.ApproximateReceiveCount ?? 1);
        if (!(err instanceof PoisonMessageError)) {
          stats.decodeErrors++;
          log.error(
            "Decoding message {messageId} failed unexpectedly; leaving it for the DLQ: {error}",
            { messageId: m.MessageId, error: `${error.name}: ${error.message}`.slice(0, 500) },
          );
        } else {
          log.warn("Poison message {messageId} (receive {count}): {reason}", {
            messageId: m.MessageId,
            count: m.Attributes?.ApproximateReceiveCount ?? "?",
            reason: error.message,
          });
        }
        void leaveForDlq(m.ReceiptHandle, Number.isFinite(receiveCount) ? receiveCount : 1, error);
        continue;
      }
      if (inflight.has(decoded.receiptHandle)) continue; // the same receipt twice: already held
      const count = decoded.events.length + decoded.rejects.length;
      const entry: Inflight = {
        msg: decoded,
        receivedAtMs: readyAtMs,
        visibleAtMs: nowMs + config.visibilityTimeoutS * 1000,
      };
      inflight.set(decoded.receiptHandle, entry);
      stats.inflightMessages++;
      stats.inflightEvents += count;
      stats.inflightBytes += decoded.bytes;
      if (stats.inflightEvents > stats.peakInflightEvents) {
        stats.peakInflightEvents = stats.inflightEvents;
      }
      buffer.push(entry);
      bufferedEvents += count;
    }
    maybeFlush(false);
  }

  /** Not deleted: SQS redelivers it after a short backoff and moves it to the DLQ in the end. */
  async function leaveForDlq(receiptHandle: string | undefined, receiveCount: number, err: Error) {
    stats.poison++;
    if (!receiptHandle) return;
    try {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: Math.min(config.visibilityTimeoutS, 2 ** Math.min(receiveCount, 10)),
        }),
      );
    } catch (cause) {
      log.debug("Could not shorten visibility of a poison message: {error} ({reason})", {
        error: String(cause),
        reason: err.message,
      });
    }
  }

  function maybeFlush(force: boolean) {
    while (buffer.length > 0 && activeFlushes < config.flushConcurrency) {
      const full = bufferedEvents >= config.flushMaxEvents;
      const old = Date.now() - buffer[0]!.receivedAtMs >= config.flushMaxMs;
      if (!force && !full && !old) return;
      if (hardAbort.signal.aborted) {
        // Past the deadline nothing new starts; what is buffered stays in SQS for another worker.
        release(takeBatch().map((e) => e.msg));
        continue;
      }
      const batch = takeBatch().map((e) => e.msg);
      activeFlushes++;
      const p = runFlush(batch).finally(() => {
        activeFlushes--;
        flushes.delete(p);
        maybeFlush(!running);
      });
      flushes.add(p);
    }
  }

  /** Whole messages, oldest first, up to `flushMaxEvents` events (at least one message). */
  function takeBatch(): Inflight[] {
    let events = 0;
    let n = 0;
    while (n < buffer.length) {
      const m = buffer[n]!.msg;
      const size = m.events.length + m.rejects.length;
      if (n > 0 && events + size > config.flushMaxEvents) break;
      events += size;
      n++;
    }
    const batch = buffer.slice(0, n);
    buffer = buffer.slice(n);
    bufferedEvents -= events;
    wakeRoomWaiters();
    return batch;
  }

  /** Every log record of one flush (retries, failures) carries its `flushId`. */
  function runFlush(batch: DecodedMessage[]): Promise<void> {
    return withContext({ flushId: crypto.randomUUID() }, () => runFlushInContext(batch));
  }

  async function runFlushInContext(batch: DecodedMessage[]) {
    const started = performance.now();
    try {
      let result: FlushResult;
      try {
        result = await flushWithRetry(batch);
      } catch (err) {
        if (hardAbort.signal.aborted) {
          log.warn("Shutdown deadline passed; {messages} uncommitted messages stay in the queue", {
            messages: batch.length,
          });
        } else if (batch.length > 1) {
          // Not transient: isolate the message that causes it by flushing halves separately.
          log.warn("Flush of {messages} messages failed ({error}); bisecting", {
            messages: batch.length,
            error: String(err),
          });
          const mid = Math.ceil(batch.length / 2);
          await runFlush(batch.slice(0, mid));
          await runFlush(batch.slice(mid));
        } else {
          const m = batch[0]!;
          log.error("Message {messageId} failed permanently; leaving it for the DLQ: {error}", {
            messageId: m.messageId,
            error: String(err),
          });
          await leaveForDlq(m.receiptHandle, m.receiveCount, err as Error);
        }
        return;
      }
      const nowMs = Date.now();
      const latencyMs = performance.now() - started;
      stats.flushes++;
      stats.stored += result.stored;
      stats.duplicates += result.duplicates;
      stats.rejected += result.rejected;
      stats.outOfRange += result.outOfRange;
      stats.lastFlushAtMs = nowMs;
      stats.lastFlushLatencyMs = latencyMs;
      stats.lagMs = nowMs - Math.min(...batch.map((m) => m.sentAtMs));
      try {
        deps.onFlush?.(result, { latencyMs, messages: batch.length });
      } catch (err) {
        // Committed already: a failing observer must not make the batch look failed.
        log.warn("onFlush callback failed: {error}", { error: String(err) });
      }
      // Not awaited: the flush slot is free for the next batch while these wait for a full request.
      void deletes.delete(batch.map((m) => m.receiptHandle));
    } finally {
      release(batch);
    }
  }

  function flushWithRetry(batch: DecodedMessage[]): Promise<FlushResult> {
    const events = batch.flatMap((m) => m.events);
    const rejects = batch.flatMap((m) => m.rejects);
    return pRetry(
      async () => {
        if (hardAbort.signal.aborted) throw new AbortError("Shutdown deadline passed");
        let segmentOf = deps.segmentOf;
        if (deps.enricher) {
          const view = await deps.enricher.prime(events);
          view.apply(events);
          segmentOf ??= view.segmentOf;
        }
        return await flushEvents(
          { events, rejects, messages: batch.length, workerId: deps.workerId },
          { sql: deps.sql, stages: deps.stages, segmentOf, ...(deps.now ? { now: deps.now } : {}) },
        );
      },
      {
        retries: Infinity,
        minTimeout: 100,
        maxTimeout: 10_000,
        factor: 2,
        randomize: true,
        signal: hardAbort.signal,
        shouldRetry: ({ error }) => isTransientDbError(error),
        onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
          stats.flushErrors++;
          if (!isTransientDbError(error)) return;
          log.warn("Flush attempt {attempt} failed ({code}); retrying in {delayMs} ms: {error}", {
            attempt: attemptNumber,
            code: (error as { code?: string }).code ?? "unknown",
            delayMs: Math.round(retryDelay),
            error: error.message,
          });
        },
      },
    );
  }

  function release(batch: DecodedMessage[]) {
    for (const m of batch) {
      if (!inflight.delete(m.receiptHandle)) continue;
      stats.inflightMessages--;
      stats.inflightEvents -= m.events.length + m.rejects.length;
      stats.inflightBytes -= m.bytes;
    }
    wakeRoomWaiters();
  }

  /** Extends visibility of messages still in flight before it runs out (slow database). */
  async function heartbeat() {
    if (heartbeatRunning) return;
    heartbeatRunning = true;
    try {
      const nowMs = Date.now();
      const due: Inflight[] = [];
      for (const entry of inflight.values()) {
        if (entry.visibleAtMs - nowMs < (config.visibilityTimeoutS * 1000) / 2) due.push(entry);
      }
      for (let i = 0; i < due.length; i += 10) {
        const chunk = due.slice(i, i + 10);
        try {
          const out = await sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((e, j) => ({
                Id: String(j),
                ReceiptHandle: e.msg.receiptHandle,
                VisibilityTimeout: config.visibilityTimeoutS,
              })),
            }),
          );
          const failed = new Set((out.Failed ?? []).map((f) => Number(f.Id)));
          chunk.forEach((e, j) => {
            if (failed.has(j)) return;
            e.visibleAtMs = nowMs + config.visibilityTimeoutS * 1000;
            stats.heartbeats++;
          });
        } catch (err) {
          log.warn("Visibility heartbeat failed: {error}", { error: String(err) });
        }
      }
    } finally {
      heartbeatRunning = false;
    }
  }

  let lastStatus = { atMs: 0, stored: 0 };

  /** Upserts this worker's row in `consumer_status` (read by the API's pipeline status). */
  async function reportStatus() {
    const nowMs = Date.now();
    const elapsedS = (nowMs - lastStatus.atMs) / 1000;
    const rate = lastStatus.atMs === 0 || elapsedS <= 0
      ? 0
      : (stats.stored - lastStatus.stored) / elapsedS;
    lastStatus = { atMs: nowMs, stored: stats.stored };
    try {
      await deps.sql`
        insert into consumer_status (worker_id, started_at, updated_at, inflight_messages,
                                     inflight_events, lag_ms, events_per_s, stored, duplicates)
        values (${deps.workerId}, ${new Date(startedAtMs)}, ${new Date(nowMs)},
                ${stats.inflightMessages}, ${stats.inflightEvents}, ${Math.round(stats.lagMs)},
                ${rate}, ${stats.stored}, ${stats.duplicates})
        on conflict (worker_id) do update set
          started_at = excluded.started_at, updated_at = excluded.updated_at,
          inflight_messages = excluded.inflight_messages,
          inflight_events = excluded.inflight_events, lag_ms = excluded.lag_ms,
          events_per_s = excluded.events_per_s, stored = excluded.stored,
          duplicates = excluded.duplicates`;
    } catch (err) {
      log.debug("Could not write consumer status: {error}", { error: String(err) });
    }
  }

  function start() {
    if (running || stopping) return;
    running = true;
    startedAtMs = Date.now();
    pollAbort = new AbortController();
    stats.lastPollAtMs = Date.now();
    targetPollers = 1;
    spawnPoller();
    flushTimer = setInterval(() => maybeFlush(false), Math.max(5, Math.min(config.flushMaxMs, 50)));
    const beatMs = Math.max(1000, (config.visibilityTimeoutS * 1000) / 4);
    heartbeatTimer = setInterval(() => void heartbeat(), beatMs);
    const statusMs = config.consumerStatusIntervalMs ?? 2000;
    if (statusMs > 0) {
      void reportStatus();
      statusTimer = setInterval(() => void reportStatus(), statusMs);
    }
    log.info(`Consumer {workerId} started with up to {pollers} pollers on ${queueUrl}`, {
      workerId: deps.workerId,
      pollers: config.pollers,
      queueUrl,
    });
  }

  async function drain() {
    running = false;
    pollAbort.abort();
    wakeRoomWaiters();
    while (pollers.size > 0) await Promise.all([...pollers]);
    maybeFlush(true);
    while (flushes.size > 0) {
      await Promise.all([...flushes]);
      maybeFlush(true);
    }
    await deletes.flush();
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      const deadline = setTimeout(() => hardAbort.abort(), config.shutdownDeadlineMs);
      // A transaction already sent cannot be recalled; past the deadline (+ grace) stop waiting for
      // it. Whether it commits or not, its messages were not deleted and come back: no loss.
      let giveUp: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        giveUp = setTimeout(() => resolve("late"), config.shutdownDeadlineMs + DEADLINE_GRACE_MS);
      });
      // The last status row is written inside the same bound: with the database unreachable, the
      // insert would otherwise wait for a connect timeout and overrun the deadline.
      const drainAndReport = drain().then(async () => {
        clearInterval(statusTimer);
        if (statusTimer !== undefined) await reportStatus();
      });
      try {
        const outcome = await Promise.race([drainAndReport, late]);
        if (outcome === "late") {
          log.warn("Consumer {workerId} stopped with {flushes} flushes still running", {
            workerId: deps.workerId,
            flushes: flushes.size,
          });
        }
      } finally {
        clearTimeout(deadline);
        clearTimeout(giveUp);
        clearInterval(flushTimer);
        clearInterval(heartbeatTimer);
        clearInterval(statusTimer);
      }
      log.info("Consumer {workerId} stopped: {stored} stored, {duplicates} duplicates skipped", {
        workerId: deps.workerId,
        stored: stats.stored,
        duplicates: stats.duplicates,
      });
    })();
    return stopping;
  }

  function health() {
    if (stopping) return { ok: false, reason: "shutting down" };
    if (!running) return { ok: false, reason: "not started" };
    const stalledMs = (config.waitTimeS + 30) * 1000;
    const idleFor = Date.now() - stats.lastPollAtMs;
    if (hasRoom() && idleFor > stalledMs) {
      return { ok: false, reason: `no poll completed for ${Math.round(idleFor / 1000)} s` };
    }
    return { ok: true };
  }

  return {
    start,
    stop,
    stats,
    health,
    get running() {
      return running;
    },
  };
}
