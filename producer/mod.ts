/** The producer: a seeded clickstream generator, an open-loop rate driver and the SQS packer. */
export {
  CATEGORIES,
  createGenerator,
  createRandom,
  DEFAULT_MIX,
  type Generator,
  type GeneratorOptions,
  type Product,
  seededUuid,
  type User,
} from "./generate_events.ts";
export {
  createEventSender,
  type EventSender,
  type EventSenderOptions,
  MAX_BATCH_BYTES,
  type SenderStats,
} from "./event_sender.ts";
export {
  createLedger,
  type Ledger,
  type LedgerTotals,
  metaOf,
  type SentKind,
  type SentMeta,
} from "./ledger.ts";
export { type Progress, type RunOptions, runProducer, uniqueEvents } from "./run_producer.ts";
export { parseDuration } from "./parse_duration.ts";
export {
  createProducerMetrics,
  type ProducerMetrics,
  type ProducerMetricsHooks,
  serveProducerMetrics,
  startProducerMetrics,
} from "./metrics.ts";
