/**
 * The API on Deno Deploy: the same Hono app as the container, configured from the environment only
 * and writing nothing to the file system. `deno serve deploy/deno_deploy/main.ts` runs it locally
 * exactly as Deploy does; see docs/deno-deploy.md for the project settings and the database link.
 *
 * Differences from `api/main.ts`, on purpose: no migrations (DDL does not belong in many short-lived
 * isolates; the migrate task and consumers apply them), no queue creation (queues come from
 * `SQS_QUEUE_URL` / `SQS_DLQ_URL`, and without them ingestion and queue status are off), no signal
 * handling (Deploy ends isolates itself).
 */
import {
  apiOptionsFromConfig,
  cloudwatchOldestAge,
  createApiMetrics,
  createApp,
  createKeyStore,
} from "../../api/mod.ts";
import {
  ConfigError,
  createMetricsRegistry,
  createSql,
  createSqsClient,
  getLogger,
  loadConfig,
  setupLogging,
} from "../../shared/mod.ts";

const env = Deno.env.toObject();
const config = loadConfig(env);
// Deploy collects stdout/stderr; JSON lines keep the fields searchable in its log viewer.
await setupLogging({
  level: config.logLevel,
  format: config.logFormat === "auto" ? "json" : config.logFormat,
});
const log = getLogger(["scalestream", "api"]);
if (!config.databaseUrl) {
  throw new ConfigError(
    "DATABASE_URL",
    "DATABASE_URL is required on Deno Deploy (a PostgreSQL reachable over TLS, see docs/deno-deploy.md)",
  );
}
// Isolates are small and many: a few connections each, so a pooler sees a bounded total.
const sql = createSql(config.databaseUrl, {
  max: Math.min(config.dbPoolMax, 4),
  statementTimeoutMs: config.dbStatementTimeoutMs,
  applicationName: "scalestream-deno-deploy",
});
const queue = config.queueUrl
  ? {
    sqs: createSqsClient(config, env),
    queueUrl: config.queueUrl,
    ...(config.dlqUrl ? { dlqUrl: config.dlqUrl } : {}),
  }
  : {};
if (!config.queueUrl) {
  log.warn("SQS_QUEUE_URL is not set: POST /v1/events and queue status are off");
}
const options = await apiOptionsFromConfig(config);
const registry = createMetricsRegistry();
const app = createApp({
  sql,
  ...queue,
  keyStore: createKeyStore({ keys: options.apiKeys, sql }),
  ...options,
  metrics: () => registry.metrics(),
  middleware: [createApiMetrics(registry).middleware],
  ...(config.apiCloudwatchAge && config.queueUrl
    ? {
      oldestMessageAgeS: cloudwatchOldestAge({
        region: config.awsRegion,
        queueName: config.queueUrl.split("/").pop() ?? config.queueName,
      }),
    }
    : {}),
});

export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
