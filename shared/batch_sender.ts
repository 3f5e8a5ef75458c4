/**
 * The one sender core: it packs events into units and units into requests, bounds the requests in
 * flight, retries with backoff and reports every event's result once. Where events go is a
 * {@linkcode SenderTransport}: SQS `SendMessageBatch` (`sqs_transport.ts`: units are messages,
 * ten to a request) or the HTTP ingestion API (`http_transport.ts`: a unit is one `POST` body).
 *
 * A unit closes when the next event would push it past the transport's limit or when its oldest
 * event has lingered `lingerMs`. A request leaves before its linger only when it is full (every
 * request saved is one billed request saved). Only units the transport answers as worth another
 * try are sent again; retries back off exponentially with jitter (p-retry), and a server's
 * `Retry-After` comes on top. In-flight requests are bounded, so a slow destination slows the
 * caller (`send()` waits) instead of growing memory.
 *
 * Each event ends in one of three results, reported to the callbacks with the metadata given to
 * `send()`: accepted (`onAck`), rejected one by one with a reason (`onReject`: the HTTP API's
 * `errors`), or failed after all retries or refused whole (`onFail`).
 */
import pRetry, { AbortError } from "p-retry";
import { delay } from "./delay.ts";
import { getLogger } from "./log.ts";
import { encodeEvent } from "./message_codec.ts";

const log = getLogger(["scalestream", "sender"]);

/** A unit the transport closed from the first `count` encoded events it was offered. */
export interface SealedUnit<U> {
  unit: U;
  count: number;
  /** Its size as the request limit counts it. */
  bytes: number;
  /** Body bytes as sent (compressed where compressed). */
  bodyBytes: number;
  /** Times the transport had to shrink the unit because it came out over its limit. */
  splits: number;
}

/** What the destination said about one unit of a request. */
export type UnitResult =
  /** Taken; `rejected` lists refused events by their index in the unit, with the reason. */
  | { status: "accepted"; rejected?: ReadonlyMap<number, string> }
  /** Not taken this time; worth another try. */
  | { status: "retry"; reason: string }
  /** Not taken, and another try would not change that. */
  | { status: "failed"; reason: string };

/** Where a sender's events go; one instance per sender (a transport may learn as it packs). */
export interface SenderTransport<U> {
  /** Names the destination in log records. */
  readonly name: string;
  readonly maxUnitsPerRequest: number;
  readonly maxRequestBytes: number;
  /** Largest unit, in `SealedUnit.bytes`: a request that cannot take one more is full. */
  readonly maxUnitBytes: number;
  /** Backoff bounds used unless the sender's options say otherwise. */
  readonly minRetryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /** Throws `RangeError` for an encoded event that can never fit in a unit. */
  checkEvent(encoded: string): void;
  /** Whether an open unit of `count` encoded events, `bytes` long in all, is within the limit. */
  fits(bytes: number, count: number): boolean;
  /** Closes a unit from the first events of `parts` (at least one; fewer than all if they overflow). */
  seal(parts: readonly string[]): SealedUnit<U>;
  /** Sends the units in one request; answers unit for unit. Throws when the request failed. */
  send(units: readonly U[]): Promise<UnitResult[]>;
  /** Whether a request that threw `error` is worth another try, and a wait the server asked for. */
  classify(error: unknown): { retry: boolean; afterMs?: number | undefined };
}

export interface BatchSenderOptions<M, U> {
  transport: SenderTransport<U>;
  lingerMs: number;
  maxInflightBatches: number;
  /** Called once per unit with the metadata of the events it accepted. */
  onAck?: ((metas: M[]) => void) | undefined;
  /** Called once per unit with the events refused one by one, and the reasons, index for index. */
  onReject?: ((metas: M[], reasons: string[]) => void) | undefined;
  /** Called once per unit that could not be sent after all retries (or was refused whole). */
  onFail?: ((metas: M[], error: unknown) => void) | undefined;
  /** Retries of a failed unit or request before it is reported as failed; default 8. */
  maxRetries?: number | undefined;
  /** First retry delay; later ones double, with jitter, up to the transport's maximum. */
  minRetryDelayMs?: number | undefined;
}

export interface SenderStats {
  events: number;
  /** Units packed: SQS messages, or HTTP request bodies. */
  messages: number;
  /** Requests started. */
  batches: number;
  ackedEvents: number;
  /** Events the destination refused one by one (the HTTP API's `errors`). */
  rejectedEvents: number;
  failedEvents: number;
  /** Units sent again after a failed unit or request. */
  retriedEntries: number;
  inflightBatches: number;
  /** Encoded event bytes (JSON) packed into units. */
  bytes: number;
  /** Unit body bytes as sent (compressed and base64 where compressed). */
  bodyBytes: number;
  /** Units that overflowed their limit once compressed and were split. */
  splits: number;
}

export interface EventSender<M> {
  /** Queues one event; resolves once it is buffered (waits while too many requests are in flight). */
  send(event: unknown, meta: M): Promise<void>;
  /** Sends everything buffered and waits for every request in flight. */
  flush(): Promise<void>;
  readonly stats: Readonly<SenderStats>;
}

interface Packed<M, U> {
  seq: number;
  unit: U;
  bytes: number;
  count: number;
  metas: M[];
}

/** Creates a sender over `transport`; `flush()` before exit, or buffered events are never sent. */
export function createBatchSender<M, U>(opts: BatchSenderOptions<M, U>): EventSender<M> {
  const t = opts.transport;
  const stats: SenderStats = {
    events: 0,
    messages: 0,
    batches: 0,
    ackedEvents: 0,
    rejectedEvents: 0,
    failedEvents: 0,
    retriedEntries: 0,
    inflightBatches: 0,
    bytes: 0,
    bodyBytes: 0,
    splits: 0,
  };
  let parts: string[] = [];
  let partsBytes = 0;
  let metas: M[] = [];
  const sealed: Packed<M, U>[] = [];
  let sealedBytes = 0;
  /** Units up to this sequence number are due now: their linger expired, or a flush asked. */
  let urgentSeq = 0;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  const inflight = new Set<Promise<void>>();
  let slotWaiters: (() => void)[] = [];

  /**
   * Closes the open unit. `all`: the linger expired or a flush asked, so events that did not fit
   * (a compressed message that came out too large) go out too; otherwise they stay open.
   */
  function seal(all = true) {
    while (parts.length > 0) {
      const s = t.seal(parts);
      const n = s.count;
      sealed.push({
        seq: ++stats.messages,
        unit: s.unit,
        bytes: s.bytes,
        count: n,
        metas: n === parts.length ? metas : metas.slice(0, n),
      });
      sealedBytes += s.bytes;
      stats.bodyBytes += s.bodyBytes;
      stats.splits += s.splits;
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

  function startLinger() {
    if (lingerTimer !== undefined) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined;
      seal();
      urgentSeq = stats.messages;
      pump();
    }, opts.lingerMs);
  }

  /** Full: no room for one more unit, by count or by the largest unit's size. */
  const fullBatch = () =>
    sealed.length >= t.maxUnitsPerRequest || sealedBytes + t.maxUnitBytes > t.maxRequestBytes;

  /** Dispatches what is ready while there is a free slot. */
  function pump() {
    while (
      inflight.size < opts.maxInflightBatches && sealed.length > 0 &&
      (fullBatch() || sealed[0]!.seq <= urgentSeq)
    ) {
      dispatch(takeBatch());
    }
  }

  /** The oldest units that fit one request (always at least one). */
  function takeBatch(): Packed<M, U>[] {
    const most = Math.min(sealed.length, t.maxUnitsPerRequest);
    let bytes = sealed[0]!.bytes;
    let n = 1;
    for (; n < most && bytes + sealed[n]!.bytes <= t.maxRequestBytes; n++) {
      bytes += sealed[n]!.bytes;
    }
    sealedBytes -= bytes;
    return sealed.splice(0, n);
  }

  function dispatch(batch: Packed<M, U>[]) {
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

  /** Runs a callback after the bookkeeping; its error is logged, never retried (that would re-send). */
  function notify(name: string, callback: () => void) {
    try {
      callback();
    } catch (err) {
      log.error("{callback} callback failed: {error}", { callback: name, error: String(err) });
    }
  }

  function accepted(unit: Packed<M, U>, rejected: ReadonlyMap<number, string> | undefined) {
    const refused = [...(rejected?.keys() ?? [])].filter((i) => i >= 0 && i < unit.count);
    const taken = refused.length === 0
      ? unit.metas
      : unit.metas.filter((_, i) => !rejected!.has(i));
    stats.ackedEvents += taken.length;
    stats.rejectedEvents += refused.length;
    if (taken.length > 0) notify("onAck", () => opts.onAck?.(taken));
    if (refused.length > 0) {
      notify(
        "onReject",
        () =>
          opts.onReject?.(
            refused.map((i) => unit.metas[i]!),
            refused.map((i) => rejected!.get(i)!),
          ),
      );
    }
  }

  function failed(unit: Packed<M, U>, error: unknown) {
    stats.failedEvents += unit.count;
    notify("onFail", () => opts.onFail?.(unit.metas, error));
  }

  async function sendBatch(batch: Packed<M, U>[]) {
    let pending = batch;
    try {
      await pRetry(async (attempt) => {
        if (attempt > 1) stats.retriedEntries += pending.length;
        let results: UnitResult[];
        try {
          results = await t.send(pending.map((p) => p.unit));
        } catch (err) {
          if (t.classify(err).retry) throw err;
          throw new AbortError(err as Error);
        }
        const again: Packed<M, U>[] = [];
        let reason = "";
        pending.forEach((unit, i) => {
          const r = results[i] ?? { status: "retry", reason: "no answer for the unit" };
          if (r.status === "accepted") accepted(unit, r.rejected);
          else if (r.status === "failed") failed(unit, new Error(r.reason));
          else {
            again.push(unit);
            reason ||= r.reason;
          }
        });
        pending = again;
        if (pending.length > 0) throw new Error(`${pending.length} entries failed: ${reason}`);
      }, {
        retries: opts.maxRetries ?? 8,
        minTimeout: opts.minRetryDelayMs ?? t.minRetryDelayMs,
        maxTimeout: t.maxRetryDelayMs,
        factor: 2,
        randomize: true,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          log.warn("{transport} send attempt {attempt} failed: {error}", {
            transport: t.name,
            attempt: attemptNumber,
            error: error.message,
          });
          // A wait the server asked for comes on top of the backoff p-retry waits next.
          const after = t.classify(error).afterMs;
          if (after && retriesLeft > 0) await delay(after);
        },
      });
    } catch (err) {
      for (const unit of pending) failed(unit, err);
      log.error("Gave up on {count} events to {transport}: {error}", {
        count: pending.reduce((sum, u) => sum + u.count, 0),
        transport: t.name,
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
    t.checkEvent(encoded);
    if (parts.length > 0 && !t.fits(partsBytes + encoded.length, parts.length + 1)) seal(false);
    parts.push(encoded);
    partsBytes += encoded.length;
    metas.push(meta);
    stats.events++;
    stats.bytes += encoded.length + 1;
    if (parts.length === 1) startLinger();
    if (sealed.length === 0) return;
    pump();
    // Backpressure: hold the caller while a full request waits for a free slot.
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
