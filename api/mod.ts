/** The HTTP API: a Hono app factory and its route handlers. */
export { type AppDeps, createApp } from "./app.ts";
export { type PipelineTotals, pipelineTotals } from "./routes/pipeline_totals.ts";
export { type ApiMetrics, createApiMetrics, withMetrics } from "./metrics.ts";
