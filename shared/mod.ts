/**
 * Shared foundations of ScaleStream: the event contract, configuration, logging, database and
 * queue clients, the message codec, migrations and the embedded local stack.
 */
export {
  DEVICE_TYPES,
  type DeviceType,
  type Event,
  EVENT_TYPES,
  EventSchema,
  type EventType,
  LocationSchema,
  MAX_PRICE,
  MAX_QUANTITY,
  REQUIRED_BY_TYPE,
  revenueCents,
  toCents,
  validateEvent,
  type ValidationResult,
} from "./event.ts";
export {
  type Config,
  CONFIG_VARIABLES,
  ConfigError,
  type ConfigOverrides,
  loadConfig,
} from "./config.ts";
export { getLogger, type Logger, setupLogging, teardownLogging } from "./log.ts";
export {
  createSql,
  ensureSchema,
  isTransientDbError,
  type Sql,
  type SqlOptions,
  type Tx,
} from "./db.ts";
export { createSqsClient, ensureQueues, type QueueUrls, SQSClient } from "./sqs.ts";
export {
  type BodyEncoding,
  COUNT_ATTRIBUTE,
  encodeEvent,
  ENCODING_ATTRIBUTE,
  escapeNonAscii,
  packBody,
  packedSize,
  PoisonMessageError,
  unpackBody,
} from "./message_codec.ts";
export { migrate, MIGRATIONS_DIR, readMigrations } from "./migrate.ts";
export { type EmbeddedService, startEmbeddedPostgres, startEmbeddedSqs } from "./local_stack.ts";
