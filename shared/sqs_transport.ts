/**
 * The SQS side of the sender core (`batch_sender.ts`): events are packed into messages and
 * messages into `SendMessageBatch` requests, the Kinesis Producer Library's aggregation idea
 * applied to SQS. A message closes when the next event would push it past `maxMessageBytes` (body
 * and attributes, as SQS counts them); a request carries up to ten messages and at most 1 MiB.
 * Only entries SQS lists as `Failed` are retried, and only when the failure is not the sender's
 * fault.
 *
 * Compressed bodies (the default encoding) are bounded by their compressed size, which is known
 * only after compressing: a message closes when its JSON, times an estimate of the compression
 * ratio, reaches the limit. The estimate works like Kafka's producer's: it jumps up at once when a
 * message compresses worse than estimated and creeps down when it compresses better (by shares of
 * the gap here, not fixed steps, since these ratios are ~0.15 rather than Kafka's ~0.5), so
 * messages come out nearly full; one that still overflows is split, never sent oversized. A message
 * that does not shrink (one incompressible event) goes out as plain JSON: the encoding is per
 * message.
 *
 * It lives in `shared/` because three folders send with it: the producer, the API's HTTP
 * ingestion and the server client (`client/`).
 */
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import {
  type BatchSenderOptions,
  createBatchSender,
  type EventSender,
  type SenderTransport,
  type UnitResult,
} from "./batch_sender.ts";
import {
  type BodyEncoding,
  COUNT_ATTRIBUTE,
  DEFAULT_BODY_ENCODING,
  encodeBody,
  ENCODING_ATTRIBUTE,
  packedSize,
} from "./message_codec.ts";
import type { SQSClient } from "./sqs.ts";

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

/** Error codes of failed entries worth retrying although SQS marks them as the sender's fault. */
const RETRYABLE_CODES = new Set([
  "ThrottlingException",
  "RequestThrottled",
  "KmsThrottled",
  "ServiceUnavailable",
  "InternalError",
]);

export interface SqsTransportOptions {
  sqs: SQSClient;
  queueUrl: string;
  maxMessageBytes: number;
  /** Body encoding; default {@linkcode DEFAULT_BODY_ENCODING} (compressed). */
  encoding?: BodyEncoding | undefined;
}

/** One SQS message: its body, the encoding it ended up with and how many events it holds. */
export interface SqsMessage {
  body: string;
  encoding: BodyEncoding;
  count: number;
}

/** A transport to one SQS queue; it learns the compression ratio as it packs, so one per sender. */
export function sqsTransport(opts: SqsTransportOptions): SenderTransport<SqsMessage> {
  const encoding = opts.encoding ?? DEFAULT_BODY_ENCODING;
  const compressed = encoding !== "json";
  // SQS counts attribute names, types and values in a message's size (and in its 64 KiB billing
  // chunks), so the body gets what the attributes leave (with room for either encoding's name).
  const attributeBytes = ENCODING_ATTRIBUTE.length + "String".length +
    Math.max(encoding.length, "json".length) + COUNT_ATTRIBUTE.length + "Number".length + 10;
  const maxBodyBytes = opts.maxMessageBytes - attributeBytes;
  if (maxBodyBytes < 64) {
    throw new RangeError(`maxMessageBytes "${opts.maxMessageBytes}" leaves no room for a body`);
  }
  /** Estimated body size / JSON size of the next compressed message. */
  let ratio = INITIAL_RATIO;
  let ratioSeen = false;
  const maxRawBytes = maxBodyBytes * MAX_RAW_FACTOR;
  /** JSON bytes at which the open message closes. */
  const rawLimit = () =>
    compressed ? Math.min(maxRawBytes, (maxBodyBytes * COMPRESSED_FILL) / ratio) : maxBodyBytes;

  function observeRatio(observed: number) {
    if (!ratioSeen || observed > ratio) ratio = observed * RATIO_WORSE_MARGIN;
    else ratio -= (ratio - observed) * RATIO_BETTER_SHARE;
    ratioSeen = true;
  }

  return {
    name: "SQS",
    maxUnitsPerRequest: MAX_BATCH_ENTRIES,
    // A batch goes out before its linger only when it is full: ten messages, or fewer when one
    // more message of the largest size could push the request past SQS's 1 MiB. SQS bills a batch
    // by the 64 KiB chunks of all its entries together, so a fuller batch is never billed more per
    // byte.
    maxRequestBytes: MAX_BATCH_BYTES,
    maxUnitBytes: opts.maxMessageBytes,
    minRetryDelayMs: 50,
    maxRetryDelayMs: 5_000,
    checkEvent(encoded) {
      if (packedSize(encoded.length, 1) > maxBodyBytes) {
        throw new RangeError(
          `Event of ${encoded.length} bytes exceeds the message limit of ${opts.maxMessageBytes} bytes`,
        );
      }
    },
    fits: (bytes, count) => packedSize(bytes, count) <= rawLimit(),
    seal(parts) {
      let n = parts.length;
      let splits = 0;
      let json = "[" + parts.join(",") + "]";
      let body = compressed ? encodeBody(json, encoding) : json;
      while (body.length > maxBodyBytes && n > 1) {
        // Compressed worse than estimated: keep what fits, the rest goes in the next message.
        n = Math.max(1, Math.floor(n * (maxBodyBytes / body.length) * COMPRESSED_FILL));
        json = "[" + parts.slice(0, n).join(",") + "]";
        body = encodeBody(json, encoding);
        if (n < parts.length) splits++;
      }
      let bodyEncoding = encoding;
      if (compressed) {
        observeRatio(body.length / json.length);
        if (body.length >= json.length) [body, bodyEncoding] = [json, "json"];
      }
      return {
        unit: { body, encoding: bodyEncoding, count: n },
        count: n,
        bytes: body.length + attributeBytes,
        bodyBytes: body.length,
        splits,
      };
    },
    async send(messages) {
      const out = await opts.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: opts.queueUrl,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            MessageBody: m.body,
            MessageAttributes: {
              [ENCODING_ATTRIBUTE]: { DataType: "String", StringValue: m.encoding },
              [COUNT_ATTRIBUTE]: { DataType: "Number", StringValue: String(m.count) },
            },
          })),
        }),
      );
      const failures = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      return messages.map((_, i): UnitResult => {
        const f = failures.get(String(i));
        if (f === undefined) return { status: "accepted" };
        const reason = `${f.Code ?? "?"} ${f.Message ?? ""}`;
        return f.SenderFault === true && !RETRYABLE_CODES.has(f.Code ?? "")
          ? { status: "failed", reason: `SQS refused the entry: ${reason}` }
          : { status: "retry", reason };
      });
    },
    classify: (error) => ({ retry: isRetryableRequestError(error) }),
  };
}

export interface EventSenderOptions<M> extends SqsTransportOptions {
  lingerMs: number;
  maxInflightBatches: number;
  /** Called once per message SQS acknowledged, with the metadata given to `send()` for its events. */
  onAck?: BatchSenderOptions<M, SqsMessage>["onAck"];
  /** Called once per message that could not be sent after all retries. */
  onFail?: BatchSenderOptions<M, SqsMessage>["onFail"];
  /** Retries of a failed entry or request before it is reported as failed. */
  maxRetries?: number | undefined;
  /** First retry delay; later ones double, with jitter, up to 5 s. */
  minRetryDelayMs?: number | undefined;
}

/** The sender core over {@linkcode sqsTransport}; `flush()` before exit. */
export function createEventSender<M = undefined>(opts: EventSenderOptions<M>): EventSender<M> {
  const { sqs, queueUrl, maxMessageBytes, encoding, ...rest } = opts;
  return createBatchSender({
    ...rest,
    transport: sqsTransport({ sqs, queueUrl, maxMessageBytes, encoding }),
  });
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
