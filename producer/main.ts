/**
 * `deno task produce`: simulates shoppers at a target rate and sends their events to SQS (or the
 * HTTP ingestion API), with injected trouble on request and a ledger of what was acknowledged.
 * `deno task import-csv FILE`: sends a partner CSV feed through the same sender.
 */
import type { parseArgs } from "node:util";
import {
  type Config,
  createMetricsRegistry,
  createSqsClient,
  ensureQueues,
  getLogger,
  loadConfig,
  parseFlags,
  runMain,
  setupLogging,
  type SQSClient,
  UsageError,
} from "../shared/mod.ts";
import {
  createEventSender,
  createEventSource,
  createGenerator,
  createHttpSender,
  createLedger,
  createProducerMetrics,
  type EventSender,
  INJECTION_KINDS,
  type InjectionRates,
  type LedgerTotals,
  metaOf,
  parseDuration,
  parseExperiment,
  parseMix,
  parseRateProfile,
  runProducer,
  type RunProgress,
  scopeRun,
  type SentMeta,
  serveProducerMetrics,
  startProducerMetrics,
} from "./mod.ts";
import { importCsv } from "./import_csv.ts";

const HELP = `Usage: deno task produce [options]
       deno task import-csv FILE [--target sqs|http] [--ledger FILE]
       deno task reconcile --ledger FILE   (ledger vs PostgreSQL; exit 1 on any difference)

Simulation
  --rate N            target events per second (default PRODUCER_RATE or 1000)
  --duration D        how long to run: 500ms, 30s, 2m, 1h (default: until Ctrl-C)
  --events N          stop after N events
  --profile P         rate over time (default steady):
                        steady | ramp:1000-20000:60s | diurnal[:PERIOD]
                        and any number of flash sales: +flash:5x@20s:10s
  --mix M             event type weights, e.g. page_view=50,search=10,purchase=4
  --users N           size of the shopper population (default 10000)
  --shoppers N        shoppers browsing at the same time (default min(500, users / 4));
                        20000 is a realistic flash-sale crowd
  --products N        size of the catalog (default 500)
  --seed N            seed of the simulation (default: random, logged and written to the ledger)
  --experiment E      simulate an A/B test on checkout, NAME:LIFT[:TREATMENT_SHARE], e.g.
                      checkout-button:0.2 (treatment converts 20% more; events carry
                      properties.experiment and properties.variant; see docs/lake.md)

Injections (fraction of events, 0 to <1, or a percentage like 2%)
  --fraud R           fraud scenarios: orders from one IP, high-value new users, far-away
                      purchases, purchase velocity (valid events)
  --bots R            bot bursts at inhuman rates (valid events)
  --invalid R         events that break the schema (consumer: rejects, kind "invalid")
  --duplicates R      exact re-sends of an earlier event (same eventId)
  --late R            events minutes to hours old, inside LATE_HORIZON_S (stored)
  --future R          events slightly ahead, inside FUTURE_SKEW_S (stored)
  --too-new R         events beyond FUTURE_SKEW_S (consumer: rejects, kind "too_new")
  --too-old R         events before LATE_HORIZON_S (consumer: rejects, kind "too_old")

Delivery
  --target T          sqs (default) or http (POST batches to API_URL/v1/events with the
                      x-api-key of SCALESTREAM_API_KEY)
  --api-url URL       overrides API_URL for --target http
  --ledger FILE       write what was acknowledged to FILE as JSON, with the run's id
  --run-id ID         the run id every event carries in properties.runId (default: a random
                      UUID); \`deno task reconcile\` checks this run's events only
  --help              show this help

Environment: SQS_ENDPOINT, SQS_QUEUE_NAME, PRODUCER_MAX_MESSAGE_BYTES, PRODUCER_LINGER_MS,
PRODUCER_MAX_INFLIGHT_BATCHES, LATE_HORIZON_S, FUTURE_SKEW_S, API_URL, SCALESTREAM_API_KEY …
PRODUCER_METRICS_PORT (see docs/configuration.md). Exit status: 0 done, 1 some events failed, 2 bad usage.`;

/** What a usage error prints after its message. */
const USAGE = `${HELP.split("\n").slice(0, 3).join("\n")}

Run with --help for all options.`;

const OPTIONS = {
  rate: { type: "string" },
  duration: { type: "string" },
  events: { type: "string" },
  profile: { type: "string" },
  mix: { type: "string" },
  users: { type: "string" },
  shoppers: { type: "string" },
  products: { type: "string" },
  seed: { type: "string" },
  experiment: { type: "string" },
  target: { type: "string" },
  "api-url": { type: "string" },
  ledger: { type: "string" },
  "run-id": { type: "string" },
  help: { type: "boolean" },
  fraud: { type: "string" },
  bots: { type: "string" },
  invalid: { type: "string" },
  duplicates: { type: "string" },
  late: { type: "string" },
  future: { type: "string" },
  "too-new": { type: "string" },
  "too-old": { type: "string" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>[
  "values"
];

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--${name} must be a positive integer, got "${v}"`, USAGE);
  }
  return n;
}

function fraction(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = v.endsWith("%") ? Number(v.slice(0, -1)) / 100 : Number(v);
  if (!(n >= 0 && n < 1)) {
    throw new UsageError(
      `--${name} must be a fraction in [0, 1) or a percentage, got "${v}"`,
      USAGE,
    );
  }
  return n;
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message, USAGE);
    throw err;
  }
}

interface Delivery {
  sender: EventSender<SentMeta>;
  ledger: ReturnType<typeof createLedger>;
  describe: string;
  sqs?: SQSClient;
  close(): void;
}

/** `GET /metrics` on `PRODUCER_METRICS_PORT` (0 = off); the SQS client is instrumented when used. */
async function startMetrics(config: Config, delivery: Delivery) {
  const stats = () => delivery.sender.stats;
  const port = config.producerMetricsPort;
  if (delivery.sqs) return await startProducerMetrics({ sqs: delivery.sqs, stats, port });
  const registry = createMetricsRegistry();
  const metrics = createProducerMetrics(registry, { stats });
  const server = await serveProducerMetrics(registry, { port });
  return { ...metrics, ...(server ? { server } : {}) };
}

async function openDelivery(config: Config, values: Values): Promise<Delivery> {
  const ledger = createLedger();
  const target = values.target ?? "sqs";
  if (target === "http") {
    const base = values["api-url"] ?? config.producerApiUrl;
    const url = new URL("/v1/events", base).toString();
    return {
      ledger,
      describe: url,
      sender: createHttpSender<SentMeta>({
        url,
        apiKey: config.producerApiKey,
        lingerMs: config.lingerMs,
        maxInflightRequests: config.maxInflightBatches,
        onAck: (m) => ledger.acked(m),
        onReject: (m) => ledger.rejectedByApi(m),
        onFail: (m) => ledger.failed(m),
      }),
      close() {},
    };
  }
  if (target !== "sqs") {
    throw new UsageError(`--target must be "sqs" or "http", got "${target}"`, USAGE);
  }
  const sqs: SQSClient = createSqsClient(config, Deno.env.toObject());
  const { queueUrl } = await ensureQueues(sqs, config);
  return {
    ledger,
    describe: queueUrl,
    sqs,
    sender: createEventSender<SentMeta>({
      sqs,
      queueUrl,
      maxMessageBytes: config.maxMessageBytes,
      lingerMs: config.lingerMs,
      maxInflightBatches: config.maxInflightBatches,
      encoding: config.producerEncoding,
      onAck: (m) => ledger.acked(m),
      onFail: (m) => ledger.failed(m),
    }),
    close: () => sqs.destroy(),
  };
}

async function writeLedger(file: string | undefined, totals: object) {
  if (file) await Deno.writeTextFile(file, JSON.stringify(totals, null, 2) + "\n");
}

/** A progress line: rewritten in place on a terminal, a log record otherwise. */
function progressPrinter(log: ReturnType<typeof getLogger>, sender: EventSender<SentMeta>) {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  return {
    print(p: RunProgress) {
      const s = sender.stats;
      const line = `${(p.elapsedMs / 1000).toFixed(0)}s target ${Math.round(p.targetRate)}/s ` +
        `achieved ${Math.round(p.windowRate)}/s (avg ${Math.round(p.achievedRate)}/s) ` +
        `sent ${p.sent} acked ${s.ackedEvents} failed ${s.failedEvents} ` +
        `retried ${s.retriedEntries} in flight ${s.inflightBatches} lag ${p.maxLagMs}ms`;
      if (tty) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
      else log.info(line);
    },
    end() {
      if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
    },
  };
}

async function produce(config: Config, values: Values): Promise<number> {
  const log = getLogger(["scalestream", "producer"]);
  const rate = wrap(() => positiveInt("rate", values.rate)) ?? config.producerRate;
  const durationMs = values.duration === undefined
    ? undefined
    : wrap(() => parseDuration(values.duration!));
  const maxEvents = positiveInt("events", values.events);
  const rateAt = wrap(() => parseRateProfile(values.profile ?? "steady", rate));
  const mix = values.mix === undefined ? undefined : wrap(() => parseMix(values.mix!));
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : (() => {
    const n = Number(values.seed);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new UsageError(`--seed must be a non-negative integer, got "${values.seed}"`, USAGE);
    }
    return n;
  })();
  const rates: InjectionRates = {};
  for (const kind of INJECTION_KINDS) {
    const flag = kind.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
    const r = fraction(flag, values[flag as keyof Values] as string | undefined);
    if (r !== undefined) rates[kind] = r;
  }
  const generator = wrap(() =>
    createGenerator({
      seed,
      users: positiveInt("users", values.users),
      concurrentSessions: positiveInt("shoppers", values.shoppers),
      products: positiveInt("products", values.products),
      mix,
      ...(values.experiment ?? config.producerExperiment
        ? { experiment: parseExperiment(values.experiment ?? config.producerExperiment!) }
        : {}),
    })
  );
  const source = wrap(() =>
    createEventSource(generator, {
      rates,
      lateHorizonS: config.lateHorizonS,
      futureSkewS: config.futureSkewS,
    })
  );
  const runId = values["run-id"] ?? crypto.randomUUID();
  if (!/^[\w.:-]{1,64}$/.test(runId)) {
    throw new UsageError(`--run-id must be 1 to 64 letters, digits or ._:-, got "${runId}"`, USAGE);
  }
  const run = scopeRun(source.next, runId);

  const delivery = await openDelivery(config, values);
  const { sender, ledger } = delivery;
  const metrics = await startMetrics(config, delivery);
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) Deno.exit(130); // second Ctrl-C: give up on the flush
    log.info("Stopping: flushing what is buffered (Ctrl-C again to quit at once)");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  log.info("Producing {profile} at {rate} events/s to {target}, seed {seed}, run {runId}", {
    profile: values.profile ?? "steady",
    rate,
    target: delivery.describe,
    seed,
    runId,
  });
  const printer = progressPrinter(log, sender);
  const started = performance.now();
  let maxLagMs = 0;
  const result = await runProducer({
    rateAt,
    durationMs,
    maxEvents,
    signal: abort.signal,
    onProgress: (p) => {
      maxLagMs = Math.max(maxLagMs, p.maxLagMs);
      metrics.observeProgress(p);
      printer.print(p);
    },
  }, { next: run.next, sender });
  maxLagMs = Math.max(maxLagMs, result.maxLagMs);
  const flushedS = (performance.now() - started) / 1000;
  printer.end();

  const totals: LedgerTotals = ledger.totals();
  const windowS = result.elapsedMs / 1000;
  const summary = {
    seed,
    runId,
    profile: values.profile ?? "steady",
    targetAvgRate: windowS > 0 ? Math.round(result.due / windowS) : 0,
    due: result.due,
    sent: result.sent,
    acked: sender.stats.ackedEvents,
    failed: sender.stats.failedEvents,
    retried: sender.stats.retriedEntries,
    messages: sender.stats.messages,
    batches: sender.stats.batches,
    windowS: Number(windowS.toFixed(3)),
    sentRate: windowS > 0 ? Math.round(result.sent / windowS) : 0,
    ackedRate: flushedS > 0 ? Math.round(sender.stats.ackedEvents / flushedS) : 0,
    accuracy: result.due > 0 ? Number((result.sent / result.due).toFixed(4)) : 1,
    /** Longest an event waited past its due time before the sender took it. */
    maxLagMs,
    injected: source.counts,
  };
  log.info("Done: {summary}", { summary });
  console.log(JSON.stringify(summary));
  await writeLedger(values.ledger, { ...totals, seed, injected: source.counts, run: run.scope() });
  await metrics.server?.shutdown();
  delivery.close();
  return totals.failed > 0 ? 1 : 0;
}

async function importCommand(config: Config, values: Values, file: string | undefined) {
  const log = getLogger(["scalestream", "producer", "csv"]);
  if (!file) throw new UsageError("import-csv needs a FILE", USAGE);
  try {
    if (!(await Deno.stat(file)).isFile) throw new UsageError(`"${file}" is not a file`, USAGE);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UsageError(`File "${file}" not found`, USAGE);
    }
    throw err;
  }
  const delivery = await openDelivery(config, values);
  const { sender, ledger } = delivery;
  const result = await importCsv(file, {
    send: (event) => sender.send(event, metaOf("unique", event)),
    // The row report is the command's output, in the compiler-style form editors can jump to.
    onRowError: (e) => console.error(`${file}:${e.line}: ${e.reason}`),
  });
  await sender.flush();
  const totals = ledger.totals();
  const summary = {
    file,
    rows: result.rows,
    sent: result.sent,
    invalid: result.invalid,
    acked: totals.accepted,
    failed: totals.failed,
    unmappedColumns: result.unmappedColumns,
  };
  log.info("Imported {summary}", { summary });
  console.log(JSON.stringify(summary));
  await writeLedger(values.ledger, totals);
  delivery.close();
  return totals.failed > 0 || result.invalid > 0 ? 1 : 0;
}

async function main(args: string[]): Promise<number> {
  if (args[0] === "reconcile") {
    return await (await import("./reconcile.ts")).reconcileCommand(args.slice(1));
  }
  if (args[0] === "dims") return await (await import("./cmd_dims.ts")).dimsCommand(args.slice(1));
  const { values, positionals } = parseFlags(args, USAGE, OPTIONS, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command !== undefined && command !== "import-csv") {
    throw new UsageError(`Unknown command "${command}"; the only command is import-csv`, USAGE);
  }
  if (rest.length > (command ? 1 : 0)) {
    throw new UsageError(`Unexpected argument "${rest.at(-1)}"`, USAGE);
  }
  const config = loadConfig(Deno.env.toObject());
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  return command === "import-csv"
    ? await importCommand(config, values, rest[0])
    : await produce(config, values);
}

if (import.meta.main) await runMain(main);
