/**
 * `deno task dev`: the whole pipeline in one process on its embedded defaults. With no
 * configuration it starts fauxqs and PGlite in-process; `SQS_ENDPOINT` and `DATABASE_URL` point it at
 * real ones instead. Producer → SQS → consumer → PostgreSQL → API, until Ctrl-C.
 */
import {
  createClock,
  createSql,
  createSqsClient,
  ensureQueues,
  ensureSchema,
  getLogger,
  loadConfig,
  loadDimensions,
  migrate,
  MigrationChangedError,
  parseFlags,
  setupLogging,
} from "./shared/mod.ts";
import {
  type EmbeddedService,
  startEmbeddedPostgres,
  startEmbeddedSqs,
} from "./deploy/local/mod.ts";
import { createConsumerRuntime } from "./consumer/mod.ts";
import {
  apiOptionsFromConfig,
  createApiMetrics,
  createApp,
  createResponseCache,
  pipelineTotals,
  registerLakeMetrics,
} from "./api/mod.ts";
import { createS3Client, ensureBucket } from "./consumer/lake/mod.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  createProducerMetrics,
  dimensionsOf,
  parseExperiment,
  runProducer,
  type SentMeta,
  uniqueEvents,
} from "./producer/mod.ts";

const USAGE = `Usage: deno task dev

  The whole pipeline in one process: producer, SQS, consumer, PostgreSQL and the API with its
  dashboard at http://127.0.0.1:8080/. Without SQS_ENDPOINT and DATABASE_URL it starts fauxqs and
  PGlite in-process. Settings come from the environment (see docs/configuration.md). Ctrl-C stops it.`;

// The only flag is --help; anything else is a usage error (exit 2), before anything starts.
try {
  if (parseFlags(Deno.args, USAGE, { help: { type: "boolean" } }).values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
} catch (err) {
  console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
  Deno.exit(2);
}

const env = Deno.env.toObject();
const base = loadConfig(env);
await setupLogging({ level: base.logLevel, format: base.logFormat });
const log = getLogger(["scalestream", "dev"]);

const embedded: EmbeddedService[] = [];
let sqsEndpoint = base.sqsEndpoint;
if (!sqsEndpoint) {
  const s = await startEmbeddedSqs();
  embedded.push(s);
  sqsEndpoint = s.url;
  log.info(`Embedded SQS (fauxqs) at ${s.url}`, { url: s.url });
}
let databaseUrl = base.databaseUrl;
let poolMax = base.dbPoolMax;
if (!databaseUrl) {
  // On disk, not in memory: PGlite's in-memory file system holds every stored row in this process.
  const dataDir = base.devDataDir;
  if (!dataDir.startsWith("memory://")) await Deno.mkdir(dataDir, { recursive: true });
  const pg = await startEmbeddedPostgres({ dataDir });
  embedded.push(pg);
  databaseUrl = pg.url;
  poolMax = 1; // PGlite is a single backend
  log.info(`Embedded PostgreSQL (PGlite) at ${pg.url}, data in {dataDir}`, {
    url: pg.url,
    dataDir,
  });
}
const config = loadConfig(env, { sqsEndpoint, databaseUrl, dbPoolMax: poolMax });

const sql = createSql(databaseUrl, {
  max: poolMax,
  applicationName: "scalestream-dev",
  ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
});
await ensureSchema(sql, config.dbSchema);
try {
  await migrate(sql);
} catch (err) {
  if (!(err instanceof MigrationChangedError)) throw err;
  console.error(`error: ${err.message}`);
  Deno.exit(1);
}
// The dimensions of the simulated shop, so enrichment finds its products and users.
const generator = createGenerator({
  seed: Date.now() % 1e9,
  ...(config.producerExperiment ? { experiment: parseExperiment(config.producerExperiment) } : {}),
});
await loadDimensions(dimensionsOf(generator), { sql });
const sqs = createSqsClient(config, env);
const { queueUrl, dlqUrl } = await ensureQueues(sqs, config);
log.info(`Queue ${queueUrl} with dead-letter queue ${dlqUrl}`, { queueUrl, dlqUrl });

// One metrics registry for the whole pipeline, served by the API at /metrics.
const runtime = createConsumerRuntime({
  sql,
  sqs,
  queueUrl,
  dlqUrl,
  config,
  workerId: `dev-${Deno.pid}`,
  clock: createClock(config.clockSpec),
  // PGlite's one connection is the session; a real PostgreSQL gets one connection of its own.
  ...(poolMax > 1
    ? {
      maintenanceSession: createSql(databaseUrl, {
        max: 1,
        applicationName: "scalestream-maintenance",
        ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
      }),
    }
    : {}),
});
const { consumer, metrics } = runtime;
runtime.start();

// The data lake on fauxqs's S3 (or LAKE_S3_ENDPOINT / AWS): export, batch view and reports on an
// interval. DuckDB is loaded only here, on the first run.
const s3 = createS3Client(config, env);
if (config.lakeCreateBucket) await ensureBucket(s3, config.lakeBucket);
registerLakeMetrics(metrics.registry, { sql });
let lakeRun: Promise<unknown> | null = null;
const lakeTimer = config.lakeExportIntervalMs > 0
  ? setInterval(() => {
    lakeRun ??= import("./consumer/lake/run_lake_jobs.ts")
      .then(({ runLakeJobs }) =>
        runLakeJobs({
          sql,
          s3,
          bucket: config.lakeBucket,
          prefix: config.lakePrefix,
          cacheDir: config.lakeCacheDir,
        }, { maxRows: config.lakeExportMaxRows })
      )
      .then((r) => {
        if (r.export.rows > 0) {
          log.info("Lake: exported {rows} events; batch view differences {differences}", {
            rows: r.export.rows,
            differences: r.checks.reduce((n, c) => n + c.differences, 0),
          });
        }
      })
      .catch((err) => log.error("Lake jobs failed: {error}", { error: String(err) }))
      .finally(() => lakeRun = null);
  }, config.lakeExportIntervalMs)
  : undefined;

const app = createApp({
  sql,
  sqs,
  queueUrl,
  dlqUrl,
  ...(await apiOptionsFromConfig(config)),
  metrics: () => metrics.registry.metrics(),
  middleware: [createApiMetrics(metrics.registry).middleware],
  cache: createResponseCache({ registry: metrics.registry }),
});
const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) => {
    // URLs go into the message as text: a {placeholder} would print them quoted.
    const url = `http://${hostname}:${port}`;
    log.info(`API on ${url} (dashboard at ${url}/, try ${url}/v1/pipeline/totals)`, { url });
    log.info(`Metrics of producer, consumer, queue depth and API at ${url}/metrics`, { url });
  },
}, app.fetch);

const ledger = createLedger();
const sender = createEventSender<SentMeta>({
  sqs,
  queueUrl,
  maxMessageBytes: config.maxMessageBytes,
  lingerMs: config.lingerMs,
  maxInflightBatches: config.maxInflightBatches,
  encoding: config.producerEncoding,
  onAck: (m) => ledger.acked(m),
  onFail: (m) => ledger.failed(m),
});
const producerMetrics = createProducerMetrics(metrics.registry, { stats: () => sender.stats });
const stopProducer = new AbortController();
const producing = runProducer({
  rateAt: () => config.producerRate,
  onProgress: producerMetrics.observeProgress,
  signal: stopProducer.signal,
}, { next: uniqueEvents(generator.next), sender });

const report = setInterval(async () => {
  try {
    const t = await pipelineTotals({ sql });
    log.info(
      "sent {sent} · stored {stored} · revenue {revenue} · rejected {rejected} · duplicates {duplicates} · in flight {inflight}",
      {
        sent: ledger.totals().accepted,
        stored: t.stored,
        revenue: t.revenue.toFixed(2),
        rejected: t.rejected,
        duplicates: t.duplicates,
        inflight: consumer.stats.inflightEvents,
      },
    );
  } catch (err) {
    log.warn("Could not read totals: {error}", { error: String(err) });
  }
}, 5000);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  log.info("Stopping: producer, then consumer drain, then API and embedded services");
  clearInterval(report);
  clearInterval(lakeTimer);
  stopProducer.abort();
  await producing;
  await runtime.stop();
  await lakeRun;
  s3.destroy();
  await app.close();
  await server.shutdown();
  await sql.end({ timeout: 5 });
  sqs.destroy();
  for (const s of embedded.reverse()) await s.stop();
  const t = ledger.totals();
  log.info("Sent {accepted} events; bye", { accepted: t.accepted });
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", () => void shutdown());
Deno.addSignalListener("SIGTERM", () => void shutdown());
