/** The HTTP API: a Hono app factory, its route handlers, API keys and middleware. */
export { type ApiApp, type ApiEnv, apiOptionsFromConfig, type AppDeps, createApp } from "./app.ts";
export {
  type ApiKeyRecord,
  createApiKey,
  createKeyStore,
  hashApiKey,
  type KeyStore,
  listApiKeys,
  MAX_KEY_ORIGINS,
  parseApiKeys,
  parseOrigin,
  parseScopes,
  PUBLISHABLE_KEY_PREFIX,
  revokeApiKey,
  type Scope,
  SCOPES,
} from "./api_keys.ts";
export { createLivePoller, type LivePoller, type LivePollerOptions } from "./live_poller.ts";
export { createEventIngestor, type EventIngestor } from "./event_ingestor.ts";
export { ApiProblem, type Problem } from "./problem.ts";
export { type PipelineTotals, pipelineTotals } from "./routes/pipeline_totals.ts";
export { type PipelineStatus, pipelineStatus } from "./routes/pipeline_status.ts";
export { type EventStatus, eventStatus } from "./routes/event_status.ts";
export { type LakeStatus, lakeStatus, registerLakeMetrics } from "./routes/lake.ts";
export {
  type IngestResult,
  MAX_BODY_BYTES,
  MAX_EVENTS_PER_REQUEST,
} from "./routes/ingest_events.ts";
export { cloudwatchOldestAge } from "./cloudwatch_oldest_age.ts";
export { type ApiMetrics, createApiMetrics, withMetrics } from "./metrics.ts";
export {
  type CachedAnswer,
  createResponseCache,
  type ResponseCache,
  type ResponseCacheOptions,
  type ResponseCacheStats,
} from "./response_cache.ts";
