/**
 * The application's metrics in CloudWatch, through the Embedded Metric Format (EMF; library
 * `aws-embedded-metrics`, maintained by AWS): once a minute the publisher reads the process's
 * prom-client registry — the same numbers `/metrics` serves — and writes one EMF JSON line to
 * stdout. On ECS the `awslogs` driver ships the line to CloudWatch Logs, which turns it into
 * metrics in the `ScaleStream` namespace; the CDK stack's alarms watch those (docs/decisions.md,
 * ADR 8). No agent, collector or Prometheus server runs beside the tasks.
 *
 * Counters become per-interval deltas (`Sum` across tasks is the pipeline's rate), the end-to-end
 * histogram becomes its p95 over the interval (alarms take the `Maximum` across tasks), gauges are
 * published as read (largest series).
 */
import { LocalSink, MetricsLogger, StorageResolution, Unit } from "aws-embedded-metrics";
import { LogSerializer } from "aws-embedded-metrics/lib/serializers/LogSerializer.js";
import type { Registry } from "prom-client";
import { getLogger } from "./log.ts";

const log = getLogger(["scalestream", "metrics", "emf"]);

/** The CloudWatch namespace of every ScaleStream application metric. */
export const EMF_NAMESPACE = "ScaleStream";

/** The metrics the consumer publishes; the CDK alarms refer to them by these names. */
export const EMF_METRIC = {
  eventsStored: "EventsStored",
  eventsProcessed: "EventsProcessed",
  eventsRejected: "EventsRejected",
  endToEndLatencyP95: "EndToEndLatencyP95",
  consumerLag: "ConsumerLag",
  derivedStageLag: "DerivedStageLag",
} as const;

/** How one CloudWatch metric is computed from the registry. */
export type EmfMetricSpec =
  /** The increase of a counter (all label sets summed) since the previous publication. */
  | { name: string; kind: "delta"; source: string }
  /** A quantile of a histogram's observations since the previous publication, in milliseconds. */
  | { name: string; kind: "quantile"; source: string; q: number }
  /** The largest current value of a gauge, in seconds. */
  | { name: string; kind: "gauge"; source: string };

/** What a consumer process publishes. A source the registry lacks is skipped, not an error. */
export const CONSUMER_EMF_METRICS: readonly EmfMetricSpec[] = [
  {
    name: EMF_METRIC.eventsStored,
    kind: "delta",
    source: "scalestream_consumer_events_stored_total",
  },
  {
    name: EMF_METRIC.eventsProcessed,
    kind: "delta",
    source: "scalestream_consumer_events_processed_total",
  },
  {
    name: EMF_METRIC.eventsRejected,
    kind: "delta",
    source: "scalestream_consumer_events_rejected_total",
  },
  {
    name: EMF_METRIC.endToEndLatencyP95,
    kind: "quantile",
    source: "scalestream_e2e_latency_seconds",
    q: 0.95,
  },
  { name: EMF_METRIC.consumerLag, kind: "gauge", source: "scalestream_consumer_lag_seconds" },
  // Exported by the derived-state stage (issue 14) once it exists.
  { name: EMF_METRIC.derivedStageLag, kind: "gauge", source: "scalestream_derived_lag_seconds" },
];

interface Snapshot {
  counters: Map<string, number>;
  /** Cumulative bucket counts by upper bound (ascending), per histogram. */
  histograms: Map<string, { le: number; count: number }[]>;
  gauges: Map<string, number>;
}

export interface EmfPublisherOptions {
  registry: Registry;
  metrics?: readonly EmfMetricSpec[];
  /** Dimensions of every metric, e.g. `{ Service: "consumer" }`. */
  dimensions: Record<string, string>;
  /** Publication period (default 60 s, CloudWatch's standard resolution). */
  intervalMs?: number;
  /** Where the EMF lines go (default: stdout, where the `awslogs` driver collects them). */
  write?: (line: string) => void;
}

export interface EmfPublisher {
  /** Reads the registry and writes one EMF document; resolves to the values published. */
  publish(): Promise<Record<string, number>>;
  /** Stops the timer and publishes what accumulated since the last publication. */
  stop(): Promise<void>;
}

/** Publishes the registry's metrics as EMF every `intervalMs` until `stop()`. */
export function startEmfPublisher(options: EmfPublisherOptions): EmfPublisher {
  const specs = options.metrics ?? CONSUMER_EMF_METRICS;
  const serializer = new LogSerializer();
  const write = options.write ?? ((line: string) => console.log(line));
  // A sink of our own: the library builds and serializes the document, we choose the stream.
  const sink = new LocalSink({
    serialize(context) {
      for (const line of serializer.serialize(context)) write(line);
      return [];
    },
  });
  const environment = {
    probe: () => Promise.resolve(true),
    getName: () => "ScaleStream",
    getType: () => "Local",
    getLogGroupName: () => "",
    configureContext: () => {},
    getSink: () => sink,
  };
  let previous: Snapshot | undefined;

  async function publish(): Promise<Record<string, number>> {
    const current = await snapshot(options.registry);
    const values = computeValues(specs, current, previous);
    previous = current;
    if (Object.keys(values).length === 0) return values;
    const logger = new MetricsLogger(() => Promise.resolve(environment));
    logger.setNamespace(EMF_NAMESPACE);
    logger.setDimensions(options.dimensions);
    for (const spec of specs) {
      const v = values[spec.name];
      if (v === undefined) continue;
      const unit = spec.kind === "delta"
        ? Unit.Count
        : spec.kind === "quantile"
        ? Unit.Milliseconds
        : Unit.Seconds;
      logger.putMetric(spec.name, v, unit, StorageResolution.Standard);
    }
    await logger.flush();
    return values;
  }

  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(publish).catch((err) =>
      log.warn("EMF publication failed: {error}", { error: String(err) })
    );
  }, options.intervalMs ?? 60_000);
  return {
    publish,
    async stop() {
      clearInterval(timer);
      await running;
      await publish().catch((err) =>
        log.warn("EMF publication failed: {error}", { error: String(err) })
      );
    },
  };
}

async function snapshot(registry: Registry): Promise<Snapshot> {
  const out: Snapshot = { counters: new Map(), histograms: new Map(), gauges: new Map() };
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    const values = m.values as {
      value: number;
      labels: Record<string, unknown>;
      metricName?: string;
    }[];
    if (type === "counter") {
      out.counters.set(m.name, values.reduce((s, v) => s + v.value, 0));
    } else if (type === "gauge") {
      out.gauges.set(m.name, values.reduce((s, v) => Math.max(s, v.value), -Infinity));
    } else if (type === "histogram") {
      // Sum the buckets of every label set; `le` is cumulative already.
      const byLe = new Map<number, number>();
      for (const v of values) {
        if (v.metricName !== `${m.name}_bucket`) continue;
        const le = v.labels.le === "+Inf" ? Infinity : Number(v.labels.le);
        byLe.set(le, (byLe.get(le) ?? 0) + v.value);
      }
      out.histograms.set(
        m.name,
        [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
      );
    }
  }
  return out;
}

/** The values of one publication; pure, so the arithmetic is tested without a registry. */
function computeValues(
  specs: readonly EmfMetricSpec[],
  current: Snapshot,
  previous: Snapshot | undefined,
): Record<string, number> {
  const values: Record<string, number> = {};
  for (const spec of specs) {
    if (spec.kind === "delta") {
      const now = current.counters.get(spec.source);
      if (now === undefined) continue;
      // A counter that went down means the process restarted its registry: count from zero.
      const before = previous?.counters.get(spec.source) ?? 0;
      values[spec.name] = now >= before ? now - before : now;
    } else if (spec.kind === "gauge") {
      const v = current.gauges.get(spec.source);
      if (v !== undefined && Number.isFinite(v)) values[spec.name] = v;
    } else {
      const now = current.histograms.get(spec.source);
      if (!now) continue;
      const before = new Map(previous?.histograms.get(spec.source)?.map((b) => [b.le, b.count]));
      const delta = now.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) }));
      const q = histogramQuantile(delta, spec.q);
      if (q !== undefined) values[spec.name] = Math.round(q * 1000 * 1000) / 1000;
    }
  }
  return values;
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside its bucket as Prometheus's
 * `histogram_quantile` does; undefined without observations. Past the last finite bound it is that
 * bound (the histogram cannot say more).
 */
export function histogramQuantile(
  buckets: readonly { le: number; count: number }[],
  q: number,
): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerLe;
      const inBucket = b.count - lowerCount;
      return inBucket <= 0 ? b.le : lowerLe + (b.le - lowerLe) * ((rank - lowerCount) / inBucket);
    }
    lowerLe = b.le;
    lowerCount = b.count;
  }
  return lowerLe;
}
