/** `deno task produce`: generates clickstream events at a target rate and sends them to SQS. */
import { parseArgs } from "node:util";
import {
  createSqsClient,
  ensureQueues,
  getLogger,
  loadConfig,
  setupLogging,
} from "../shared/mod.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  parseDuration,
  runProducer,
  type SentMeta,
  startProducerMetrics,
  uniqueEvents,
} from "./mod.ts";

const HELP = `Usage: deno task produce [options]

  --rate N          target events per second (default PRODUCER_RATE or 1000)
  --duration D      how long to run: 500ms, 30s, 2m, 1h (default: until Ctrl-C)
  --events N        stop after N events
  --seed N          seed of the generator (default 1)
  --users N         size of the user population (default 10000)
  --products N      size of the catalog (default 500)
  --ledger FILE     write what SQS acknowledged to FILE as JSON
  --help            show this help

Environment: SQS_ENDPOINT, SQS_QUEUE_NAME, PRODUCER_MAX_MESSAGE_BYTES, PRODUCER_LINGER_MS, …
(see README.md).`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string" },
    duration: { type: "string" },
    events: { type: "string" },
    seed: { type: "string", default: "1" },
    users: { type: "string", default: "10000" },
    products: { type: "string", default: "500" },
    ledger: { type: "string" },
    help: { type: "boolean", default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}

const positiveInt = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got "${v}"`);
    Deno.exit(2);
  }
  return n;
};

const config = loadConfig(Deno.env.toObject(), {
  producerRate: positiveInt("rate", values.rate),
});
await setupLogging({ level: config.logLevel, format: config.logFormat });
const log = getLogger(["scalestream", "producer"]);

const sqs = createSqsClient(config, Deno.env.toObject());
const { queueUrl } = await ensureQueues(sqs, config);
const ledger = createLedger();
const sender = createEventSender<SentMeta>({
  sqs,
  queueUrl,
  maxMessageBytes: config.maxMessageBytes,
  lingerMs: config.lingerMs,
  maxInflightBatches: config.maxInflightBatches,
  onAck: (metas) => ledger.acked(metas),
  onFail: (metas) => ledger.failed(metas),
});
const metrics = await startProducerMetrics({
  sqs,
  stats: () => sender.stats,
  port: config.producerMetricsPort,
});
const generator = createGenerator({
  seed: positiveInt("seed", values.seed),
  users: positiveInt("users", values.users),
  products: positiveInt("products", values.products),
});
const abort = new AbortController();
Deno.addSignalListener("SIGINT", () => abort.abort());
Deno.addSignalListener("SIGTERM", () => abort.abort());

let durationMs: number | undefined;
try {
  durationMs = values.duration ? parseDuration(values.duration) : undefined;
} catch (err) {
  console.error((err as Error).message);
  Deno.exit(2);
}

log.info("Producing {rate} events/s to {queueUrl}", { rate: config.producerRate, queueUrl });
const result = await runProducer({
  rateAt: () => config.producerRate,
  durationMs,
  maxEvents: positiveInt("events", values.events),
  signal: abort.signal,
  onProgress: (p) => {
    metrics.observeProgress(p);
    log.info(
      "target {target}/s achieved {achieved}/s sent {sent} acked {acked} failed {failed} retried {retried} in flight {inflight}",
      {
        target: p.targetRate,
        achieved: Math.round(p.achievedRate),
        sent: p.sent,
        acked: sender.stats.ackedEvents,
        failed: sender.stats.failedEvents,
        retried: sender.stats.retriedEntries,
        inflight: sender.stats.inflightBatches,
      },
    );
  },
}, { next: uniqueEvents(generator.next), sender });

const totals = ledger.totals();
log.info("Done: {sent} events sent, {acked} acknowledged in {messages} messages", {
  sent: result.sent,
  acked: totals.accepted,
  messages: sender.stats.messages,
});
if (values.ledger) await Deno.writeTextFile(values.ledger, JSON.stringify(totals, null, 2) + "\n");
await metrics.server?.shutdown();
sqs.destroy();
Deno.exit(totals.failed > 0 ? 1 : 0);
