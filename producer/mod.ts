/**
 * The producer: a seeded clickstream simulator (catalog, shoppers, sessions, inventory), injections
 * of deliberate trouble, rate profiles, an open-loop rate driver (sending through the sender core
 * in shared/), the ledger of what was acknowledged, and the partner CSV import.
 */
export {
  type Catalog,
  CATEGORIES,
  type Category,
  CATEGORY_PROFILES,
  createCatalog,
  type Product,
} from "./catalog.ts";
export {
  COUNTRIES,
  createPopulation,
  distanceKm,
  farCountry,
  type Segment,
  SEGMENT_PROFILES,
  SEGMENTS,
  type User,
} from "./population.ts";
export { createRandom, type Random, seededUuid, seededUuidV7 } from "./random.ts";
export { type RunScope, scopeRun } from "./run_scope.ts";
/** The ledger against what the pipeline stored (`deno task reconcile`). */
export {
  type Difference,
  formatDifferences,
  type LedgerFile,
  readLedger,
  reconcile,
  type ReconcileResult,
  runTotals,
  type StoredTotals,
} from "./reconcile.ts";
/** The simulator's catalogue and users as dimension rows (`deno task dims load`, `task dev`). */
export { dimensionsOf } from "./dimensions.ts";
/** The behaviour model: `createGenerator(opts).next(timeMs)` returns valid events only. */
export {
  createGenerator,
  DEFAULT_MIX,
  type Generator,
  type GeneratorOptions,
  INVENTORY_USER,
  parseExperiment,
  parseMix,
  type PlacedOrder,
  SESSION_TIMEOUT_MS,
  type SimulatedExperiment,
} from "./shopper_sessions.ts";
export {
  createEventSource,
  type EventSource,
  type EventSourceOptions,
  INJECTION_KINDS,
  type InjectionKind,
  type InjectionRates,
  type SourceItem,
} from "./injections.ts";
export { diurnalFactor, parseRateProfile, type RateProfile } from "./rate_profile.ts";
/** The sender core and both transports live in shared/ (the API and the server client use it too). */
export {
  createEventSender,
  createHttpSender,
  type EventSender,
  type EventSenderOptions,
  HTTP_MAX_BATCH_BYTES,
  HTTP_MAX_BATCH_EVENTS,
  type HttpSenderOptions,
  type IngestResponse,
  MAX_BATCH_BYTES,
  retryAfterMs,
  type SenderStats,
} from "../shared/mod.ts";
export {
  createLedger,
  emptyLedgerTotals,
  type Ledger,
  type LedgerTotals,
  metaOf,
  type SentKind,
  type SentMeta,
  sumLedgers,
} from "./ledger.ts";
export {
  type Progress,
  type RunOptions,
  runProducer,
  type RunProgress,
  uniqueEvents,
} from "./run_producer.ts";
export { parseDuration } from "./parse_duration.ts";
export {
  createProducerMetrics,
  type ProducerMetrics,
  type ProducerMetricsHooks,
  serveProducerMetrics,
  startProducerMetrics,
} from "./metrics.ts";
