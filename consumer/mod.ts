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
  type AggRow,
  type FlushContext,
  flushEvents,
  type FlushInput,
  type FlushResult,
  type FlushStage,
  preAggregate,
} from "./flush_events.ts";
export {
  deriveAll,
  deriveBatch,
  DERIVED_TABLES,
  derivedLagMs,
  type DerivedOptions,
  type DerivedWorker,
  loadBatches,
  rebuildDerived,
  startDerivedWorker,
  sweepDerived,
} from "./derived.ts";
export { computeCounters, countsAsShopper } from "./core_counters.ts";
export {
  type AnalyticsConfig,
  analyticsStages,
  runAnalyticsJobs,
  startAnalyticsJobs,
} from "./analytics_stages.ts";
export {
  type AlertDispatcher,
  type AlertDispatcherOptions,
  type AlertKind,
  createAlertDispatcher,
  type DispatchResult,
} from "./alert_dispatcher.ts";
export { rollUp, rollUpDirty, type RollUpOptions, type RollUpResult } from "./roll_up.ts";
/** Per-day user bitmaps for exact distinct users over long ranges (migration 0042). */
export { backfillUserSets } from "./user_sets.ts";
export { rebuildAggregates, type RebuildRange, type RebuildResult } from "./rebuild_aggregates.ts";
export {
  type MaintainOptions,
  maintainPartitions,
  type MaintainResult,
} from "./maintain_partitions.ts";
export { sweepSessions } from "./stage_sessions.ts";
export { detectAnomalies } from "./stage_anomalies.ts";
export {
  createEnricher,
  type Enricher,
  type EnricherOptions,
  type EnrichmentView,
  type EnrichStats,
  UNKNOWN_SEGMENT,
} from "./enrich.ts";
export { createHealthApp, type HealthAppDeps, startHealthServer } from "./health_server.ts";
export {
  type DlqReport,
  type DlqSample,
  inspectDlq,
  type InspectOptions,
  redriveDlq,
  type RedriveOptions,
  type RedriveResult,
} from "./dlq_tools.ts";
export {
  type ConsumerMetrics,
  type ConsumerMetricsHooks,
  createConsumerMetrics,
  E2E_LATE_AFTER_S,
  startConsumerMetrics,
} from "./metrics.ts";
export { type ConsumerRuntime, createConsumerRuntime } from "./consumer_runtime.ts";
