/**
 * Shared foundations of ScaleStream: the event contract, configuration, logging, database and
 * queue clients, the message codec, migrations and the command line. The embedded local stack
 * (fauxqs, PGlite) lives in `deploy/local/`, outside every production program's import graph.
 */
export {
  canonicalJson,
  CONTRACT_SCHEMAS,
  deriveEventId,
  DEVICE_DIMENSIONS,
  DEVICE_TYPES,
  type DeviceType,
  type Event,
  EVENT_CONTRACTS,
  EVENT_FIELDS,
  EVENT_SCHEMA_VERSION,
  EVENT_TYPES,
  type EventContract,
  EventSchema,
  type EventType,
  LocationSchema,
  MAX_PRICE,
  MAX_QUANTITY,
  normalizeEvent,
  REQUIRED_BY_TYPE,
  revenueCents,
  STRICT_REQUIRED_BY_TYPE,
  StrictEventSchema,
  toCents,
  UNKNOWN,
  validateEvent,
  type ValidationResult,
} from "./event.ts";
export { compiledValidator, contractJsonSchema } from "./event_validator.ts";
export {
  checkInputLimits,
  decodeEvent,
  type DecodeResult,
  decodeUtf8,
  INPUT_LIMITS,
  type InputLimits,
  isUuid,
  jsonChunks,
  MAX_REJECT_PAYLOAD,
  parseEventBatch,
  printable,
  type RejectInfo,
  rejectInfo,
  uuidFromBytes,
} from "./event_decode.ts";
export {
  applyEventAliases,
  DEVICE_TYPE_ALIASES,
  EVENT_FIELD_ALIASES,
  EVENT_TYPE_ALIASES,
} from "./event_aliases.ts";
export { type PipelineTotals, pipelineTotals, totalsOf } from "./pipeline_totals.ts";
export {
  type Config,
  CONFIG_VARIABLES,
  ConfigError,
  type ConfigOverrides,
  loadConfig,
} from "./config.ts";
export { acceleratedClockSpec, type Clock, createClock, systemClock } from "./clock.ts";
export { getLogger, type Logger, setupLogging, teardownLogging, withContext } from "./log.ts";
export {
  createSql,
  ensureSchema,
  isPostgresWriteAfterClose,
  isTransientDbError,
  type Sql,
  type SqlOptions,
  type Tx,
} from "./db.ts";
export { settleWithin } from "./settle_within.ts";
export { delay } from "./delay.ts";
export { loadDimensions, type ProductDim, type UserDim } from "./load_dimensions.ts";
export {
  isTransientSqsError,
  isTransientStartupError,
  retryAtStartup,
  type StartupRetryOptions,
} from "./startup_retry.ts";
export {
  createSqsClient,
  ensureQueues,
  hasAwsCredentialSource,
  NO_SQS_MESSAGE,
  type QueueUrls,
  SQSClient,
} from "./sqs.ts";
export { parseFlags, runMain, UsageError } from "./cli.ts";
/**
 * The one sender core (producer, HTTP ingestion and the server client send through it) and its
 * transports: SQS `SendMessageBatch` and the HTTP ingestion API.
 */
export {
  type BatchSenderOptions,
  createBatchSender,
  type EventSender,
  type SealedUnit,
  type SenderStats,
  type SenderTransport,
  type UnitResult,
} from "./batch_sender.ts";
export {
  createEventSender,
  type EventSenderOptions,
  MAX_BATCH_BYTES,
  type SqsMessage,
  sqsTransport,
  type SqsTransportOptions,
} from "./sqs_transport.ts";
export {
  createHttpSender,
  HTTP_MAX_BATCH_BYTES,
  HTTP_MAX_BATCH_EVENTS,
  type HttpBatch,
  type HttpSenderOptions,
  httpTransport,
  type HttpTransportOptions,
  type IngestResponse,
  retryAfterMs,
} from "./http_transport.ts";
export {
  createDeleteBatcher,
  type DeleteBatcher,
  type DeleteBatcherOptions,
} from "./sqs_delete_batcher.ts";
export {
  BODY_ENCODINGS,
  type BodyEncoding,
  COUNT_ATTRIBUTE,
  DEFAULT_BODY_ENCODING,
  encodeBody,
  encodeEvent,
  ENCODING_ATTRIBUTE,
  escapeNonAscii,
  MAX_DECODED_BODY_BYTES,
  packBody,
  packedSize,
  PoisonMessageError,
  unpackBody,
} from "./message_codec.ts";
export {
  type BilledBreakdown,
  billedBreakdown,
  billedChunks,
  billedRequests,
  BILLING_CHUNK_BYTES,
  messageBytes,
  perMillionEvents,
} from "./sqs_billing.ts";
export {
  ACCEPTED_EARLIER_CHECKSUMS,
  checksum,
  migrate,
  MigrationChangedError,
  MIGRATIONS_DIR,
  readMigrations,
} from "./migrate.ts";
export {
  type BatchCheck,
  BatchCheckSchema,
  BatchDifferenceSchema,
  type CohortReport,
  CohortReportSchema,
  type ExperimentReport,
  ExperimentReportSchema,
} from "./lake_reports.ts";
export {
  Counter,
  createMetricsRegistry,
  derivedCounter,
  derivedGauge,
  DURATION_BUCKETS_S,
  Gauge,
  Histogram,
  instrumentSqsClient,
  LATENCY_BUCKETS_S,
  logMetricsEndpoint,
  type MetricsServer,
  metricsText,
  Registry,
  serveMetrics,
  TRACEPARENT_ATTRIBUTE,
  tracer,
} from "./metrics.ts";
export {
  CONSUMER_EMF_METRICS,
  EMF_METRIC,
  EMF_NAMESPACE,
  type EmfMetricSpec,
  type EmfPublisher,
  startEmfPublisher,
} from "./emf_metrics.ts";
export {
  createQueueDepthMonitor,
  type QueueDepth,
  type QueueDepthHooks,
  type QueueDepthMonitor,
  type QueueDepthSnapshot,
  readQueueDepth,
} from "./queue_depth.ts";
export { type RawEventRow, rowToEvent } from "./event_row.ts";
export { type SessionRow } from "./session_row.ts";
export { type UserFeaturesRow } from "./user_features_row.ts";
