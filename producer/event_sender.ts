/**
 * Packs events into SQS messages and messages into `SendMessageBatch` requests, the Kinesis Producer
 * Library's aggregation idea applied to SQS: a message closes when the next event would push it past
 * `maxMessageBytes` or when it has lingered `lingerMs`; a request carries up to ten messages. Only
 * entries SQS lists as `Failed` are retried. In-flight requests are bounded, so a slow queue slows
 * the caller (`send()` waits) instead of growing memory.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from "@aws-sdk/client-sqs";
import pRetry from "p-retry";
import {
  type BodyEncoding,
  COUNT_ATTRIBUTE,
  encodeEvent,
  ENCODING_ATTRIBUTE,
  getLogger,
  packBody,
  packedSize,
  type SQSClient,
} from "../shared/mod.ts";

const log = getLogger(["scalestream", "producer", "sender"]);

/** SQS caps a whole `SendMessageBatch` request at 1 MiB. */
export const MAX_BATCH_BYTES = 1_048_576;
const MAX_BATCH_ENTRIES = 10;

export interface EventSenderOptions<M> {
  sqs: SQSClient;
  queueUrl: string;
  maxMessageBytes: number;
  lingerMs: number;
  maxInflightBatches: number;
  encoding?: BodyEncoding;
  /** Called once per message SQS acknowledged, with the metadata given to `send()` for its events. */
  onAck?: (metas: M[]) => void;
  /** Called once per message that could not be sent after all retries. */
  onFail?: (metas: M[], error: unknown) => void;
  /** Retries of a failed entry or request before it is reported as failed. */
  maxRetries?: number;
}

export interface SenderStats {
  events: number;
  messages: number;
  batches: number;
  ackedEvents: number;
  failedEvents: number;
  retriedEntries: number;
  inflightBatches: number;
  bytes: number;
}

export interface EventSender<M> {
  /** Queues one event; resolves once it is buffered (waits while too many requests are in flight). */
  send(event: unknown, meta: M): Promise<void>;
  /** Sends everything buffered and waits for every request in flight. */
  flush(): Promise<void>;
  readonly stats: Readonly<SenderStats>;
}

interface Packed<M> {
  body: string;
  count: number;
  metas: M[];
}

/** Creates a sender; `flush()` before exit, or buffered events are never sent. */
export function createEventSender<M = undefined>(opts: EventSenderOptions<M>): EventSender<M> {
  const encoding = opts.encoding ?? "json";
  const maxRetries = opts.maxRetries ?? 8;
  const stats: SenderStats = {
    events: 0,
    messages: 0,
    batches: 0,
    ackedEvents: 0,
    failedEvents: 0,
    retriedEntries: 0,
    inflightBatches: 0,
    bytes: 0,
  };
  let parts: string[] = [];
  let partsBytes = 0;
  let metas: M[] = [];
  let sealed: Packed<M>[] = [];
  let sealedBytes = 0;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  const inflight = new Set<Promise<void>>();
  let slotWaiters: (() => void)[] = [];

  function seal() {
    if (parts.length === 0) return;
    const body = packBody(parts, encoding);
    sealed.push({ body, count: parts.length, metas });
    sealedBytes += body.length;
    stats.messages++;
    parts = [];
    partsBytes = 0;
    metas = [];
  }

  function startLinger() {
    if (lingerTimer !== undefined) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined;
      seal();
      while (sealed.length > 0) dispatch(takeBatch());
    }, opts.lingerMs);
  }

  function takeBatch(): Packed<M>[] {
    let bytes = 0;
    let n = 0;
    while (n < sealed.length && n < MAX_BATCH_ENTRIES) {
      const size = sealed[n]!.body.length;
      if (n > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    const batch = sealed.slice(0, n);
    sealed = sealed.slice(n);
    sealedBytes -= bytes;
    return batch;
  }

  function dispatch(batch: Packed<M>[]) {
    if (batch.length === 0) return;
    stats.batches++;
    stats.inflightBatches++;
    const p = sendBatch(batch).finally(() => {
      stats.inflightBatches--;
      inflight.delete(p);
      const waiters = slotWaiters;
      slotWaiters = [];
      for (const w of waiters) w();
    });
    inflight.add(p);
  }

  async function sendBatch(batch: Packed<M>[]) {
    let pending = batch.map((m, i) => ({ id: String(i), msg: m }));
    try {
      await pRetry(async (attempt) => {
        if (attempt > 1) stats.retriedEntries += pending.length;
        const entries: SendMessageBatchRequestEntry[] = pending.map(({ id, msg }) => ({
          Id: id,
          MessageBody: msg.body,
          MessageAttributes: {
            [ENCODING_ATTRIBUTE]: { DataType: "String", StringValue: encoding },
            [COUNT_ATTRIBUTE]: { DataType: "Number", StringValue: String(msg.count) },
          },
        }));
        const out = await opts.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: opts.queueUrl, Entries: entries }),
        );
        const failedIds = new Set((out.Failed ?? []).map((f) => f.Id));
        for (const { id, msg } of pending) {
          if (failedIds.has(id)) continue;
          stats.ackedEvents += msg.count;
          opts.onAck?.(msg.metas);
        }
        pending = pending.filter(({ id }) => failedIds.has(id));
        if (pending.length > 0) {
          const first = out.Failed?.[0];
          throw new Error(
            `${pending.length} entries failed: ${first?.Code ?? "?"} ${first?.Message ?? ""}`,
          );
        }
      }, {
        retries: maxRetries,
        minTimeout: 50,
        maxTimeout: 5_000,
        randomize: true,
        onFailedAttempt: ({ error, attemptNumber }) => {
          log.warn("Send attempt {attempt} failed: {error}", {
            attempt: attemptNumber,
            error: error.message,
          });
        },
      });
    } catch (err) {
      for (const { msg } of pending) {
        stats.failedEvents += msg.count;
        opts.onFail?.(msg.metas, err);
      }
      log.error("Gave up on {count} messages after {retries} retries: {error}", {
        count: pending.length,
        retries: maxRetries,
        error: String(err),
      });
    }
  }

  async function waitForSlot() {
    while (inflight.size >= opts.maxInflightBatches) {
      await new Promise<void>((resolve) => slotWaiters.push(resolve));
    }
  }

  async function send(event: unknown, meta: M) {
    const encoded = encodeEvent(event);
    if (packedSize(encoded.length, 1) > opts.maxMessageBytes) {
      throw new RangeError(
        `Event of ${encoded.length} bytes exceeds the message limit of ${opts.maxMessageBytes} bytes`,
      );
    }
    if (packedSize(partsBytes + encoded.length, parts.length + 1) > opts.maxMessageBytes) seal();
    parts.push(encoded);
    partsBytes += encoded.length;
    metas.push(meta);
    stats.events++;
    stats.bytes += encoded.length + 1;
    if (parts.length === 1) startLinger();
    if (sealed.length >= MAX_BATCH_ENTRIES || sealedBytes >= MAX_BATCH_BYTES / 2) {
      await waitForSlot();
      dispatch(takeBatch());
    }
  }

  async function flush() {
    clearTimeout(lingerTimer);
    lingerTimer = undefined;
    seal();
    while (sealed.length > 0) {
      await waitForSlot();
      dispatch(takeBatch());
    }
    while (inflight.size > 0) await Promise.all([...inflight]);
  }

  return { send, flush, stats };
}
