/**
 * Open-loop rate control: event i is due at the time the target rate says, whatever happened to
 * event i-1, and is stamped with that due time. When the queue pushes back, the achieved rate falls
 * behind the target and is reported as such; latency is measured from the due time, so a stall is
 * never hidden (no coordinated omission).
 */
import type { Event } from "../shared/mod.ts";
import type { EventSender } from "./event_sender.ts";
import { metaOf, type SentMeta } from "./ledger.ts";

export interface RunOptions {
  /** Target events per second at `elapsedMs` since the start. */
  rateAt: (elapsedMs: number) => number;
  durationMs?: number;
  maxEvents?: number;
  signal?: AbortSignal;
  /** Called about once a second with progress. */
  onProgress?: (p: Progress) => void;
  now?: () => number;
}

export interface Progress {
  elapsedMs: number;
  targetRate: number;
  achievedRate: number;
  due: number;
  sent: number;
}

export interface RunDeps {
  next: (timeMs: number) => { event: unknown; meta: SentMeta };
  sender: EventSender<SentMeta>;
}

const TICK_MS = 5;

/** Sends events at the target rate until the duration, the event count or the signal ends it. */
export async function runProducer(opts: RunOptions, deps: RunDeps): Promise<Progress> {
  const now = opts.now ?? Date.now;
  const start = now();
  let due = 0; // fractional events due so far
  let sent = 0;
  let lastMs = start;
  let lastReport = start;
  const maxEvents = opts.maxEvents ?? Infinity;
  const endMs = opts.durationMs === undefined ? Infinity : start + opts.durationMs;
  const progress = (t: number): Progress => {
    const elapsedMs = t - start;
    return {
      elapsedMs,
      targetRate: opts.rateAt(elapsedMs),
      achievedRate: elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0,
      due: Math.floor(due),
      sent,
    };
  };
  while (!opts.signal?.aborted && sent < maxEvents) {
    const t = Math.min(now(), endMs);
    const rate = opts.rateAt(t - start);
    due = Math.min(maxEvents, due + (rate * (t - lastMs)) / 1000);
    // Spread this tick's due times evenly between the previous tick and this one.
    const count = Math.floor(due) - sent;
    for (let i = 0; i < count && !opts.signal?.aborted; i++) {
      const dueMs = lastMs + ((t - lastMs) * (i + 1)) / count;
      const { event, meta } = deps.next(Math.round(dueMs));
      await deps.sender.send(event, meta);
      sent++;
    }
    lastMs = t;
    if (opts.onProgress && t - lastReport >= 1000) {
      lastReport = t;
      opts.onProgress(progress(t));
    }
    if (t >= endMs) break;
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await deps.sender.flush();
  return progress(now());
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
