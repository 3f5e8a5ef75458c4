/**
 * The Hono app. It is a plain module, so the same app serves under `Deno.serve` in a container and
 * on Deno Deploy; every resource comes in through `createApp(deps)`, and the app writes no files
 * and keeps no state beyond its own closures (the ingestion sender, the live poller, rate buckets).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import {
  type Config,
  type EventContract,
  getLogger,
  type Sql,
  type SQSClient,
} from "../shared/mod.ts";
import {
  type ApiKeyRecord,
  createKeyStore,
  type KeyStore,
  parseApiKeys,
  type Scope,
} from "./api_keys.ts";
import { createEventIngestor, type EventIngestor } from "./event_ingestor.ts";
import { createLivePoller, type LivePoller } from "./live_poller.ts";
import { createDefaultViewReader } from "./live_view.ts";
import { createResponseCache, respond, type ResponseCache } from "./response_cache.ts";
import {
  apiKeyAuth,
  type AuthVariables,
  corsAllowList,
  parseOrigins,
  peerRateLimit,
  publishableCors,
  rateLimit,
} from "./middleware/mod.ts";
import { registerEventSchema } from "./openapi.ts";
import { rejectUnsafeParams } from "./params.ts";
import { ApiProblem, problemResponse, validationHook } from "./problem.ts";
import { DOCS_HTML } from "./routes/docs.ts";
import { eventStatus, eventStatusRoute } from "./routes/event_status.ts";
import { health, healthRoute, ready, readyRoute } from "./routes/health.ts";
import {
  ingestEvents,
  ingestEventsDoc,
  MAX_BODY_BYTES,
  parseIngestBody,
} from "./routes/ingest_events.ts";
import { liveStream, liveStreamRoute } from "./routes/live_stream.ts";
import { metricsRoute, metricsText } from "./routes/metrics.ts";
import { pipelineStatus, pipelineStatusRoute } from "./routes/pipeline_status.ts";
import { pipelineTotals, pipelineTotalsRoute } from "./routes/pipeline_totals.ts";
import { registerAnalyticsRoutes } from "./routes/analytics/register.ts";
import { registerLakeRoutes } from "./routes/lake.ts";
import { registerDashboard } from "./dashboard/mod.ts";
import { registerSdk } from "./sdk/mod.ts";
import { registerDemo } from "./demo/mod.ts";

const log = getLogger(["scalestream", "api"]);

/** The context variables of every request. */
export type ApiEnv = { Variables: AuthVariables };

export interface AppDeps {
  sql: Sql;
  /** The queue ingestion writes to and `/ready` and `/v1/pipeline/status` read; optional. */
  sqs?: SQSClient;
  queueUrl?: string;
  dlqUrl?: string;
  /** Prometheus text for `GET /metrics` (the monitoring module provides it). */
  metrics?: () => Promise<string>;
  /** Middleware run first on every request (request instrumentation, say). */
  middleware?: readonly MiddlewareHandler[];
  /** Keys from `API_KEYS`, hashed; the `api_keys` table is consulted too. */
  apiKeys?: readonly ApiKeyRecord[];
  /** Replaces the default key store (environment keys + table). */
  keyStore?: KeyStore;
  /** Origins allowed by CORS; empty = no CORS headers. */
  corsOrigins?: readonly string[];
  /** Token buckets per key, and per peer address for keyless or failed-auth requests; 0 disables. */
  rateLimit?: { ratePerS: number; burst: number };
  /** Packing of ingested events into SQS messages. */
  ingest?: { maxMessageBytes?: number; lingerMs?: number; maxInflightBatches?: number };
  /** The event contract `POST /v1/events` enforces (`EVENT_CONTRACT`); lenient by default. */
  eventContract?: EventContract;
  /** Interval of `/v1/stream` updates. */
  streamIntervalMs?: number;
  /** Replaces the shared live poller (tests observe subscribers through it). */
  live?: LivePoller;
  /** Interval of the stream's default-view frames (`event: view`); default 5,000 ms. */
  viewIntervalMs?: number;
  /** Replaces the shared default-view poller. */
  view?: LivePoller;
  /** The analytics reads' micro-cache (default: one of 1 s, without metrics). */
  cache?: ResponseCache;
  /** CloudWatch's age of the oldest message, in seconds, when available. */
  oldestMessageAgeS?: () => Promise<number | null>;
}

/** The app plus `close()`, which ends live streams and flushes ingestion before shutdown. */
export type ApiApp = OpenAPIHono<ApiEnv> & { close(): Promise<void> };

/** The API settings of a loaded configuration, as `createApp` options. */
export async function apiOptionsFromConfig(
  config: Pick<
    Config,
    | "apiKeys"
    | "corsOrigins"
    | "apiRateLimitRps"
    | "apiRateLimitBurst"
    | "apiStreamIntervalMs"
    | "maxMessageBytes"
    | "lingerMs"
    | "maxInflightBatches"
    | "eventContract"
  >,
): Promise<
  Pick<
    AppDeps,
    "apiKeys" | "corsOrigins" | "rateLimit" | "ingest" | "streamIntervalMs" | "eventContract"
  >
> {
  return {
    apiKeys: await parseApiKeys(config.apiKeys),
    corsOrigins: parseOrigins(config.corsOrigins),
    rateLimit: { ratePerS: config.apiRateLimitRps, burst: config.apiRateLimitBurst },
    ingest: {
      maxMessageBytes: config.maxMessageBytes,
      lingerMs: config.lingerMs,
      maxInflightBatches: config.maxInflightBatches,
    },
    streamIntervalMs: config.apiStreamIntervalMs,
    eventContract: config.eventContract,
  };
}

function scopeOf(c: Context): Scope {
  if (c.req.method === "GET" || c.req.method === "HEAD") return "read";
  if (c.req.method === "POST" && c.req.path === "/v1/events") return "ingest";
  return "admin";
}

/** Builds the API; errors become RFC 9457 problem documents without stack traces. */
export function createApp(deps: AppDeps): ApiApp {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook as never });
  const cache = deps.cache ?? createResponseCache();
  const ingestor: EventIngestor | undefined = deps.sqs && deps.queueUrl
    ? createEventIngestor({ sqs: deps.sqs, queueUrl: deps.queueUrl, ...deps.ingest })
    : undefined;
  const statusDeps = {
    sql: deps.sql,
    sqs: deps.sqs,
    queueUrl: deps.queueUrl,
    dlqUrl: deps.dlqUrl,
    oldestMessageAgeS: deps.oldestMessageAgeS,
  };
  const live = deps.live ?? createLivePoller({
    intervalMs: deps.streamIntervalMs ?? 1000,
    read: async () => {
      const [status, totals] = await Promise.all([
        pipelineStatus({}, statusDeps),
        pipelineTotals(deps),
      ]);
      return { time: status.time, status, totals };
    },
  });

  const readView = createDefaultViewReader({ sql: deps.sql, cache });
  const view = deps.view ?? createLivePoller({
    intervalMs: deps.viewIntervalMs ?? 5000,
    event: "view",
    read: () => readView(),
  });

  for (const m of deps.middleware ?? []) app.use("*", m);
  app.use("*", rejectUnsafeParams());
  const keyStore = deps.keyStore ?? createKeyStore({ keys: deps.apiKeys, sql: deps.sql });
  // Ingestion with a publishable key answers CORS for that key's origins; the rest, CORS_ORIGINS.
  app.use(
    "*",
    publishableCors({
      store: keyStore,
      fallback: corsAllowList({ origins: deps.corsOrigins ?? [] }),
    }),
  );
  app.use(
    "/v1/events",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiProblem(413, `The body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  const limits = deps.rateLimit ?? { ratePerS: 0, burst: 1 };
  // Keyless and failed-auth callers are limited per peer address BEFORE the key check, so key
  // guessing is throttled (and costs no lookups once a peer is limited); keys have their own.
  app.use("/v1/*", peerRateLimit(limits));
  app.use("/v1/*", apiKeyAuth({ store: keyStore, scope: scopeOf }));
  app.use("/v1/*", rateLimit(limits));

  app.openapi(healthRoute, (c) => c.json(health(), 200));
  app.openapi(readyRoute, async (c) => {
    const r = await ready(deps);
    return c.json(r, r.status === "ok" ? 200 : 503);
  });
  app.openapi(metricsRoute, async (c) => {
    const text = await metricsText({}, deps);
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.openAPIRegistry.registerPath(ingestEventsDoc);
  app.post("/v1/events", async (c) => {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await c.req.arrayBuffer());
    } catch (err) {
      if (err instanceof HTTPException) throw err; // the body limit's 413
      throw new ApiProblem(400, "The body could not be read");
    }
    const items = parseIngestBody(bytes, c.req.header("content-type"));
    return c.json(
      await ingestEvents({ items }, { ingestor, contract: deps.eventContract ?? "lenient" }),
      202,
    );
  });
  app.openapi(eventStatusRoute, async (c) => {
    return c.json(await eventStatus(c.req.valid("param"), deps), 200);
  });
  app.openapi(pipelineStatusRoute, async (c) => c.json(await pipelineStatus({}, statusDeps), 200));
  app.openapi(
    pipelineTotalsRoute,
    (c) => respond(c, cache, "/v1/pipeline/totals", {}, () => pipelineTotals(deps)) as never,
  );
  app.openapi(liveStreamRoute, (c) => liveStream(c, { poller: live, view }) as never);

  registerAnalyticsRoutes(app, { sql: deps.sql, cache });
  registerLakeRoutes(app, { sql: deps.sql });
  // The live dashboard (GET / and /assets/*): static, no key needed; it asks for one if required.
  registerDashboard(app);
  // The browser tracker (GET /sdk/v1.js) and the demo shop that uses it (GET /demo): static too.
  registerSdk(app);
  registerDemo(app);

  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
    type: "apiKey",
    in: "header",
    name: "x-api-key",
    description: "Scopes: read (GET /v1/*), ingest (POST /v1/events), admin (everything). " +
      "Publishable keys (spk_…) only ingest, only from their origins, and may also travel as " +
      "the `key` query parameter of POST /v1/events (sendBeacon cannot set headers). " +
      "Not required when the server has no keys configured (local development).",
  });
  registerEventSchema(app.openAPIRegistry);
  // Generated on first request (after every route, analytics included, is registered), then reused.
  let openapi: unknown;
  app.get("/openapi.json", (c) =>
    c.json(
      openapi ??= app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "ScaleStream API",
          version: "1.0.0",
          description: "Real-time e-commerce event pipeline: ingestion, event status, pipeline " +
            "health and analytics. Errors are RFC 9457 problem documents.",
        },
      }),
    ));
  app.get("/docs", (c) => c.html(DOCS_HTML));

  app.notFound((c) => problemResponse(c, 404, `No route for "${c.req.path}"`));
  app.onError((err, c) => {
    if (err instanceof ApiProblem) {
      return problemResponse(c, err.status, err.message, {
        headers: err.headers,
        extensions: err.extensions,
      });
    }
    if (err instanceof HTTPException && err.status < 500) {
      return problemResponse(c, err.status, err.message || "The request cannot be processed");
    }
    if (isDataException(err)) {
      // Last line behind parameter validation: a value PostgreSQL refuses (SQLSTATE class 22,
      // "data exception") came from the request, so it is the client's 400, not our 500.
      log.warn("Request {method} {path} holds a value the database refused: {error}", {
        method: c.req.method,
        path: c.req.path,
        error: (err as Error).message,
      });
      return problemResponse(c, 400, "A parameter holds a value the database cannot use");
    }
    log.error("Request {method} {path} failed: {error}", {
      method: c.req.method,
      path: c.req.path,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    return problemResponse(c, 500, "The server could not complete the request");
  });

  return Object.assign(app, {
    async close() {
      live.close();
      view.close();
      await ingestor?.close();
    },
  });
}

/** PostgreSQL's "data exception" class (22xxx): out-of-range datetimes, NUL in text, bad input syntax. */
function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code);
}
