/**
 * Packs events into SQS messages and messages into `SendMessageBatch` requests, the Kinesis Producer
 * Library's aggregation idea applied to SQS: a message closes when the next event would push it past
 * `maxMessageBytes` (body and attributes, as SQS counts them) or when its oldest event has lingered
 * `lingerMs`; a request carries up to ten messages. Only entries SQS lists as `Failed` are retried,
 * and only when the failure is not the sender's fault; retries back off exponentially with jitter.
 * In-flight requests are bounded, so a slow queue slows the caller (`send()` waits) instead of
 * growing memory.
 *
 * Compressed bodies (the default encoding) are bounded by their compressed size, which is known
 * only after compressing: a message closes when its JSON, times an estimate of the compression
 * ratio, reaches the limit. The estimate works like Kafka's producer's: it jumps up at once when a
 * message compresses worse than estimated and creeps down when it compresses better (by shares of
 * the gap here, not fixed steps, since these ratios are ~0.15 rather than Kafka's ~0.5), so
 * messages come out nearly full; one that still overflows is split, never sent oversized. A message that
 * does not shrink (one incompressible event) goes out as plain JSON: the encoding is per message.
 *
 * It lives in `shared/` because three folders send with it: the producer, the API's HTTP
 * ingestion and the server client (`client/`).
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry } from "@aws-sdk/client-sqs";
import pRetry, { AbortError } from "p-retry";
import { getLogger } from "./log.ts";
import {
  type BodyEncoding,
  COUNT_ATTRIBUTE,
  DEFAULT_BODY_ENCODING,
  encodeBody,
  encodeEvent,
  ENCODING_ATTRIBUTE,
  packedSize,
} from "./message_codec.ts";
import type { SQSClient } from "./sqs.ts";

const log = getLogger(["scalestream", "sender"]);

/** SQS caps a whole `SendMessageBatch` request at 1 MiB. */
export const MAX_BATCH_BYTES = 1_048_576;
const MAX_BATCH_ENTRIES = 10;

/** A compressed message holds at most this many times its size limit of JSON (CPU per seal). */
const MAX_RAW_FACTOR = 16;
/** Share of the limit a compressed message aims at: the estimate is only an estimate. */
const COMPRESSED_FILL = 0.97;
/** First guess of compressed/JSON size (base64 included), before any message was measured. */
const INITIAL_RATIO = 0.25;
/** Margin over a worse ratio just seen; share of the gap closed when one compresses better. */
const RATIO_WORSE_MARGIN = 1.02;
const RATIO_BETTER_SHARE = 0.2;

export interface EventSenderOptions<M> {
  sqs: SQSClient;
  queueUrl: string;
  maxMessageBytes: number;
  lingerMs: number;
  maxInflightBatches: number;
  /** Body encoding; default {@linkcode DEFAULT_BODY_ENCODING} (compressed). */
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
  /** Encoded event bytes (JSON) packed into messages. */
  bytes: number;
  /** Message body bytes as sent (compressed and base64 where compressed). */
  bodyBytes: number;
  /** Messages that overflowed the limit once compressed and were split. */
  splits: number;
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
  encoding: BodyEncoding;
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
  const encoding = opts.encoding ?? DEFAULT_BODY_ENCODING;
  const compressed = encoding !== "json";
  const maxRetries = opts.maxRetries ?? 8;
  // SQS counts attribute names, types and values in a message's size (and in its 64 KiB billing
  // chunks), so the body gets what the attributes leave (with room for either encoding's name).
  const attributeBytes = ENCODING_ATTRIBUTE.length + "String".length +
    Math.max(encoding.length, "json".length) + COUNT_ATTRIBUTE.length + "Number".length + 10;
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
    bodyBytes: 0,
    splits: 0,
  };
  /** Estimated body size / JSON size of the next compressed message. */
  let ratio = INITIAL_RATIO;
  const maxRawBytes = maxBodyBytes * MAX_RAW_FACTOR;
  /** JSON bytes at which the open message closes. */
  const rawLimit = () =>
    compressed ? Math.min(maxRawBytes, (maxBodyBytes * COMPRESSED_FILL) / ratio) : maxBodyBytes;
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

  /**
   * Closes the open message. `all`: the linger expired or a flush asked, so events that did not
   * fit a compressed message go out too; otherwise (the message is full) they stay open.
   */
  function seal(all = true) {
    while (parts.length > 0) {
      let n = parts.length;
      let json = "[" + parts.join(",") + "]";
      let body = compressed ? encodeBody(json, encoding) : json;
      while (body.length > maxBodyBytes && n > 1) {
        // Compressed worse than estimated: keep what fits, the rest goes in the next message.
        n = Math.max(1, Math.floor(n * (maxBodyBytes / body.length) * COMPRESSED_FILL));
        json = "[" + parts.slice(0, n).join(",") + "]";
        body = encodeBody(json, encoding);
        if (n < parts.length) stats.splits++;
      }
      let bodyEncoding = encoding;
      if (compressed) {
        observeRatio(body.length / json.length);
        if (body.length >= json.length) [body, bodyEncoding] = [json, "json"];
      }
      const bytes = body.length + attributeBytes;
      const count = n;
      sealed.push({
        seq: ++stats.messages,
        body,
        encoding: bodyEncoding,
        bytes,
        count,
        metas: n === parts.length ? metas : metas.slice(0, n),
      });
      sealedBytes += bytes;
      stats.bodyBytes += body.length;
      if (n === parts.length) {
        parts = [];
        partsBytes = 0;
        metas = [];
      } else {
        parts = parts.slice(n);
        metas = metas.slice(n);
        partsBytes = parts.reduce((sum, p) => sum + p.length, 0);
        if (!all) return;
      }
    }
  }

  let ratioSeen = false;
  function observeRatio(observed: number) {
    if (!ratioSeen || observed > ratio) ratio = observed * RATIO_WORSE_MARGIN;
    else ratio -= (ratio - observed) * RATIO_BETTER_SHARE;
    ratioSeen = true;
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

  /**
   * A batch goes out before its linger only when it is full: ten messages, or fewer when one more
   * message of the largest size could push the request past SQS's 1 MiB. SQS bills a batch by the
   * 64 KiB chunks of all its entries together, so a fuller batch is never billed more per byte,
   * and every request saved is one billed request saved.
   */
  const fullBatch = () =>
    sealed.length >= MAX_BATCH_ENTRIES || sealedBytes + opts.maxMessageBytes > MAX_BATCH_BYTES;

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
            [ENCODING_ATTRIBUTE]: { DataType: "String", StringValue: msg.encoding },
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
    if (packedSize(partsBytes + encoded.length, parts.length + 1) > rawLimit()) seal(false);
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
