/**
 * Open-loop rate control: event i is due at the time the target rate says, whatever happened to
 * event i-1, and is stamped with that due time. When the queue pushes back (`send()` waits), the
 * events fall due meanwhile are sent as soon as it lets go, still stamped with their due times; the
 * achieved rate falls behind the target and the lag is reported, so a stall is never hidden (no
 * coordinated omission).
 */
import { delay, type Event, type EventSender } from "../shared/mod.ts";
import { metaOf, type SentMeta } from "./ledger.ts";

export interface RunOptions {
  /** Target events per second at `elapsedMs` since the start. */
  rateAt: (elapsedMs: number) => number;
  durationMs?: number | undefined;
  maxEvents?: number | undefined;
  signal?: AbortSignal;
  /** Called about once a second with progress. */
  onProgress?: (p: RunProgress) => void;
  /** How often progress is reported, in milliseconds (default 1000). */
  progressEveryMs?: number;
  now?: () => number;
}

export interface Progress {
  elapsedMs: number;
  /** The target rate now. */
  targetRate: number;
  /** Events due so far by the profile (the integral of the target rate). */
  due: number;
  sent: number;
  /** Events sent per second since the start. */
  achievedRate: number;
}

/** Progress as `runProducer` reports it, with the figures of the last reporting interval. */
export interface RunProgress extends Progress {
  /** Events sent per second since the previous report. */
  windowRate: number;
  /** The largest delay between an event's due time and its hand-over to the sender, since the last report. */
  maxLagMs: number;
}

export interface RunDeps {
  next: (timeMs: number) => { event: unknown; meta: SentMeta };
  sender: EventSender<SentMeta>;
}

const TICK_MS = 5;

/**
 * Sends events at the target rate until the duration, the event count or the signal ends it, then
 * flushes the sender. Returns the progress at the end of the production window.
 */
export async function runProducer(opts: RunOptions, deps: RunDeps): Promise<RunProgress> {
  const now = opts.now ?? Date.now;
  const every = opts.progressEveryMs ?? 1000;
  const start = now();
  let due = 0; // fractional events due so far
  let sent = 0;
  let lastMs = start;
  let lastReport = start;
  let sentAtReport = 0;
  let maxLagMs = 0;
  const maxEvents = opts.maxEvents ?? Infinity;
  const endMs = opts.durationMs === undefined ? Infinity : start + opts.durationMs;
  const progress = (t: number): RunProgress => {
    const elapsedMs = t - start;
    const p: RunProgress = {
      elapsedMs,
      targetRate: opts.rateAt(Math.min(elapsedMs, endMs - start)),
      due: Math.floor(due),
      sent,
      achievedRate: elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0,
      windowRate: t > lastReport ? ((sent - sentAtReport) * 1000) / (t - lastReport) : 0,
      maxLagMs,
    };
    lastReport = t;
    sentAtReport = sent;
    maxLagMs = 0;
    return p;
  };
  while (!opts.signal?.aborted && sent < maxEvents) {
    const t = Math.min(now(), endMs);
    // Midpoint rule: exact for steady and linear ramps, close for the rest.
    const rate = opts.rateAt((lastMs + t) / 2 - start);
    due = Math.min(maxEvents, due + (rate * (t - lastMs)) / 1000);
    // Spread this tick's due times evenly between the previous tick and this one.
    const count = Math.floor(due) - sent;
    const from = lastMs;
    for (let i = 0; i < count && !opts.signal?.aborted; i++) {
      const dueMs = Math.round(from + ((t - from) * (i + 1)) / count);
      const { event, meta } = deps.next(dueMs);
      await deps.sender.send(event, meta);
      sent++;
      if ((i & 255) === 255) maxLagMs = Math.max(maxLagMs, now() - dueMs);
    }
    if (count > 0) maxLagMs = Math.max(maxLagMs, now() - t);
    lastMs = t;
    if (opts.onProgress && t - lastReport >= every) opts.onProgress(progress(t));
    if (t >= endMs) break;
    await delay(TICK_MS);
  }
  // The production window ends here; the flush that follows is the sender's business.
  const final = progress(lastMs);
  await deps.sender.flush();
  return final;
}

/** The plain source: every generated event is a new valid one. */
export function uniqueEvents(
  generate: (timeMs: number) => Event,
): (timeMs: number) => { event: Event; meta: SentMeta } {
  return (timeMs) => {
    const event = generate(timeMs);
    return { event, meta: metaOf("unique", event) };
  };
}
