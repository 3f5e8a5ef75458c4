/**
 * `deno task api`: serves the Hono app over HTTP (container entry).
 * `deno task apikey create --name X --scopes read,ingest`: creates a key, prints it once, stores
 * only its hash. `apikey create --name shop --publishable --origin https://shop.example` creates a
 * publishable key for web pages (ingest only, those origins only). Also `apikey list` and
 * `apikey revoke --name X`.
 */
import {
  type Config,
  createMetricsRegistry,
  createSql,
  createSqsClient,
  ensureQueues,
  getLogger,
  loadConfig,
  migrate,
  parseFlags,
  retryAtStartup,
  runMain,
  setupLogging,
  type Sql,
  type SQSClient,
  UsageError,
} from "../shared/mod.ts";
import {
  apiOptionsFromConfig,
  cloudwatchOldestAge,
  createApiKey,
  createApiMetrics,
  createApp,
  createKeyStore,
  createResponseCache,
  listApiKeys,
  parseScopes,
  registerLakeMetrics,
  revokeApiKey,
} from "./mod.ts";

const USAGE = `Usage: deno task api [--help]

  Serves the REST API, the dashboard (/), the OpenAPI docs (/docs) and /metrics on HOST:PORT
  (default 127.0.0.1:8080). Also: deno task apikey create|list|revoke (apikey --help).

Environment: DATABASE_URL, DB_SCHEMA, SQS_ENDPOINT, SQS_QUEUE_NAME, HOST, PORT, API_KEYS (see
docs/configuration.md).`;

const APIKEY_USAGE = "Usage: deno task apikey create --name NAME --scopes read,ingest,admin\n" +
  "       deno task apikey create --name NAME --publishable --origin https://shop.example " +
  "[--origin …]\n" +
  "       deno task apikey list\n       deno task apikey revoke --name NAME";

const env = Deno.env.toObject();
const log = getLogger(["scalestream", "api"]);

async function main(args: string[]): Promise<number> {
  const isApikey = args[0] === "apikey";
  const usage = isApikey ? APIKEY_USAGE : USAGE;
  const { values, positionals } = parseFlags(isApikey ? args.slice(1) : args, usage, {
    name: { type: "string" },
    scopes: { type: "string" },
    publishable: { type: "boolean" },
    origin: { type: "string", multiple: true },
    help: { type: "boolean", default: false },
  }, true);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!isApikey) {
    const what = positionals[0] ??
      ["name", "scopes", "publishable", "origin"].find((k) => k in values)?.replace(/^/, "--");
    if (what) throw new UsageError(`Unexpected argument "${what}"`, USAGE);
  }
  const config = loadConfig(env);
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  if (!config.databaseUrl) {
    log.error("DATABASE_URL is required for the API; use `deno task dev` for the embedded stack");
    return 2;
  }
  // Before the pool: a missing SQS endpoint is a one-line ConfigError, nothing to close.
  const sqs = isApikey ? undefined : createSqsClient(config, env);
  const sql = createSql(config.databaseUrl, {
    max: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    applicationName: "scalestream-api",
    ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
  });
  if (sqs) {
    await serve(config, sql, sqs);
    return await new Promise<number>(() => {}); // runs until a signal ends the process
  }
  try {
    return await apikey(positionals, values, sql);
  } catch (err) {
    const code = String((err as { code?: string }).code ?? "");
    if (code === "23505") {
      console.error("A key of that name exists");
      return 2;
    }
    if (err instanceof RangeError) throw new UsageError(err.message, APIKEY_USAGE);
    throw err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

await runMain(main);

async function apikey(
  positionals: string[],
  values: {
    name?: string | undefined;
    scopes?: string | undefined;
    publishable?: boolean | undefined;
    origin?: string[] | undefined;
  },
  sql: Sql,
): Promise<number> {
  await migrate(sql);
  switch (positionals[0]) {
    case "create": {
      if (values.publishable) {
        if (!values.name || !values.origin?.length) break;
        const created = await createApiKey({
          name: values.name,
          scopes: parseScopes(values.scopes ?? "ingest"),
          origins: values.origin,
        }, { sql });
        console.log(created.key);
        console.error(
          `Created publishable key "${created.name}" for ${created.origins?.join(", ")}: ` +
            "it may only send events from those origins, so it can go in a web page.",
        );
        return 0;
      }
      if (!values.name || !values.scopes) break;
      if (values.origin) throw new RangeError("--origin needs --publishable");
      const created = await createApiKey(
        { name: values.name, scopes: parseScopes(values.scopes) },
        { sql },
      );
      // The key is shown here once; only its SHA-256 hash is stored.
      console.log(created.key);
      console.error(
        `Created key "${created.name}" with scopes ${created.scopes.join(", ")}; ` +
          "store it now, it cannot be shown again.",
      );
      return 0;
    }
    case "list":
      for (const k of await listApiKeys({ sql })) {
        console.log(
          `${k.name}\t${k.scopes.join("+")}` +
            (k.origins ? `\tpublishable for ${k.origins.join(" ")}` : "") +
            `\tcreated ${k.createdAt.toISOString()}` +
            (k.revokedAt ? `\trevoked ${k.revokedAt.toISOString()}` : ""),
        );
      }
      return 0;
    case "revoke":
      if (!values.name) break;
      if (await revokeApiKey(values.name, { sql })) {
        console.error(`Revoked "${values.name}" (caches expire within 30 s)`);
        return 0;
      }
      console.error(`No live key named "${values.name}"`);
      return 1;
  }
  throw new UsageError(
    positionals[0] === undefined
      ? "Missing action"
      : ["create", "revoke"].includes(positionals[0])
      ? `${positionals[0]} needs --name${
        positionals[0] === "create" ? " and --scopes (or --publishable and --origin)" : ""
      }`
      : `Unknown action "${positionals[0]}"`,
    APIKEY_USAGE,
  );
}

async function serve(config: Config, sql: Sql, sqs: SQSClient) {
  // Dependencies still starting (a database in recovery, an SQS endpoint not up yet) are waited
  // for with logged backoff, up to STARTUP_RETRY_MS, instead of failing the container at once.
  const retry = { maxMs: config.startupRetryMs };
  const { queueUrl, dlqUrl } = await retryAtStartup("SQS", () => ensureQueues(sqs, config), retry);
  await retryAtStartup("PostgreSQL", () => sql`select 1`, retry);
  const options = await apiOptionsFromConfig(config);
  const keyStore = createKeyStore({ keys: options.apiKeys, sql });
  const registry = createMetricsRegistry();
  registerLakeMetrics(registry, { sql });
  if (await keyStore.open()) {
    log.warn(
      "NO API KEYS CONFIGURED: every /v1 route is open. Set API_KEYS or run `deno task apikey create`.",
    );
  }
  const app = createApp({
    sql,
    sqs,
    queueUrl,
    dlqUrl,
    keyStore,
    ...options,
    metrics: () => registry.metrics(),
    middleware: [createApiMetrics(registry).middleware],
    cache: createResponseCache({ registry }),
    ...(config.apiCloudwatchAge && !config.sqsEndpoint
      ? {
        oldestMessageAgeS: cloudwatchOldestAge({
          region: config.awsRegion,
          queueName: queueUrl.split("/").pop() ?? config.queueName,
        }),
      }
      : {}),
  });
  const server = Deno.serve({
    port: config.port,
    hostname: config.host,
    onListen: ({ hostname, port }) => {
      // The URL goes into the message as text: a {placeholder} would print it quoted.
      const url = `http://${hostname}:${port}`;
      log.info(`API on ${url} (dashboard at /, docs at /docs, metrics at /metrics)`, {
        url,
        hostname,
        port,
      });
    },
  }, app.fetch);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await server.shutdown();
    await sql.end({ timeout: 5 });
    sqs.destroy();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void shutdown());
  Deno.addSignalListener("SIGTERM", () => void shutdown());
}
