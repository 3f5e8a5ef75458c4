/**
 * Prometheus plumbing shared by every ScaleStream process (prom-client). Each component builds its
 * metrics with a factory in its own `metrics.ts` that takes a {@linkcode Registry} and the
 * component's hooks (stats objects, callbacks), so counters are read from what the component
 * already counts at scrape time (`collect()`), never kept twice.
 *
 * Names follow Prometheus conventions: `scalestream_<component>_<what>_<unit>`, counters end in
 * `_total`, durations are `_seconds`, sizes `_bytes`.
 */
import {
  context as otelContext,
  type Link,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { getLogger } from "./log.ts";
import type { SQSClient } from "./sqs.ts";
import { billedRequests } from "./sqs_billing.ts";

export { Counter, Gauge, Histogram, Registry };

const log = getLogger(["scalestream", "metrics"]);

/** The tracer of every ScaleStream span; a no-op unless Deno runs with `OTEL_DENO=true`. */
export const tracer = trace.getTracer("scalestream");

/**
 * Latency buckets from 10 ms to 10 min: fine where the objective lives (p95 < 500 ms), coarse
 * where only "how bad" matters.
 */
export const LATENCY_BUCKETS_S = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
] as const;

/** Buckets of short operations (a flush, an SQS request): 1 ms to 30 s. */
export const DURATION_BUCKETS_S = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
] as const;

/** A fresh registry with the standard process metrics (`process_*`, `nodejs_*`) unless disabled. */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** The Prometheus text of a registry, in the shape `/metrics` handlers take. */
export function metricsText(registry: Registry): () => Promise<string> {
  return () => registry.metrics();
}

/**
 * A counter whose value is read at scrape time from a running total the component keeps anyway.
 * `read` returns the total, or totals by label value when the counter has one label.
 */
export function derivedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): Counter;
export function derivedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => Record<string, number>,
  label: string,
): Counter;
export function derivedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Record<string, number>,
  label?: string,
): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    labelNames: label ? [label] : [],
    collect() {
      this.reset();
      const v = read();
      if (typeof v === "number") this.inc(v);
      else for (const [value, n] of Object.entries(v)) this.inc({ [label!]: value }, n);
    },
  });
}

/** A gauge read at scrape time. */
export function derivedGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A running `GET /metrics` server; `url` is where Prometheus scrapes it. */
export interface MetricsServer {
  url: string;
  shutdown(): Promise<void>;
}

/**
 * Serves `GET /metrics` (and nothing else) on its own port, for processes without an HTTP server
 * of their own (the producer). Port 0 picks a free port.
 */
export function serveMetrics(
  registry: Registry,
  options: { port: number; hostname?: string },
): Promise<MetricsServer> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      port: options.port,
      hostname: options.hostname ?? "0.0.0.0",
      onListen: ({ hostname, port }) => {
        const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname;
        resolve({ url: `http://${host}:${port}/metrics`, shutdown: () => server.shutdown() });
      },
    }, async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" || path !== "/metrics") {
        return new Response("Not found; try GET /metrics\n", { status: 404 });
      }
      return new Response(await registry.metrics(), {
        headers: { "content-type": registry.contentType },
      });
    });
  });
}

/** Operation names of SQS commands as the SDK reports them, without the `Command` suffix. */
type SqsInput = {
  QueueUrl?: string;
  Entries?: { MessageAttributes?: Record<string, unknown> }[];
};
type SqsOutput = {
  Messages?: { MessageAttributes?: Record<string, { StringValue?: string }> }[];
  Failed?: unknown[];
};

/** The W3C trace-context attribute carried by each message when tracing is on. */
export const TRACEPARENT_ATTRIBUTE = "traceparent";

const SPAN_OPERATIONS: Record<string, { name: string; kind: SpanKind; type: string }> = {
  SendMessageBatch: { name: "send", kind: SpanKind.PRODUCER, type: "send" },
  ReceiveMessage: { name: "receive", kind: SpanKind.CONSUMER, type: "receive" },
  DeleteMessageBatch: { name: "settle", kind: SpanKind.CLIENT, type: "settle" },
};

const instrumented = new WeakSet<SQSClient>();

/** The part of the SDK's middleware stack used here (the full type lives in @smithy/types). */
interface _Stack {
  add(
    middleware: (
      next: (args: { input: unknown }) => Promise<unknown>,
      ctx: unknown,
    ) => (args: { input: unknown }) => Promise<unknown>,
    options: { step: "initialize"; name: string; override?: boolean },
  ): void;
}

/**
 * Adds a middleware to an SQS client that counts and times every request by operation and outcome
 * (`scalestream_sqs_requests_total`, `scalestream_sqs_request_duration_seconds`, SDK retries
 * included) and, when tracing is on, wraps sends, receives and deletes in OpenTelemetry spans: a
 * send puts its span's `traceparent` on every message, and a receive links its span to the spans
 * that sent the messages, so one trace view leads from produce to consume.
 */
export function instrumentSqsClient(sqs: SQSClient, registry: Registry): void {
  if (instrumented.has(sqs)) return;
  instrumented.add(sqs);
  const requests = new Counter({
    name: "scalestream_sqs_requests_total",
    help:
      "SQS API requests by operation and outcome (ok, partial = some batch entries failed, error)",
    labelNames: ["operation", "outcome"],
    registers: [registry],
  });
  const billed = new Counter({
    name: "scalestream_sqs_billed_requests_total",
    help:
      "SQS requests as billed, by operation: one per request and per 64 KiB chunk of the messages sent or received (shared/sqs_billing.ts)",
    labelNames: ["operation"],
    registers: [registry],
  });
  const emptyReceives = new Counter({
    name: "scalestream_sqs_empty_receives_total",
    help: "ReceiveMessage calls that returned no message (each billed as one request)",
    registers: [registry],
  });
  emptyReceives.inc(0);
  const duration = new Histogram({
    name: "scalestream_sqs_request_duration_seconds",
    help: "SQS API request duration including SDK retries, by operation",
    labelNames: ["operation"],
    buckets: [...DURATION_BUCKETS_S],
    registers: [registry],
  });
  const stack = sqs.middlewareStack as unknown as _Stack;
  stack.add(
    (next, ctx) => async (args) => {
      const operation = String((ctx as { commandName?: string }).commandName ?? "Unknown")
        .replace(/Command$/, "");
      const input = args.input as SqsInput;
      const spanOp = SPAN_OPERATIONS[operation];
      const startedMs = Date.now();
      const started = performance.now();
      // A receive span is made afterwards, and only when messages came: long polls that return
      // nothing would otherwise fill the trace store.
      const span = spanOp && operation !== "ReceiveMessage"
        ? tracer.startSpan(`${spanOp.name} ${queueName(input.QueueUrl)}`, {
          kind: spanOp.kind,
          attributes: spanAttributes(spanOp.type, input.QueueUrl, input.Entries?.length),
        })
        : undefined;
      if (span?.isRecording() && operation === "SendMessageBatch") injectTraceparent(span, input);
      try {
        const result = span
          ? await otelContext.with(trace.setSpan(otelContext.active(), span), () => next(args))
          : await next(args);
        const output = (result as { output?: SqsOutput }).output ?? {};
        const partial = (output.Failed?.length ?? 0) > 0;
        requests.inc({ operation, outcome: partial ? "partial" : "ok" });
        billed.inc({ operation }, billedRequests(operation, args.input as never, output as never));
        if (operation === "ReceiveMessage" && !output.Messages?.length) emptyReceives.inc();
        if (partial) {
          span?.setStatus({ code: SpanStatusCode.ERROR, message: "some entries failed" });
        }
        if (operation === "ReceiveMessage" && (output.Messages?.length ?? 0) > 0) {
          traceReceive(input.QueueUrl, output, startedMs);
        }
        return result;
      } catch (err) {
        requests.inc({ operation, outcome: "error" });
        billed.inc({ operation }, 1);
        span?.recordException(err as Error);
        span?.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
        throw err;
      } finally {
        duration.observe({ operation }, (performance.now() - started) / 1000);
        span?.end();
      }
    },
    { step: "initialize", name: "scalestreamMetrics", override: true },
  );
}

function queueName(url: string | undefined): string {
  return url?.split("/").pop() ?? "unknown";
}

function spanAttributes(type: string, url: string | undefined, count: number | undefined) {
  return {
    "messaging.system": "aws_sqs",
    "messaging.operation.type": type,
    "messaging.destination.name": queueName(url),
    ...(count !== undefined ? { "messaging.batch.message_count": count } : {}),
  };
}

function injectTraceparent(span: ReturnType<typeof tracer.startSpan>, input: SqsInput) {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(otelContext.active(), span), carrier);
  const value = carrier[TRACEPARENT_ATTRIBUTE];
  if (!value) return;
  for (const entry of input.Entries ?? []) {
    const attrs = entry.MessageAttributes ?? {};
    // SQS allows 10 attributes per message; never push a message over the limit for a trace.
    if (Object.keys(attrs).length >= 10) continue;
    entry.MessageAttributes = {
      ...attrs,
      [TRACEPARENT_ATTRIBUTE]: { DataType: "String", StringValue: value },
    };
  }
}

function traceReceive(url: string | undefined, output: SqsOutput, startedMs: number) {
  const messages = output.Messages ?? [];
  const links: Link[] = [];
  for (const m of messages) {
    const value = m.MessageAttributes?.[TRACEPARENT_ATTRIBUTE]?.StringValue;
    if (!value) continue;
    const ctx = propagation.extract(otelContext.active(), { [TRACEPARENT_ATTRIBUTE]: value });
    const spanContext = trace.getSpanContext(ctx);
    if (spanContext) links.push({ context: spanContext });
  }
  const span = tracer.startSpan(`receive ${queueName(url)}`, {
    kind: SpanKind.CONSUMER,
    startTime: startedMs,
    links,
    attributes: spanAttributes("receive", url, messages.length),
  });
  span.end();
}

/** Logs where the metrics of this process can be scraped. */
export function logMetricsEndpoint(component: string, url: string): void {
  log.info(`Metrics of ${component} at ${url}`, { component, url });
}
