/**
 * One poller for all live clients: it reads a snapshot once per interval and fans the same
 * pre-formatted server-sent-event frame out to every subscriber, so 1,000 dashboards cost one
 * query a second, not 1,000. It runs only while someone listens.
 */
import { getLogger } from "../shared/mod.ts";

const log = getLogger(["scalestream", "api", "live"]);

/** What a subscriber receives: a complete SSE frame, or `null` when the poller closes. */
export type LiveListener = (frame: string | null) => void;

export interface LivePoller {
  /** Adds a listener; it gets the latest frame at once if there is one. Returns the unsubscribe. */
  subscribe(listener: LiveListener): () => void;
  readonly subscribers: number;
  /** Stops polling and tells every listener the stream ends (`null`). */
  close(): void;
}

export interface LivePollerOptions {
  /** Reads one snapshot; it must be JSON-serialisable. */
  read: () => Promise<unknown>;
  intervalMs?: number;
  /** How often a comment line goes out even when reads fail (proxies drop idle streams). */
  heartbeatMs?: number;
  /** SSE event name of the snapshots. */
  event?: string;
}

/** Creates the shared poller; see the module comment. */
export function createLivePoller(options: LivePollerOptions): LivePoller {
  const intervalMs = options.intervalMs ?? 1000;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const event = options.event ?? "metrics";
  const listeners = new Set<LiveListener>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let reading = false;
  let closed = false;
  let seq = 0;
  let latest: string | undefined;
  let lastHeartbeatMs = Date.now();
  let failures = 0;

  function broadcast(frame: string) {
    for (const l of listeners) l(frame);
  }

  async function tick() {
    if (Date.now() - lastHeartbeatMs >= heartbeatMs) {
      lastHeartbeatMs = Date.now();
      broadcast(": heartbeat\n\n");
    }
    if (reading) return; // a slow read is not stacked on itself
    reading = true;
    try {
      const snapshot = await options.read();
      if (closed) return;
      failures = 0;
      latest = `event: ${event}\nid: ${++seq}\ndata: ${JSON.stringify(snapshot)}\n\n`;
      broadcast(latest);
    } catch (err) {
      if (failures++ % 30 === 0) {
        log.warn("Live snapshot failed ({failures} in a row): {error}", {
          failures,
          error: String(err),
        });
      }
    } finally {
      reading = false;
    }
  }

  function start() {
    if (timer !== undefined || closed) return;
    timer = setInterval(() => void tick(), intervalMs);
    void tick();
  }

  function stop() {
    clearInterval(timer);
    timer = undefined;
    latest = undefined; // a later first subscriber must not get a stale snapshot
  }

  return {
    subscribe(listener) {
      if (closed) {
        listener(null);
        return () => {};
      }
      listeners.add(listener);
      if (latest !== undefined) listener(latest);
      start();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stop();
      };
    },
    get subscribers() {
      return listeners.size;
    },
    close() {
      closed = true;
      stop();
      for (const l of listeners) l(null);
      listeners.clear();
    },
  };
}
