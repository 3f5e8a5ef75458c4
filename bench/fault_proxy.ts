/**
 * A small fault-injecting TCP proxy for chaos experiments, loopback only. It forwards a listening
 * port to a target and, on command, adds latency, drops every open connection abruptly, refuses
 * new connections (the port is closed) or blackholes them (accepted, nothing forwarded).
 *
 * ```ts
 * const proxy = await startFaultProxy({ targetPort: 5432 });
 * proxy.setLatency(2000);   // every chunk client → server waits 2 s: +2 s per round trip
 * proxy.resetAll();         // every open connection dropped at once (both sides closed)
 * await proxy.setMode("refuse");    // connection refused until setMode("pass")
 * await proxy.setMode("blackhole"); // connections hang; leaving it drops the hung ones
 * await proxy.close();
 * ```
 *
 * Deno cannot set SO_LINGER, so a "reset" is an abrupt close of both sockets: the kernel sends an
 * RST when unread data is pending and a FIN otherwise; either way the client sees its connection
 * end mid-conversation.
 */
import { delay } from "../shared/mod.ts";

export type ProxyMode = "pass" | "refuse" | "blackhole";

export interface FaultProxyOptions {
  /** Target port on 127.0.0.1. */
  targetPort: number;
  /** Target host; only loopback addresses are allowed. Default 127.0.0.1. */
  targetHost?: string;
  /** Listening port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
}

export interface FaultProxyStats {
  /** Connections accepted in total. */
  accepted: number;
  /** Connections currently open. */
  open: number;
  /** Connections dropped by `resetAll()` or by leaving blackhole / entering refuse. */
  dropped: number;
  /** Connections accepted while in blackhole mode (held open, never forwarded). */
  blackholed: number;
  bytesUp: number;
  bytesDown: number;
}

export interface FaultProxy {
  /** The listening port (stays the same across refuse → pass). */
  readonly port: number;
  readonly mode: ProxyMode;
  readonly latencyMs: number;
  readonly stats: Readonly<FaultProxyStats>;
  /** Local ports of the proxy's upstream connections (`pg_stat_activity.client_port`). */
  upstreamPorts(): number[];
  /** Delay added to every chunk from client to server (0 = none). Applies to open connections. */
  setLatency(ms: number): void;
  /** Drops every open connection; returns how many. */
  resetAll(): number;
  setMode(mode: ProxyMode): Promise<void>;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

interface Link {
  client: Deno.TcpConn;
  upstream: Deno.TcpConn | null;
  closed: boolean;
  close(): void;
}

/** Starts the proxy; it forwards at once (mode "pass", no latency). */
export function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = options.targetHost ?? "127.0.0.1";
  if (!LOOPBACK.has(targetHost)) {
    return Promise.reject(
      new Error(`The fault proxy forwards to loopback only, not "${targetHost}"`),
    );
  }
  let listener: Deno.TcpListener | null = Deno.listen({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
  });
  const port = (listener.addr as Deno.NetAddr).port;
  let mode: ProxyMode = "pass";
  let latencyMs = 0;
  let closing = false;
  const links = new Set<Link>();
  const stats: FaultProxyStats = {
    accepted: 0,
    open: 0,
    dropped: 0,
    blackholed: 0,
    bytesUp: 0,
    bytesDown: 0,
  };

  function track(client: Deno.TcpConn): Link {
    const link: Link = {
      client,
      upstream: null,
      closed: false,
      close() {
        if (link.closed) return;
        link.closed = true;
        links.delete(link);
        stats.open--;
        for (const c of [link.client, link.upstream]) {
          try {
            c?.close();
          } catch { /* already closed */ }
        }
      },
    };
    links.add(link);
    stats.open++;
    return link;
  }

  /** Copies one direction; `delayed` chunks wait `latencyMs` after they were read, in order. */
  async function pump(link: Link, from: Deno.TcpConn, to: Deno.TcpConn, up: boolean) {
    const pending: { at: number; data: Uint8Array }[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    const writer = (async () => {
      while (!link.closed) {
        const next = pending.shift();
        if (!next) {
          if (ended) break;
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        const wait = next.at - Date.now();
        if (wait > 0) await delay(wait);
        if (link.closed) break;
        if (mode === "blackhole") continue; // swallowed
        let off = 0;
        while (off < next.data.length) off += await to.write(next.data.subarray(off));
        if (up) stats.bytesUp += next.data.length;
        else stats.bytesDown += next.data.length;
      }
    })();
    try {
      const buf = new Uint8Array(64 * 1024);
      while (!link.closed) {
        const n = await from.read(buf);
        if (n === null) break;
        const delay = up ? latencyMs : 0;
        pending.push({ at: Date.now() + delay, data: buf.slice(0, n) });
        const w = wake as (() => void) | null;
        wake = null;
        w?.();
      }
    } catch { /* closed under us */ }
    ended = true;
    const w = wake as (() => void) | null;
    w?.();
    try {
      await writer;
    } catch { /* closed under us */ }
    link.close();
  }

  async function handle(client: Deno.TcpConn) {
    stats.accepted++;
    const link = track(client);
    if (mode === "blackhole") {
      stats.blackholed++;
      // Hold it open and read nothing back; leaving blackhole drops it.
      return;
    }
    try {
      client.setNoDelay(true);
      const upstream = await Deno.connect({ hostname: targetHost, port: options.targetPort });
      upstream.setNoDelay(true);
      link.upstream = upstream;
      if (link.closed) return upstream.close();
      await Promise.all([pump(link, client, upstream, true), pump(link, upstream, client, false)]);
    } catch {
      link.close();
    }
  }

  async function acceptLoop(l: Deno.TcpListener) {
    try {
      for await (const conn of l) {
        if (closing) {
          conn.close();
          continue;
        }
        void handle(conn);
      }
    } catch { /* listener closed */ }
  }

  void acceptLoop(listener);

  function resetAll(): number {
    const n = links.size;
    for (const link of [...links]) link.close();
    stats.dropped += n;
    return n;
  }

  async function listenAgain() {
    for (let attempt = 0;; attempt++) {
      try {
        listener = Deno.listen({ hostname: "127.0.0.1", port });
        void acceptLoop(listener);
        return;
      } catch (err) {
        if (attempt >= 50) throw err;
        await delay(100);
      }
    }
  }

  return Promise.resolve({
    port,
    get mode() {
      return mode;
    },
    get latencyMs() {
      return latencyMs;
    },
    stats,
    upstreamPorts() {
      const ports: number[] = [];
      for (const l of links) {
        if (l.upstream) ports.push((l.upstream.localAddr as Deno.NetAddr).port);
      }
      return ports;
    },
    setLatency(ms: number) {
      latencyMs = Math.max(0, ms);
    },
    resetAll,
    async setMode(next: ProxyMode) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      if (next === "refuse") {
        listener?.close();
        listener = null;
        resetAll();
        await delay(50); // let the socket close: from now on, connecting is refused
      } else if (previous === "refuse") {
        await listenAgain();
      }
      // Connections that hung in the blackhole are broken: drop them when it ends.
      if (previous === "blackhole") resetAll();
    },
    async close() {
      closing = true;
      try {
        listener?.close();
      } catch { /* closed */ }
      listener = null;
      resetAll();
      await delay(0);
    },
  });
}
