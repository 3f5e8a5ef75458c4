/** `deno task consume`: one consumer process (a Fargate task), until SIGTERM or SIGINT. */
import {
  createSql,
  createSqsClient,
  ensureQueues,
  getLogger,
  loadConfig,
  migrate,
  setupLogging,
} from "../shared/mod.ts";
import { createConsumer, startConsumerMetrics } from "./mod.ts";

const config = loadConfig();
await setupLogging({ level: config.logLevel, format: config.logFormat });
const log = getLogger(["scalestream", "consumer"]);
if (!config.databaseUrl) {
  log.error(
    "DATABASE_URL is required for the consumer; use `deno task dev` for the embedded stack",
  );
  Deno.exit(2);
}
const sql = createSql(config.databaseUrl, {
  max: config.dbPoolMax,
  statementTimeoutMs: config.dbStatementTimeoutMs,
  applicationName: "scalestream-consumer",
});
await migrate(sql);
const sqs = createSqsClient(config, Deno.env.toObject());
const { queueUrl, dlqUrl } = await ensureQueues(sqs, config);
const workerId = config.workerId ?? `${Deno.hostname()}-${Deno.pid}`;
const metrics = startConsumerMetrics({
  sqs,
  queueUrl,
  dlqUrl,
  stats: () => consumer.stats,
  queueDepthIntervalMs: config.queueDepthIntervalMs,
});
const consumer = createConsumer({
  sql: metrics.instrumentSql(sql),
  sqs,
  queueUrl,
  config,
  workerId,
  onFlush: metrics.onFlush,
});
consumer.start();

const shutdown = async (signal: string) => {
  log.info("{signal} received; draining", { signal });
  await consumer.stop();
  metrics.stop();
  await sql.end({ timeout: 5 });
  sqs.destroy();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", () => void shutdown("SIGINT"));
Deno.addSignalListener("SIGTERM", () => void shutdown("SIGTERM"));
