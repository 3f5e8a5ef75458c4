/**
 * The consumer loop, in the manner of sqs-consumer: `start()` / `stop()`; receive → decode → buffer
 * → flush (one transaction) → delete. Polling is decoupled from flushing: several long polls run at
 * once while there is room under the in-flight bounds, and flushes combine many messages. A message
 * is deleted only after the transaction holding all of its events has committed.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import pRetry, { AbortError } from "p-retry";
import {
  type Config,
  getLogger,
  isTransientDbError,
  PoisonMessageError,
  type Sql,
  withContext,
} from "../shared/mod.ts";
import { type DecodedMessage, decodeMessage } from "./decode_message.ts";
import { flushEvents, type FlushResult, type FlushStage } from "./flush_events.ts";

const log = getLogger(["scalestream", "consumer"]);

/** Settings the consumer reads from the shared configuration. */
export type ConsumerConfig = Pick<
  Config,
  | "pollers"
  | "waitTimeS"
  | "visibilityTimeoutS"
  | "maxInflightEvents"
  | "maxInflightBytes"
  | "flushMaxEvents"
  | "flushMaxMs"
  | "flushConcurrency"
  | "shutdownDeadlineMs"
  | "lateHorizonS"
  | "futureSkewS"
>;

export interface ConsumerDeps {
  sql: Sql;
  sqs: SQSClient;
  queueUrl: string;
  config: ConsumerConfig;
  workerId: string;
  stages?: readonly FlushStage[];
  segmentOf?: (userId: string) => string;
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
  poison: number;
  deleted: number;
  deleteFailures: number;
  flushErrors: number;
  receiveErrors: number;
  heartbeats: number;
  inflightMessages: number;
  inflightEvents: number;
  inflightBytes: number;
  lastPollAtMs: number;
  lastFlushAtMs: number;
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
  /** When the visibility timeout of this message runs out unless extended. */
  visibleAtMs: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

const jitter = (ms: number) => ms / 2 + Math.random() * ms / 2;

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
    deleted: 0,
    deleteFailures: 0,
    flushErrors: 0,
    receiveErrors: 0,
    heartbeats: 0,
    inflightMessages: 0,
    inflightEvents: 0,
    inflightBytes: 0,
    lastPollAtMs: 0,
    lastFlushAtMs: 0,
  };
  const inflight = new Map<string, Inflight>(); // by receipt handle
  let buffer: DecodedMessage[] = [];
  let bufferedEvents = 0;
  let bufferSinceMs = 0;
  let activeFlushes = 0;
  let running = false;
  let stopping: Promise<void> | null = null;
  let pollAbort = new AbortController();
  /** Aborted when the shutdown deadline passes: flush retries give up, messages stay in SQS. */
  const hardAbort = new AbortController();
  const pollers: Promise<void>[] = [];
  const flushes = new Set<Promise<void>>();
  let roomWaiters: (() => void)[] = [];
  let flushTimer: ReturnType<typeof setInterval> | undefined;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;

  const hasRoom = () =>
    stats.inflightEvents < config.maxInflightEvents &&
    stats.inflightBytes < config.maxInflightBytes;

  function wakeRoomWaiters() {
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const w of waiters) w();
  }

  async function waitForRoom(signal: AbortSignal) {
    while (!hasRoom() && !signal.aborted) {
      await new Promise<void>((resolve) => {
        roomWaiters.push(resolve);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  async function pollLoop(id: number) {
    const signal = pollAbort.signal;
    let failures = 0;
    while (running && !signal.aborted) {
      await waitForRoom(signal);
      if (signal.aborted) break;
      let messages: Message[] = [];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: config.waitTimeS,
            VisibilityTimeout: config.visibilityTimeoutS,
            MessageAttributeNames: ["All"],
            MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
        failures = 0;
        stats.lastPollAtMs = Date.now();
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        stats.receiveErrors++;
        log.warn("Receive failed on poller {id} ({failures} in a row): {error}", {
          id,
          failures,
          error: String(err),
        });
        await sleep(jitter(Math.min(20_000, 200 * 2 ** failures)), signal);
        continue;
      }
      if (messages.length > 0) accept(messages);
    }
  }

  function accept(messages: Message[]) {
    const nowMs = Date.now();
    const window = {
      nowMs,
      lateHorizonMs: config.lateHorizonS * 1000,
      futureSkewMs: config.futureSkewS * 1000,
    };
    for (const m of messages) {
      stats.received++;
      let decoded: DecodedMessage;
      try {
        decoded = decodeMessage(m, window);
      } catch (err) {
        if (!(err instanceof PoisonMessageError)) throw err;
        void leaveForDlq(m.ReceiptHandle, Number(m.Attributes?.ApproximateReceiveCount ?? 1), err);
        log.warn("Poison message {messageId}: {reason}", {
          messageId: m.MessageId,
          reason: err.message,
        });
        continue;
      }
      const count = decoded.events.length + decoded.rejects.length;
      inflight.set(decoded.receiptHandle, {
        msg: decoded,
        visibleAtMs: nowMs + config.visibilityTimeoutS * 1000,
      });
      stats.inflightMessages++;
      stats.inflightEvents += count;
      stats.inflightBytes += decoded.bytes;
      if (buffer.length === 0) bufferSinceMs = nowMs;
      buffer.push(decoded);
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
      const old = Date.now() - bufferSinceMs >= config.flushMaxMs;
      if (!force && !full && !old) return;
      const batch = takeBatch();
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
  function takeBatch(): DecodedMessage[] {
    let events = 0;
    let n = 0;
    while (n < buffer.length) {
      const size = buffer[n]!.events.length + buffer[n]!.rejects.length;
      if (n > 0 && events + size > config.flushMaxEvents) break;
      events += size;
      n++;
    }
    const batch = buffer.slice(0, n);
    buffer = buffer.slice(n);
    bufferedEvents -= events;
    bufferSinceMs = Date.now();
    return batch;
  }

  /** Every log record of one flush (retries, failures) carries its `flushId`. */
  function runFlush(batch: DecodedMessage[]): Promise<void> {
    return withContext({ flushId: crypto.randomUUID() }, () => runFlushInContext(batch));
  }

  async function runFlushInContext(batch: DecodedMessage[]) {
    const started = performance.now();
    try {
      const result = await flushWithRetry(batch);
      stats.flushes++;
      stats.stored += result.stored;
      stats.duplicates += result.duplicates;
      stats.rejected += result.rejected;
      stats.outOfRange += result.outOfRange;
      stats.lastFlushAtMs = Date.now();
      deps.onFlush?.(result, { latencyMs: performance.now() - started, messages: batch.length });
      await deleteMessages(batch);
    } catch (err) {
      if (hardAbort.signal.aborted) {
        log.warn("Shutdown deadline passed; {messages} uncommitted messages stay in the queue", {
          messages: batch.length,
        });
      } else if (batch.length > 1) {
        // Not transient: isolate the message that causes it by flushing halves separately.
        const mid = Math.ceil(batch.length / 2);
        await runFlush(batch.slice(0, mid));
        await runFlush(batch.slice(mid));
        return;
      } else {
        const m = batch[0]!;
        log.error("Message {messageId} failed permanently; leaving it for the DLQ: {error}", {
          messageId: m.messageId,
          error: String(err),
        });
        await leaveForDlq(m.receiptHandle, m.receiveCount, err as Error);
      }
    } finally {
      release(batch);
    }
  }

  function flushWithRetry(batch: DecodedMessage[]): Promise<FlushResult> {
    const events = batch.flatMap((m) => m.events);
    const rejects = batch.flatMap((m) => m.rejects);
    return pRetry(
      () => {
        if (hardAbort.signal.aborted) throw new AbortError("Shutdown deadline passed");
        return flushEvents(
          { events, rejects, messages: batch.length, workerId: deps.workerId },
          { sql: deps.sql, stages: deps.stages, segmentOf: deps.segmentOf },
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

  async function deleteMessages(batch: DecodedMessage[]) {
    const chunks: DecodedMessage[][] = [];
    for (let i = 0; i < batch.length; i += 10) chunks.push(batch.slice(i, i + 10));
    await Promise.all(chunks.map(deleteChunk));
  }

  /** Deletes up to ten messages, retrying only the entries SQS lists as failed. */
  async function deleteChunk(chunk: DecodedMessage[]) {
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      try {
        const out = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: pending.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle })),
          }),
        );
        stats.deleted += out.Successful?.length ?? 0;
        const failed = new Set((out.Failed ?? []).map((f) => Number(f.Id)));
        pending = pending.filter((_, i) => failed.has(i));
      } catch (err) {
        log.warn("Delete attempt {attempt} failed: {error}", { attempt, error: String(err) });
      }
      if (pending.length === 0) return;
      if (attempt >= 3) {
        // Committed already: a redelivery is skipped as a duplicate, so nothing is counted twice.
        stats.deleteFailures += pending.length;
        log.warn(
          "{count} committed messages could not be deleted; they will be skipped on redelivery",
          {
            count: pending.length,
          },
        );
        return;
      }
      await sleep(jitter(100 * 2 ** attempt));
    }
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
  }

  function start() {
    if (running) return;
    running = true;
    pollAbort = new AbortController();
    stats.lastPollAtMs = Date.now();
    for (let i = 0; i < config.pollers; i++) pollers.push(pollLoop(i));
    flushTimer = setInterval(() => maybeFlush(false), Math.max(5, Math.min(config.flushMaxMs, 50)));
    const beatMs = Math.max(1000, (config.visibilityTimeoutS * 1000) / 4);
    heartbeatTimer = setInterval(() => void heartbeat(), beatMs);
    log.info("Consumer {workerId} started with {pollers} pollers on {queueUrl}", {
      workerId: deps.workerId,
      pollers: config.pollers,
      queueUrl,
    });
  }

  async function drain() {
    running = false;
    pollAbort.abort();
    wakeRoomWaiters();
    await Promise.all(pollers);
    maybeFlush(true);
    while (flushes.size > 0) {
      await Promise.all([...flushes]);
      maybeFlush(true);
    }
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      const deadline = setTimeout(() => hardAbort.abort(), config.shutdownDeadlineMs);
      try {
        await drain();
      } finally {
        clearTimeout(deadline);
        clearInterval(flushTimer);
        clearInterval(heartbeatTimer);
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
