/**
 * What a load-test run samples every second, from start to end: queue depth, the stored count,
 * the consumers' and the running producer's /metrics, /proc of every process of the run and of the
 * PostgreSQL backends serving them. run_ramp.ts measures its steps over these samples.
 */
import { delay, readQueueDepth, type Sql, type SQSClient } from "../../shared/mod.ts";
import { localPortsOf, type ProcessGroup, type ProcSample, readProc } from "./_processes.ts";
import {
  addBy,
  addHistograms,
  emptyHistogram,
  type Histogram,
  parseCounter,
  parseCounterBy,
  parseHistogram,
} from "./prom_histogram.ts";

/** One sample; counters and histograms are cumulative, so a window is the difference of two. */
export interface Sample {
  t: number;
  visible: number;
  inflight: number;
  stored: number;
  e2e: Histogram;
  flush: Histogram;
  flushSize: Histogram;
  dbErrors: number;
  proc: Map<string, ProcSample>;
  pgCpuS: number;
  pgWaitS: number;
  /** The running producer's counters (from its /metrics), with the port they came from. */
  producer?: {
    port: number;
    sent: number;
    acked: number;
    billed: Record<string, number>;
    requests: Record<string, number>;
    eventBytes: number;
    bodyBytes: number;
  };
  /** The consumers' SQS counters, summed over processes. */
  consumerSqs: {
    billed: Record<string, number>;
    requests: Record<string, number>;
    empty: number;
    received: number;
  };
}

/** Samples taken every second from start until `stop()`. */
export interface Sampler {
  readonly samples: Sample[];
  /** Seconds since sampling started: the time axis of the samples. */
  elapsedS(): number;
  /** The latest sample, once one at or after `t` exists. */
  after(t: number): Promise<Sample>;
  /** Scrapes the producer listening on `port` from now on. */
  watchProducer(port: number): void;
  /** Ends sampling; resolves when the last sample is in. */
  stop(): Promise<void>;
}

/**
 * Queue depth, stored count, the consumers' and the running producer's /metrics, /proc of every
 * process and of the PostgreSQL backends serving them. Resolves after the first sample.
 */
export async function startSampler(deps: {
  group: ProcessGroup;
  sql: Sql;
  sqs: SQSClient;
  queueUrl: string;
  healthPorts: number[];
  log: (line: string) => void;
}): Promise<Sampler> {
  const { group, sql, sqs, queueUrl, healthPorts } = deps;
  const samples: Sample[] = [];
  const t0 = performance.now();
  const elapsedS = () => (performance.now() - t0) / 1000;
  const pgCpu = pgCpuTracker(
    sql,
    () => group.list().filter((p) => !p.exited() && p.name !== "fauxqs").map((p) => p.pid),
  );
  const lastMetrics = new Map<number, string>();
  let producerPort: number | undefined;
  const takeSample = async (): Promise<Sample> => {
    const [attrs, storedRows, scrapes, pg] = await Promise.all([
      readQueueDepth(sqs, queueUrl),
      sql<{ n: number }[]>`select coalesce(sum(events), 0)::bigint as n from agg_minute`,
      Promise.all(healthPorts.map(async (port) => {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/metrics`);
          const text = await r.text();
          lastMetrics.set(port, text);
          return text;
        } catch {
          return lastMetrics.get(port) ?? ""; // a busy consumer: reuse its last scrape
        }
      })),
      pgCpu.sample(),
    ]);
    const producer = producerPort === undefined ? undefined : await scrapeProducer(producerPort);
    const proc = new Map<string, ProcSample>();
    for (const p of group.list()) {
      const s = readProc(p.pid);
      if (s) proc.set(p.name, s);
    }
    return {
      t: elapsedS(),
      visible: attrs.visible,
      inflight: attrs.notVisible,
      stored: Number(storedRows[0]?.n ?? 0),
      ...sumConsumerMetrics(scrapes),
      proc,
      pgCpuS: pg.cpuS,
      pgWaitS: pg.waitS,
      ...(producer ? { producer } : {}),
    };
  };
  samples.push(await takeSample());
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const next = performance.now() + 1000;
      try {
        samples.push(await takeSample());
      } catch (err) {
        deps.log(`  sample failed: ${(err as Error).message}`);
      }
      await delay(Math.max(0, next - performance.now()));
    }
  })();
  return {
    samples,
    elapsedS,
    async after(t) {
      while (!samples.length || samples.at(-1)!.t < t) await delay(100);
      return samples.at(-1)!;
    },
    watchProducer(port) {
      producerPort = port;
    },
    stop() {
      stopped = true;
      return done;
    },
  };
}

/** The producer's counters from its /metrics; undefined while it is not listening (or gone). */
async function scrapeProducer(port: number): Promise<Sample["producer"]> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return {
      port,
      sent: parseCounter(text, "scalestream_producer_events_total"),
      acked: parseCounter(text, "scalestream_producer_events_acked_total"),
      billed: parseCounterBy(text, "scalestream_sqs_billed_requests_total", "operation"),
      requests: parseCounterBy(text, "scalestream_sqs_requests_total", "operation"),
      eventBytes: parseCounter(text, "scalestream_producer_event_bytes_total"),
      bodyBytes: parseCounter(text, "scalestream_producer_body_bytes_total"),
    };
  } catch {
    return undefined;
  }
}

/** The consumers' histograms and counters, summed over their /metrics scrapes. */
function sumConsumerMetrics(
  scrapes: string[],
): Pick<Sample, "e2e" | "flush" | "flushSize" | "dbErrors" | "consumerSqs"> {
  let e2e = emptyHistogram(), flush = emptyHistogram(), flushSize = emptyHistogram();
  let dbErrors = 0;
  const consumerSqs: Sample["consumerSqs"] = { billed: {}, requests: {}, empty: 0, received: 0 };
  for (const text of scrapes) {
    consumerSqs.billed = addBy(
      consumerSqs.billed,
      parseCounterBy(text, "scalestream_sqs_billed_requests_total", "operation"),
    );
    consumerSqs.requests = addBy(
      consumerSqs.requests,
      parseCounterBy(text, "scalestream_sqs_requests_total", "operation"),
    );
    consumerSqs.empty += parseCounter(text, "scalestream_sqs_empty_receives_total");
    consumerSqs.received += parseCounter(text, "scalestream_consumer_messages_received_total");
    e2e = addHistograms(e2e, parseHistogram(text, "scalestream_e2e_latency_seconds"));
    flush = addHistograms(
      flush,
      parseHistogram(text, "scalestream_consumer_flush_duration_seconds"),
    );
    flushSize = addHistograms(
      flushSize,
      parseHistogram(text, "scalestream_consumer_flush_size_events"),
    );
    dbErrors += parseCounter(text, "scalestream_consumer_db_errors_total");
  }
  return { e2e, flush, flushSize, dbErrors, consumerSqs };
}

/**
 * CPU of the PostgreSQL backends serving the given processes: their TCP client ports (from /proc)
 * matched with `pg_stat_activity.client_port`. Backends are read from /proc too, so the shared
 * server's other clients are not counted. Cumulative CPU seconds and run-queue wait seconds.
 */
function pgCpuTracker(sql: Sql, pids: () => number[]) {
  const lastCpu = new Map<number, { cpuS: number; waitS: number }>();
  const total = { cpuS: 0, waitS: 0 };
  return {
    async sample(): Promise<{ cpuS: number; waitS: number }> {
      const ports = new Set<number>();
      for (const pid of pids()) for (const p of localPortsOf(pid)) ports.add(p);
      if (!ports.size) return { ...total };
      const rows = await sql<{ pid: number }[]>`
        select pid from pg_stat_activity where client_port = any(${[...ports]}::int[])`;
      for (const { pid } of rows) {
        const s = readProc(pid);
        if (!s) continue;
        const before = lastCpu.get(pid);
        // A backend first seen now: count from here (its earlier CPU was start-up and migration).
        if (before !== undefined) {
          total.cpuS += Math.max(0, s.cpuS - before.cpuS);
          total.waitS += Math.max(0, s.waitS - before.waitS);
        }
        lastCpu.set(pid, { cpuS: s.cpuS, waitS: s.waitS });
      }
      return { ...total };
    },
  };
}
