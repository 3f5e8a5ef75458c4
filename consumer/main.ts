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
import {
  analyticsStages,
  createAlertDispatcher,
  createConsumer,
  runAnalyticsCommand,
  startAnalyticsJobs,
  startConsumerMetrics,
} from "./mod.ts";

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
// `deno task rebuild --from … --to …` and `deno task maintain`: one-shot analytics commands.
const command = Deno.args[0];
if (command === "rebuild" || command === "maintain") {
  try {
    const result = await runAnalyticsCommand(command, Deno.args.slice(1), { sql }, config);
    log.info("{command} done: {result}", { command, result: JSON.stringify(result) });
  } catch (err) {
    log.error("{command} failed: {error}", { command, error: String(err) });
    Deno.exitCode = 1;
  }
  await sql.end({ timeout: 5 });
  Deno.exit();
}
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
  stages: analyticsStages(config),
});
consumer.start();
const analyticsJobs = startAnalyticsJobs({ sql }, config);
const alerts = createAlertDispatcher({ sql }, {
  webhooks: {
    fraud: config.alertWebhookFraud,
    inventory: config.alertWebhookInventory,
    anomaly: config.alertWebhookAnomaly,
  },
  maxAttempts: config.alertMaxAttempts,
});
alerts.start();

const shutdown = async (signal: string) => {
  log.info("{signal} received; draining", { signal });
  await consumer.stop();
  metrics.stop();
  await analyticsJobs.stop();
  await alerts.stop();
  await sql.end({ timeout: 5 });
  sqs.destroy();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", () => void shutdown("SIGINT"));
Deno.addSignalListener("SIGTERM", () => void shutdown("SIGTERM"));
