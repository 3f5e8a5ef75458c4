/** The consumer: SQS long polls, decoding, one-transaction flushes, deletes after commit. */
export {
  type Consumer,
  type ConsumerConfig,
  type ConsumerDeps,
  type ConsumerStats,
  createConsumer,
} from "./consumer.ts";
export {
  type AcceptedEvent,
  type DecodedMessage,
  decodeMessage,
  type EventTimeWindow,
  MAX_REJECT_PAYLOAD,
  type RejectKind,
  type RejectRow,
} from "./decode_message.ts";
export {
  type FlushContext,
  flushEvents,
  type FlushInput,
  type FlushResult,
  type FlushStage,
} from "./flush_events.ts";
export {
  type ConsumerMetrics,
  type ConsumerMetricsHooks,
  createConsumerMetrics,
  E2E_LATE_AFTER_S,
  startConsumerMetrics,
} from "./metrics.ts";
