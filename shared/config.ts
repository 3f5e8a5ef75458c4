/**
 * Typed configuration: an explicit value wins, then the environment, then the default. Every value
 * is validated at start-up and a bad one fails with an error naming its environment variable.
 */
import { z } from "zod";
import { BODY_ENCODINGS, DEFAULT_BODY_ENCODING } from "./message_codec.ts";
import { EVENT_CONTRACTS } from "./event.ts";

/** A configuration value that cannot be used; `variable` names the environment variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "ERR_CONFIG";
  constructor(readonly variable: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) =>
  v === "true" || v === "1" || v === "yes"
);

/** Each setting: its environment variable and its schema (with the default). */
const SETTINGS = {
  databaseUrl: ["DATABASE_URL", z.string().url().optional()],
  dbPoolMax: ["DB_POOL_MAX", int(1, 200).default(4)],
  dbStatementTimeoutMs: ["DB_STATEMENT_TIMEOUT_MS", int(0, 3_600_000).default(30_000)],
  /** Schema every program puts first on its search_path (tests run children against their own). */
  dbSchema: ["DB_SCHEMA", z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional()],

  awsRegion: ["AWS_REGION", z.string().min(1).default("us-east-1")],
  sqsEndpoint: ["SQS_ENDPOINT", z.string().url().optional()],
  queueName: ["SQS_QUEUE_NAME", z.string().regex(/^[\w-]{1,80}$/).default("scalestream-events")],
  queueUrl: ["SQS_QUEUE_URL", z.string().url().optional()],
  dlqName: ["SQS_DLQ_NAME", z.string().regex(/^[\w-]{1,80}$/).default("scalestream-events-dlq")],
  dlqUrl: ["SQS_DLQ_URL", z.string().url().optional()],
  maxReceiveCount: ["SQS_MAX_RECEIVE_COUNT", int(1, 1000).default(5)],
  queueRetentionS: ["SQS_RETENTION_S", int(60, 1_209_600).default(345_600)],
  dlqRetentionS: ["SQS_DLQ_RETENTION_S", int(60, 1_209_600).default(1_209_600)],
  createQueues: ["SQS_CREATE_QUEUES", bool.default(true)],

  maxMessageBytes: ["PRODUCER_MAX_MESSAGE_BYTES", int(1024, 1_048_576).default(65_536)],
  lingerMs: ["PRODUCER_LINGER_MS", int(0, 10_000).default(50)],
  maxInflightBatches: ["PRODUCER_MAX_INFLIGHT_BATCHES", int(1, 256).default(16)],
  /** Body encoding producers write (issue 20); consumers read every one of them. */
  producerEncoding: ["PRODUCER_ENCODING", z.enum(BODY_ENCODINGS).default(DEFAULT_BODY_ENCODING)],
  producerRate: ["PRODUCER_RATE", int(1, 10_000_000).default(1000)],
  // Producer (issue 3): the HTTP target, `--target http`.
  producerApiUrl: ["API_URL", z.string().url().default("http://127.0.0.1:8080")],
  producerApiKey: ["SCALESTREAM_API_KEY", z.string().min(1).optional()],
  /** A simulated A/B test, NAME:LIFT[:TREATMENT_SHARE] (`deno task dev`; `--experiment` wins). */
  producerExperiment: ["PRODUCER_EXPERIMENT", z.string().min(1).optional()],

  pollers: ["CONSUMER_POLLERS", int(1, 64).default(4)],
  waitTimeS: ["CONSUMER_WAIT_TIME_S", int(0, 20).default(20)],
  /** Wait after a receive that returned fewer than 10 messages, so the next one comes back fuller. */
  receiveLingerMs: ["CONSUMER_RECEIVE_LINGER_MS", int(0, 10_000).default(100)],
  /**
   * Longest a committed message waits for nine others before a partial DeleteMessageBatch goes
   * out (issue 20). It adds nothing to end-to-end latency: the events are committed already.
   */
  deleteMaxWaitMs: ["CONSUMER_DELETE_MAX_WAIT_MS", int(0, 10_000).default(200)],
  visibilityTimeoutS: ["CONSUMER_VISIBILITY_TIMEOUT_S", int(5, 43_200).default(30)],
  maxInflightEvents: ["CONSUMER_MAX_INFLIGHT_EVENTS", int(100, 10_000_000).default(100_000)],
  maxInflightBytes: ["CONSUMER_MAX_INFLIGHT_BYTES", int(65_536, 4_294_967_296).default(67_108_864)],
  flushMaxEvents: ["CONSUMER_FLUSH_MAX_EVENTS", int(1, 1_000_000).default(5000)],
  flushMaxMs: ["CONSUMER_FLUSH_MAX_MS", int(1, 60_000).default(100)],
  flushConcurrency: ["CONSUMER_FLUSH_CONCURRENCY", int(1, 16).default(2)],
  shutdownDeadlineMs: ["CONSUMER_SHUTDOWN_DEADLINE_MS", int(1000, 600_000).default(25_000)],
  /** How long programs wait for PostgreSQL and SQS at start-up before giving up. */
  startupRetryMs: ["STARTUP_RETRY_MS", int(0, 3_600_000).default(120_000)],
  /**
   * Which event contract HTTP ingestion and consumers enforce: "lenient" (only type, user, time,
   * and price and quantity on a purchase required) or "strict" (every field of the old schema).
   */
  eventContract: ["EVENT_CONTRACT", z.enum(EVENT_CONTRACTS).default("lenient")],
  lateHorizonS: ["LATE_HORIZON_S", int(60, 31_536_000).default(86_400)],
  futureSkewS: ["FUTURE_SKEW_S", int(0, 86_400).default(300)],
  workerId: ["WORKER_ID", z.string().regex(/^[\w.-]{1,64}$/).optional()],
  // Consumer (consumer helper): health server, status rows, enrichment cache, DLQ redrive.
  consumerHealthPort: ["CONSUMER_HEALTH_PORT", int(0, 65_535).default(8081)],
  consumerStatusIntervalMs: ["CONSUMER_STATUS_INTERVAL_MS", int(0, 600_000).default(2000)],
  enrichCacheTtlMs: ["ENRICH_CACHE_TTL_MS", int(0, 86_400_000).default(300_000)],
  enrichCacheMaxEntries: ["ENRICH_CACHE_MAX_ENTRIES", int(0, 10_000_000).default(200_000)],
  dlqRedriveRate: ["DLQ_REDRIVE_RATE", int(1, 100_000).default(100)],

  port: ["PORT", int(0, 65_535).default(8080)],
  host: ["HOST", z.string().min(1).default("127.0.0.1")],

  // Analytics (issue 5): fraud, inventory, sessions, anomalies, alert delivery, retention.
  fraudAlertThreshold: ["FRAUD_ALERT_THRESHOLD", int(0, 100).default(70)],
  fraudHighValueCents: ["FRAUD_HIGH_VALUE_CENTS", int(0, 1_000_000_000).default(200_000)],
  fraudWindowS: ["FRAUD_WINDOW_S", int(60, 86_400).default(600)],
  fraudIpOrders: ["FRAUD_IP_ORDERS", int(2, 1000).default(3)],
  fraudVelocityOrders: ["FRAUD_VELOCITY_ORDERS", int(2, 1000).default(3)],
  inventoryAlertThreshold: ["INVENTORY_ALERT_THRESHOLD", int(0, 1_000_000).default(10)],
  reorderLeadDays: ["INVENTORY_REORDER_LEAD_DAYS", int(1, 365).default(7)],
  sessionTimeoutS: ["SESSION_TIMEOUT_S", int(60, 86_400).default(1800)],
  botEventsPerMinute: ["BOT_EVENTS_PER_MINUTE", int(10, 1_000_000).default(120)],
  anomalyZThreshold: ["ANOMALY_Z_THRESHOLD", z.coerce.number().min(1).max(100).default(4)],
  anomalyEwmaAlpha: ["ANOMALY_EWMA_ALPHA", z.coerce.number().gt(0).lt(1).default(0.2)],
  anomalyWarmupMinutes: ["ANOMALY_WARMUP_MINUTES", int(1, 10_000).default(10)],
  rejectRateThreshold: ["REJECT_RATE_THRESHOLD", z.coerce.number().gt(0).max(1).default(0.05)],
  analyticsIntervalMs: ["ANALYTICS_INTERVAL_MS", int(100, 3_600_000).default(10_000)],
  alertWebhookFraud: ["ALERT_WEBHOOK_FRAUD", z.string().url().optional()],
  alertWebhookInventory: ["ALERT_WEBHOOK_INVENTORY", z.string().url().optional()],
  alertWebhookAnomaly: ["ALERT_WEBHOOK_ANOMALY", z.string().url().optional()],
  alertMaxAttempts: ["ALERT_MAX_ATTEMPTS", int(1, 100).default(8)],
  retentionDays: ["RETENTION_DAYS", int(1, 3650).default(7)],
  analyticsStages: [
    "ANALYTICS_STAGES",
    z.string().default("windows,orders,sessions,features,fraud,inventory").transform((s) =>
      s.split(",").map((x) => x.trim()).filter((x) => x !== "")
    ).pipe(z.array(z.enum(["windows", "orders", "sessions", "features", "fraud", "inventory"]))),
  ],

  // API (issue 6). API_KEYS never fails validation, so its value never reaches an error message.
  apiKeys: ["API_KEYS", z.string().optional()],
  corsOrigins: ["CORS_ORIGINS", z.string().default("")],
  apiRateLimitRps: ["API_RATE_LIMIT_RPS", z.coerce.number().min(0).max(1_000_000).default(200)],
  apiRateLimitBurst: ["API_RATE_LIMIT_BURST", int(1, 10_000_000).default(400)],
  apiStreamIntervalMs: ["API_STREAM_INTERVAL_MS", int(100, 60_000).default(1000)],
  apiCloudwatchAge: ["API_CLOUDWATCH_AGE", bool.default(false)],

  // Monitoring (issue 7): the producer's own /metrics port (0 = off) and the queue-depth poll.
  producerMetricsPort: ["PRODUCER_METRICS_PORT", int(0, 65_535).default(0)],
  queueDepthIntervalMs: ["QUEUE_DEPTH_INTERVAL_MS", int(0, 3_600_000).default(5000)],
  // Operations (issue 16): application metrics to CloudWatch as EMF lines on stdout (ECS sets it).
  cloudwatchEmf: ["CLOUDWATCH_EMF", bool.default(false)],
  /**
   * Where `deno task dev` keeps its embedded PostgreSQL (PGlite) data; "memory://" keeps it in
   * memory, which grows with every event stored (issue 16).
   */
  /** An accelerated clock for soak runs (shared/clock.ts); unset = the system clock. */
  clockSpec: ["SCALESTREAM_CLOCK", z.string().regex(/^\S+@[\d.]+x(@\d+)?$/).optional()],
  // Maintenance in process: one consumer elected by advisory lock runs it this often (0 = never).
  maintenanceIntervalMs: ["MAINTENANCE_INTERVAL_MS", int(0, 86_400_000).default(300_000)],
  /** Per-table retention in days over the defaults, e.g. "rejects=90,sessions=14". */
  retentionOverrides: [
    "RETENTION_OVERRIDES",
    z.string().default("").transform((s, ctx) => {
      const out: Record<string, number> = {};
      for (const part of s.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
        const m = /^([a-z_][a-z0-9_]*)=(\d+(?:\.\d+)?)$/.exec(part);
        if (!m || !(Number(m[2]) > 0)) {
          ctx.addIssue({ code: "custom", message: `"${part}" is not table=days (days > 0)` });
          return z.NEVER;
        }
        out[m[1]!] = Number(m[2]);
      }
      return out;
    }),
  ],
  devDataDir: ["DEV_DATA_DIR", z.string().min(1).default(".scalestream/pglite")],
  cloudwatchEmfIntervalMs: ["CLOUDWATCH_EMF_INTERVAL_MS", int(1000, 3_600_000).default(60_000)],

  // Data lake (issue 18): Parquet on S3 (fauxqs serves S3 locally), exported every interval.
  lakeBucket: [
    "LAKE_BUCKET",
    z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/).default(
      "scalestream-lake",
    ),
  ],
  /** S3 endpoint for fauxqs or another emulator; unset = AWS S3, or SQS_ENDPOINT when that is set. */
  lakeS3Endpoint: ["LAKE_S3_ENDPOINT", z.string().url().optional()],
  lakePrefix: ["LAKE_PREFIX", z.string().regex(/^([\w.-]+\/)*$/).default("")],
  lakeCreateBucket: ["LAKE_CREATE_BUCKET", bool.default(true)],
  lakeCacheDir: ["LAKE_CACHE_DIR", z.string().min(1).default(".lake-cache")],
  /** 0 = the in-process export interval is off (a scheduler or `deno task export` runs it). */
  lakeExportIntervalMs: ["LAKE_EXPORT_INTERVAL_MS", int(0, 86_400_000).default(60_000)],
  lakeExportMaxRows: ["LAKE_EXPORT_MAX_ROWS", int(1, 10_000_000).default(200_000)],

  logLevel: [
    "LOG_LEVEL",
    z.enum(["trace", "debug", "info", "warning", "error", "fatal"]).default("info"),
  ],
  logFormat: ["LOG_FORMAT", z.enum(["auto", "json", "pretty"]).default("auto")],
} as const satisfies Record<string, readonly [string, z.ZodType]>;

type Settings = typeof SETTINGS;
/** The validated configuration of every ScaleStream program. */
export type Config = { -readonly [K in keyof Settings]: z.output<Settings[K][1]> };
/** Values given explicitly, by setting name; they win over the environment. */
export type ConfigOverrides = { [K in keyof Config]?: z.input<Settings[K][1]> };

/** The environment variable behind each setting, for documentation and error messages. */
export const CONFIG_VARIABLES: Readonly<Record<keyof Config, string>> = Object.fromEntries(
  Object.entries(SETTINGS).map(([k, [v]]) => [k, v]),
) as Record<keyof Config, string>;

/**
 * Loads and validates the configuration from explicit overrides, then `env`, then defaults.
 * Throws {@linkcode ConfigError} naming the first variable that is invalid.
 */
export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  overrides: ConfigOverrides = {},
): Config {
  const out: Record<string, unknown> = {};
  for (const [key, [variable, schema]] of Object.entries(SETTINGS)) {
    const explicit = (overrides as Record<string, unknown>)[key];
    const raw = explicit !== undefined ? explicit : emptyToUndefined(env[variable]);
    const parsed = (schema as z.ZodType).safeParse(raw);
    if (!parsed.success) {
      const why = parsed.error.issues[0]?.message ?? "invalid value";
      throw new ConfigError(variable, `Invalid ${variable} "${String(raw)}": ${why}`, {
        cause: parsed.error,
      });
    }
    out[key] = parsed.data;
  }
  const config = out as Config;
  if (config.flushMaxEvents > config.maxInflightEvents) {
    throw new ConfigError(
      "CONSUMER_FLUSH_MAX_EVENTS",
      `CONSUMER_FLUSH_MAX_EVENTS "${config.flushMaxEvents}" exceeds CONSUMER_MAX_INFLIGHT_EVENTS "${config.maxInflightEvents}"`,
    );
  }
  return config;
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}
