/**
 * HTTP load on the API: ingestion (`POST /v1/events`, own bounded generator so every accepted
 * event is credited to a ledger exactly), dashboard reads (autocannon on the GET endpoints), and
 * many concurrent `/v1/stream` clients that check updates keep arriving.
 */
import autocannon from "autocannon";
import { createGenerator, createLedger, type LedgerTotals, metaOf } from "../../producer/mod.ts";

/** The p-quantile of `xs` (sorted in place), NaN when empty. */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(q * xs.length) - 1))]!;
}

export interface IngestResult {
  durationS: number;
  concurrency: number;
  batch: number;
  requests: number;
  /** Answers by status (retried attempts included). */
  statuses: Record<string, number>;
  networkErrors: number;
  eventsAccepted: number;
  requestsPerS: number;
  eventsPerS: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  ledger: LedgerTotals;
}

/**
 * Posts batches of `batch` generated events from `concurrency` loops for `durationS`; a batch
 * answered other than 202 is re-sent (same event ids, so harmless) up to 5 times, then counted as
 * failed in the ledger. Stops issuing at the deadline and waits for the answers in flight.
 */
export async function ingestLoad(o: {
  url: string;
  durationS: number;
  concurrency: number;
  batch: number;
  seed: number;
  apiKey?: string;
}): Promise<IngestResult> {
  const generator = createGenerator({ seed: o.seed });
  const ledger = createLedger();
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let requests = 0;
  let networkErrors = 0;
  const started = performance.now();
  const deadline = started + o.durationS * 1000;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (o.apiKey) headers["x-api-key"] = o.apiKey;

  async function loop() {
    while (performance.now() < deadline) {
      const now = Date.now();
      const events = Array.from({ length: o.batch }, () => generator.next(now));
      const metas = events.map((e) => metaOf("unique", e));
      const body = JSON.stringify(events);
      let done = false;
      for (let attempt = 0; attempt < 6 && !done; attempt++) {
        const t0 = performance.now();
        try {
          const res = await fetch(o.url, { method: "POST", headers, body });
          const text = await res.text();
          latencies.push(performance.now() - t0);
          requests++;
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status === 202) {
            const answer = JSON.parse(text) as { errors?: { index: number }[] };
            const bad = new Set((answer.errors ?? []).map((e) => e.index));
            ledger.acked(metas.filter((_, i) => !bad.has(i)));
            ledger.rejectedByApi(metas.filter((_, i) => bad.has(i)));
            done = true;
          }
        } catch {
          networkErrors++;
        }
        if (!done) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
      if (!done) ledger.failed(metas);
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  const durationS = (performance.now() - started) / 1000;
  const totals = ledger.totals();
  return {
    durationS: Number(durationS.toFixed(2)),
    concurrency: o.concurrency,
    batch: o.batch,
    requests,
    statuses,
    networkErrors,
    eventsAccepted: totals.accepted,
    requestsPerS: Math.round(requests / durationS),
    eventsPerS: Math.round(totals.accepted / durationS),
    latencyMs: {
      p50: round(quantile(latencies, 0.5)),
      p95: round(quantile(latencies, 0.95)),
      p99: round(quantile(latencies, 0.99)),
      max: round(quantile(latencies, 1)),
    },
    ledger: totals,
  };
}

function round(x: number, digits = 1): number {
  return Number(x.toFixed(digits));
}

export interface ReadResult {
  path: string;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerS: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
}

/** autocannon on one GET endpoint. */
export async function readLoad(o: {
  baseUrl: string;
  path: string;
  connections: number;
  durationS: number;
  apiKey?: string;
}): Promise<ReadResult> {
  const r = await autocannon({
    url: new URL(o.path, o.baseUrl).toString(),
    connections: o.connections,
    duration: o.durationS,
    headers: o.apiKey ? { "x-api-key": o.apiKey } : {},
  });
  return {
    path: o.path,
    connections: o.connections,
    durationS: o.durationS,
    requests: r.requests.total,
    requestsPerS: Math.round(r.requests.total / o.durationS),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

export interface SseResult {
  clients: number;
  connected: number;
  failed: number;
  durationS: number;
  /** Frames (`event: metrics`) per connected client. */
  framesPerClient: { min: number; median: number; max: number };
  /** Largest gap between two frames of one client, over clients (ms). */
  maxGapMs: { p50: number; p99: number; max: number };
  /** Clients that once waited longer than `lateGapMs` for an update. */
  clientsWithLateUpdate: number;
  lateGapMs: number;
}

/**
 * `clients` concurrent `/v1/stream` readers for `durationS`; each records when `event: metrics`
 * frames arrive. Connections are opened in waves of 100 so the opening is not a SYN flood.
 */
export async function sseLoad(o: {
  url: string;
  clients: number;
  durationS: number;
  lateGapMs?: number;
  apiKey?: string;
  signal?: AbortSignal;
}): Promise<SseResult> {
  const lateGapMs = o.lateGapMs ?? 2500;
  const abort = new AbortController();
  const started = performance.now();
  const stopAt = started + o.durationS * 1000;
  const results: { ok: boolean; frames: number; maxGap: number }[] = [];
  const readers = new Set<ReadableStreamDefaultReader<Uint8Array>>();
  async function client(): Promise<void> {
    const rec = { ok: false, frames: 0, maxGap: 0 };
    results.push(rec);
    try {
      const res = await fetch(o.url, {
        signal: abort.signal,
        headers: o.apiKey ? { "x-api-key": o.apiKey } : {},
      });
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        return;
      }
      rec.ok = true;
      // Aborting the request does not end a body already streaming: cancel the reader at the end.
      const reader = res.body.getReader();
      readers.add(reader);
      if (abort.signal.aborted) await reader.cancel();
      const decoder = new TextDecoder();
      let tail = "";
      let last = 0;
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = tail + decoder.decode(value, { stream: true });
        const n = text.split("event: metrics").length - 1;
        tail = text.slice(-16);
        if (n > 0) {
          const now = performance.now();
          if (last > 0) rec.maxGap = Math.max(rec.maxGap, now - last);
          last = now;
          rec.frames += n;
        }
      }
    } catch {
      // cancelled at the end of the test, or the connection failed (ok stays as it was)
    }
  }
  const running: Promise<void>[] = [];
  for (let i = 0; i < o.clients && !o.signal?.aborted; i += 100) {
    for (let j = i; j < Math.min(o.clients, i + 100); j++) running.push(client());
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, Math.max(0, stopAt - performance.now()));
    o.signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
  abort.abort();
  await Promise.all([...readers].map((r) => r.cancel().catch(() => {})));
  // A client still waiting for its response headers ends with the abort above.
  await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 10_000))]);
  const ok = results.filter((r) => r.ok);
  const frames = ok.map((r) => r.frames);
  const gaps = ok.map((r) => r.maxGap);
  return {
    clients: o.clients,
    connected: ok.length,
    failed: results.length - ok.length,
    durationS: o.durationS,
    framesPerClient: {
      min: frames.length ? Math.min(...frames) : 0,
      median: quantile(frames, 0.5),
      max: frames.length ? Math.max(...frames) : 0,
    },
    maxGapMs: {
      p50: Math.round(quantile(gaps, 0.5)),
      p99: Math.round(quantile(gaps, 0.99)),
      max: Math.round(quantile(gaps, 1)),
    },
    clientsWithLateUpdate: gaps.filter((g) => g > lateGapMs).length,
    lateGapMs,
  };
}
