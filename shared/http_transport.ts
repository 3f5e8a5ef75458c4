/**
 * The HTTP side of the sender core (`batch_sender.ts`): events go to the ingestion API
 * (`POST /v1/events`) as JSON arrays of at most 500 events and 1 MiB, one array a request.
 * Requests are retried on 429, 5xx and network errors (a `Retry-After` header is honoured); any
 * other refusal fails the whole request at once. The API answers
 * `202 { accepted, rejected, errors: [{ index, reason }] }`: events listed in `errors` were refused
 * one by one (the sender reports them rejected, with the reason), the others were accepted.
 */
import {
  type BatchSenderOptions,
  createBatchSender,
  type EventSender,
  type SenderTransport,
} from "./batch_sender.ts";
import { getLogger } from "./log.ts";
import { packedSize } from "./message_codec.ts";

const log = getLogger(["scalestream", "sender", "http"]);

/** Largest batch the ingestion API takes, in events and in bytes. */
export const HTTP_MAX_BATCH_EVENTS = 500;
export const HTTP_MAX_BATCH_BYTES = 1_048_576;
/** Longest `Retry-After` honoured; a longer one is capped so a run cannot stall for hours. */
const MAX_RETRY_AFTER_MS = 60_000;

export interface HttpTransportOptions {
  /** The ingestion endpoint, e.g. `http://localhost:8080/v1/events`. */
  url: string;
  /** Sent as `x-api-key`. */
  apiKey?: string | undefined;
  maxBatchEvents?: number | undefined;
  maxBatchBytes?: number | undefined;
  fetch?: typeof fetch | undefined;
}

/** The API's answer to a batch. */
export interface IngestResponse {
  accepted: number;
  rejected: number;
  errors: { index: number; reason: string }[];
}

/** One request body and how many events it holds. */
export interface HttpBatch {
  body: string;
  count: number;
}

/** An answer other than 202; `retryAfterMs` from the `Retry-After` header. */
class HttpStatusError extends Error {
  override name = "HttpStatusError";
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

/** A transport that posts batches to the ingestion API. */
export function httpTransport(opts: HttpTransportOptions): SenderTransport<HttpBatch> {
  const maxEvents = Math.min(opts.maxBatchEvents ?? HTTP_MAX_BATCH_EVENTS, HTTP_MAX_BATCH_EVENTS);
  const maxBytes = Math.min(opts.maxBatchBytes ?? HTTP_MAX_BATCH_BYTES, HTTP_MAX_BATCH_BYTES);
  const doFetch = opts.fetch ?? fetch;
  return {
    name: "HTTP",
    maxUnitsPerRequest: 1,
    maxRequestBytes: maxBytes,
    maxUnitBytes: maxBytes,
    minRetryDelayMs: 100,
    maxRetryDelayMs: 10_000,
    checkEvent(encoded) {
      if (packedSize(encoded.length, 1) > maxBytes) {
        throw new RangeError(
          `Event of ${encoded.length} bytes exceeds the batch limit of ${maxBytes}`,
        );
      }
    },
    fits: (bytes, count) => count <= maxEvents && packedSize(bytes, count) <= maxBytes,
    seal(parts) {
      const body = "[" + parts.join(",") + "]";
      const unit = { body, count: parts.length };
      return { unit, count: parts.length, bytes: body.length, bodyBytes: body.length, splits: 0 };
    },
    async send([batch]) {
      if (batch === undefined) return [];
      const res = await doFetch(opts.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(opts.apiKey ? { "x-api-key": opts.apiKey } : {}),
        },
        body: batch.body,
      });
      if (res.status === 429 || res.status >= 500) {
        await res.body?.cancel();
        const after = retryAfterMs(res.headers.get("retry-after"));
        throw new HttpStatusError(`HTTP ${res.status}`, res.status, after);
      }
      if (!res.ok) {
        const text = (await res.text()).slice(0, 500);
        throw new HttpStatusError(
          `The API refused the batch: HTTP ${res.status} ${text}`,
          res.status,
          undefined,
        );
      }
      const answer = await res.json() as IngestResponse;
      const rejected = new Map((answer.errors ?? []).map((e) => [e.index, e.reason]));
      const implied = batch.count - [...rejected.keys()].filter((i) => i < batch.count).length;
      if (typeof answer.accepted === "number" && answer.accepted !== implied) {
        log.warn("The API reported {reported} accepted of {count}, its errors imply {implied}", {
          reported: answer.accepted,
          count: batch.count,
          implied,
        });
      }
      return [{ status: "accepted", rejected }];
    },
    classify(error) {
      // fetch throws (a TypeError) only when no answer came: network trouble, worth another try.
      if (!(error instanceof HttpStatusError)) return { retry: true };
      const retry = error.status === 429 || error.status >= 500;
      return { retry, afterMs: error.retryAfterMs };
    },
  };
}

export interface HttpSenderOptions<M> extends HttpTransportOptions {
  lingerMs: number;
  maxInflightRequests: number;
  onAck?: BatchSenderOptions<M, HttpBatch>["onAck"];
  /** Called per request with the events the API refused, and its reasons, index for index. */
  onReject?: BatchSenderOptions<M, HttpBatch>["onReject"];
  /** Called when a request could not be delivered after all retries (or was refused whole). */
  onFail?: BatchSenderOptions<M, HttpBatch>["onFail"];
  maxRetries?: number | undefined;
  minRetryDelayMs?: number | undefined;
}

/** The sender core over {@linkcode httpTransport}; `flush()` before exit. */
export function createHttpSender<M = undefined>(opts: HttpSenderOptions<M>): EventSender<M> {
  const { url, apiKey, maxBatchEvents, maxBatchBytes, fetch, maxInflightRequests, ...rest } = opts;
  return createBatchSender({
    ...rest,
    maxInflightBatches: maxInflightRequests,
    transport: httpTransport({ url, apiKey, maxBatchEvents, maxBatchBytes, fetch }),
  });
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds (capped). */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - nowMs;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
