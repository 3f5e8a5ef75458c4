/**
 * Packs events into SQS messages and messages into `SendMessageBatch` requests, the Kinesis Producer
 * Library's aggregation idea applied to SQS: a message closes when the next event would push it past
 * `maxMessageBytes` (body and attributes, as SQS counts them) or when its oldest event has lingered
 * `lingerMs`; a request carries up to ten messages. Only entries SQS lists as `Failed` are retried,
 * and only when the failure is not the sender's fault; retries back off exponentially with jitter.
 * In-flight requests are bounded, so a slow queue slows the caller (`send()` waits) instead of
 * growing memory.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from "@aws-sdk/client-sqs";
import pRetry, { AbortError } from "p-retry";
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
  /** First retry delay; later ones double, with jitter, up to 5 s. */
  minRetryDelayMs?: number;
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
  seq: number;
  body: string;
  bytes: number;
  count: number;
  metas: M[];
}

/** Error codes of failed entries worth retrying although SQS marks them as the sender's fault. */
const RETRYABLE_CODES = new Set([
  "ThrottlingException",
  "RequestThrottled",
  "KmsThrottled",
  "ServiceUnavailable",
  "InternalError",
]);

/** Creates a sender; `flush()` before exit, or buffered events are never sent. */
export function createEventSender<M = undefined>(opts: EventSenderOptions<M>): EventSender<M> {
  const encoding = opts.encoding ?? "json";
  const maxRetries = opts.maxRetries ?? 8;
  // SQS counts attribute names, types and values in a message's size (and in its 64 KiB billing
  // chunks), so the body gets what the attributes leave.
  const attributeBytes = ENCODING_ATTRIBUTE.length + "String".length + encoding.length +
    COUNT_ATTRIBUTE.length + "Number".length + 10;
  const maxBodyBytes = opts.maxMessageBytes - attributeBytes;
  if (maxBodyBytes < 64) {
    throw new RangeError(`maxMessageBytes "${opts.maxMessageBytes}" leaves no room for a body`);
  }
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
  /** Messages up to this sequence number are due now: their linger expired, or a flush asked. */
  let urgentSeq = 0;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  const inflight = new Set<Promise<void>>();
  let slotWaiters: (() => void)[] = [];

  function seal() {
    if (parts.length === 0) return;
    const body = packBody(parts, encoding);
    const bytes = body.length + attributeBytes;
    sealed.push({ seq: ++stats.messages, body, bytes, count: parts.length, metas });
    sealedBytes += bytes;
    parts = [];
    partsBytes = 0;
    metas = [];
  }

  function startLinger() {
    if (lingerTimer !== undefined) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined;
      seal();
      urgentSeq = stats.messages;
      pump();
    }, opts.lingerMs);
  }

  const fullBatch = () => sealed.length >= MAX_BATCH_ENTRIES || sealedBytes >= MAX_BATCH_BYTES / 2;

  /** Dispatches what is ready while there is a free slot. */
  function pump() {
    while (
      inflight.size < opts.maxInflightBatches && sealed.length > 0 &&
      (fullBatch() || sealed[0]!.seq <= urgentSeq)
    ) {
      dispatch(takeBatch());
    }
  }

  function takeBatch(): Packed<M>[] {
    let bytes = 0;
    let n = 0;
    while (n < sealed.length && n < MAX_BATCH_ENTRIES) {
      const size = sealed[n]!.bytes;
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
    stats.batches++;
    stats.inflightBatches++;
    const p = sendBatch(batch).finally(() => {
      stats.inflightBatches--;
      inflight.delete(p);
      const waiters = slotWaiters;
      slotWaiters = [];
      for (const w of waiters) w();
      pump();
    });
    inflight.add(p);
  }

  function settle(acked: Packed<M>[], failed: Packed<M>[], error: unknown) {
    // Callbacks run after the bookkeeping, and their errors are logged, never retried: a retry
    // would re-send messages SQS already has.
    for (const msg of acked) {
      stats.ackedEvents += msg.count;
      try {
        opts.onAck?.(msg.metas);
      } catch (err) {
        log.error("onAck callback failed: {error}", { error: String(err) });
      }
    }
    for (const msg of failed) {
      stats.failedEvents += msg.count;
      try {
        opts.onFail?.(msg.metas, error);
      } catch (err) {
        log.error("onFail callback failed: {error}", { error: String(err) });
      }
    }
  }

  async function sendBatch(batch: Packed<M>[]) {
    let pending = batch.map((msg, i) => ({ id: String(i), msg }));
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
        let out;
        try {
          out = await opts.sqs.send(
            new SendMessageBatchCommand({ QueueUrl: opts.queueUrl, Entries: entries }),
          );
        } catch (err) {
          if (isRetryableRequestError(err)) throw err;
          throw new AbortError(err as Error);
        }
        const failures = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
        const acked = pending.filter(({ id }) => !failures.has(id)).map((p) => p.msg);
        const permanent = pending.filter(({ id }) => {
          const f = failures.get(id);
          return f !== undefined && f.SenderFault === true && !RETRYABLE_CODES.has(f.Code ?? "");
        });
        pending = pending.filter(({ id }) =>
          failures.has(id) && !permanent.some((p) => p.id === id)
        );
        const first = permanent[0] && failures.get(permanent[0].id);
        settle(
          acked,
          permanent.map((p) => p.msg),
          new Error(`SQS refused the entry: ${first?.Code ?? "?"} ${first?.Message ?? ""}`),
        );
        if (pending.length > 0) {
          const f = failures.get(pending[0]!.id);
          throw new Error(
            `${pending.length} entries failed: ${f?.Code ?? "?"} ${f?.Message ?? ""}`,
          );
        }
      }, {
        retries: maxRetries,
        minTimeout: opts.minRetryDelayMs ?? 50,
        maxTimeout: 5_000,
        factor: 2,
        randomize: true,
        onFailedAttempt: ({ error, attemptNumber }) => {
          log.warn("Send attempt {attempt} failed: {error}", {
            attempt: attemptNumber,
            error: error.message,
          });
        },
      });
    } catch (err) {
      settle([], pending.map((p) => p.msg), err);
      log.error("Gave up on {count} messages: {error}", {
        count: pending.length,
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
    if (packedSize(encoded.length, 1) > maxBodyBytes) {
      throw new RangeError(
        `Event of ${encoded.length} bytes exceeds the message limit of ${opts.maxMessageBytes} bytes`,
      );
    }
    if (packedSize(partsBytes + encoded.length, parts.length + 1) > maxBodyBytes) seal();
    parts.push(encoded);
    partsBytes += encoded.length;
    metas.push(meta);
    stats.events++;
    stats.bytes += encoded.length + 1;
    if (parts.length === 1) startLinger();
    if (sealed.length === 0) return;
    pump();
    // Backpressure: hold the caller while a full batch waits for a free slot.
    while (fullBatch()) {
      await waitForSlot();
      pump();
    }
  }

  async function flush() {
    clearTimeout(lingerTimer);
    lingerTimer = undefined;
    seal();
    urgentSeq = stats.messages;
    pump();
    while (sealed.length > 0) {
      await waitForSlot();
      pump();
    }
    while (inflight.size > 0) await Promise.all([...inflight]);
  }

  return { send, flush, stats };
}

/** Throttling, server errors and network failures are worth another try; bad requests are not. */
function isRetryableRequestError(err: unknown): boolean {
  const e = err as {
    name?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
    $fault?: string;
  };
  if (e?.$retryable) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return true; // no response at all: network trouble
  return status === 429 || status >= 500 || e.$fault === "server" ||
    /Throttl/i.test(e.name ?? "");
}
