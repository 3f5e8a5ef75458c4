/**
 * Sends events to the HTTP ingestion API (`POST /v1/events`) instead of SQS: JSON arrays of at most
 * 500 events and 1 MiB, a bounded number of requests in flight, retries with exponential backoff and
 * jitter on 429, 5xx and network errors (a `Retry-After` header is honoured). The API answers
 * `202 { accepted, rejected, errors: [{ index, reason }] }`: events listed in `errors` were refused
 * one by one, the others were accepted. Same interface as the SQS sender.
 */
import pRetry, { AbortError } from "p-retry";
import { encodeEvent, getLogger, packedSize } from "../shared/mod.ts";
import type { EventSender, SenderStats } from "../shared/mod.ts";

const log = getLogger(["scalestream", "producer", "http"]);

/** Largest batch the ingestion API takes, in events and in bytes. */
export const HTTP_MAX_BATCH_EVENTS = 500;
export const HTTP_MAX_BATCH_BYTES = 1_048_576;
/** Longest `Retry-After` honoured; a longer one is capped so a run cannot stall for hours. */
const MAX_RETRY_AFTER_MS = 60_000;

export interface HttpSenderOptions<M> {
  /** The ingestion endpoint, e.g. `http://localhost:8080/v1/events`. */
  url: string;
  /** Sent as `x-api-key`. */
  apiKey?: string | undefined;
  lingerMs: number;
  maxInflightRequests: number;
  maxBatchEvents?: number;
  maxBatchBytes?: number;
  /** Called per request with the metadata of the events the API accepted. */
  onAck?: (metas: M[]) => void;
  /** Called per request with the events the API refused, and its reasons, index for index. */
  onReject?: (metas: M[], reasons: string[]) => void;
  /** Called when a request could not be delivered after all retries (or was refused whole). */
  onFail?: (metas: M[], error: unknown) => void;
  maxRetries?: number;
  minRetryDelayMs?: number;
  fetch?: typeof fetch;
}

/** The API's answer to a batch. */
export interface IngestResponse {
  accepted: number;
  rejected: number;
  errors: { index: number; reason: string }[];
}

interface Batch<M> {
  body: string;
  metas: M[];
}

class RetryableHttpError extends Error {
  override name = "RetryableHttpError";
  constructor(message: string, readonly retryAfterMs: number | undefined) {
    super(message);
  }
}

/** Creates a sender that posts batches to the ingestion API; `flush()` before exit. */
export function createHttpSender<M = undefined>(opts: HttpSenderOptions<M>): EventSender<M> {
  const maxEvents = Math.min(opts.maxBatchEvents ?? HTTP_MAX_BATCH_EVENTS, HTTP_MAX_BATCH_EVENTS);
  const maxBytes = Math.min(opts.maxBatchBytes ?? HTTP_MAX_BATCH_BYTES, HTTP_MAX_BATCH_BYTES);
  const doFetch = opts.fetch ?? fetch;
  const stats: SenderStats = {
    events: 0,
    messages: 0,
    batches: 0,
    ackedEvents: 0,
    failedEvents: 0,
    retriedEntries: 0,
    inflightBatches: 0,
    bytes: 0,
    bodyBytes: 0, // request bodies are not SQS message bodies; not counted here
    splits: 0,
  };
  let parts: string[] = [];
  let partsBytes = 0;
  let metas: M[] = [];
  const sealed: Batch<M>[] = [];
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  const inflight = new Set<Promise<void>>();
  let slotWaiters: (() => void)[] = [];

  function seal() {
    if (parts.length === 0) return;
    sealed.push({ body: "[" + parts.join(",") + "]", metas });
    stats.messages++;
    parts = [];
    partsBytes = 0;
    metas = [];
  }

  function pump() {
    while (inflight.size < opts.maxInflightRequests && sealed.length > 0) {
      const batch = sealed.shift()!;
      stats.batches++;
      stats.inflightBatches++;
      const p = post(batch).finally(() => {
        stats.inflightBatches--;
        inflight.delete(p);
        const waiters = slotWaiters;
        slotWaiters = [];
        for (const w of waiters) w();
        pump();
      });
      inflight.add(p);
    }
  }

  async function post(batch: Batch<M>) {
    try {
      const result = await pRetry(async (attempt) => {
        if (attempt > 1) stats.retriedEntries += batch.metas.length;
        let res: Response;
        try {
          res = await doFetch(opts.url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              ...(opts.apiKey ? { "x-api-key": opts.apiKey } : {}),
            },
            body: batch.body,
          });
        } catch (err) {
          throw new RetryableHttpError(`Request failed: ${String(err)}`, undefined);
        }
        if (res.status === 429 || res.status >= 500) {
          await res.body?.cancel();
          throw new RetryableHttpError(
            `HTTP ${res.status}`,
            retryAfterMs(res.headers.get("retry-after")),
          );
        }
        if (!res.ok) {
          const text = (await res.text()).slice(0, 500);
          throw new AbortError(`The API refused the batch: HTTP ${res.status} ${text}`);
        }
        return await res.json() as IngestResponse;
      }, {
        retries: opts.maxRetries ?? 8,
        minTimeout: opts.minRetryDelayMs ?? 100,
        maxTimeout: 10_000,
        factor: 2,
        randomize: true,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          log.warn("POST attempt {attempt} failed: {error}", {
            attempt: attemptNumber,
            error: error.message,
          });
          // Retry-After comes on top of the backoff p-retry waits next.
          const wait = error instanceof RetryableHttpError ? error.retryAfterMs : undefined;
          if (wait && retriesLeft > 0) await new Promise((r) => setTimeout(r, wait));
        },
      });
      const refused = new Map<number, string>();
      for (const e of result.errors ?? []) refused.set(e.index, e.reason);
      const accepted = batch.metas.filter((_, i) => !refused.has(i));
      if (typeof result.accepted === "number" && result.accepted !== accepted.length) {
        log.warn("The API reported {reported} accepted of {count}, its errors imply {implied}", {
          reported: result.accepted,
          count: batch.metas.length,
          implied: accepted.length,
        });
      }
      stats.ackedEvents += accepted.length;
      opts.onAck?.(accepted);
      if (refused.size > 0) {
        const idx = [...refused.keys()].filter((i) => i >= 0 && i < batch.metas.length);
        opts.onReject?.(idx.map((i) => batch.metas[i]!), idx.map((i) => refused.get(i)!));
      }
    } catch (err) {
      stats.failedEvents += batch.metas.length;
      log.error("Gave up on a batch of {count} events: {error}", {
        count: batch.metas.length,
        error: String(err),
      });
      opts.onFail?.(batch.metas, err);
    }
  }

  async function waitForSlot() {
    while (inflight.size >= opts.maxInflightRequests) {
      await new Promise<void>((resolve) => slotWaiters.push(resolve));
    }
  }

  async function send(event: unknown, meta: M) {
    const encoded = encodeEvent(event);
    if (packedSize(encoded.length, 1) > maxBytes) {
      throw new RangeError(
        `Event of ${encoded.length} bytes exceeds the batch limit of ${maxBytes}`,
      );
    }
    if (
      parts.length >= maxEvents ||
      packedSize(partsBytes + encoded.length, parts.length + 1) > maxBytes
    ) seal();
    parts.push(encoded);
    partsBytes += encoded.length;
    metas.push(meta);
    stats.events++;
    stats.bytes += encoded.length + 1;
    if (parts.length === 1 && lingerTimer === undefined) {
      lingerTimer = setTimeout(() => {
        lingerTimer = undefined;
        seal();
        pump();
      }, opts.lingerMs);
    }
    if (sealed.length === 0) return;
    pump();
    while (sealed.length > 1) {
      await waitForSlot();
      pump();
    }
  }

  async function flush() {
    clearTimeout(lingerTimer);
    lingerTimer = undefined;
    seal();
    pump();
    while (sealed.length > 0) {
      await waitForSlot();
      pump();
    }
    while (inflight.size > 0) await Promise.all([...inflight]);
  }

  return { send, flush, stats };
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds (capped). */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - nowMs;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
