/** What every consumer subcommand does first: configuration, logging, the database pool. */
import {
  type Config,
  createSql,
  ensureSchema,
  getLogger,
  loadConfig,
  type Logger,
  migrate,
  retryAtStartup,
  setupLogging,
  type Sql,
} from "../shared/mod.ts";

export interface Program {
  config: Config;
  log: Logger;
}

/** Loads the configuration and sets up logging (JSON lines unless stderr is a terminal). */
export async function setupProgram(category: string): Promise<Program> {
  const config = loadConfig();
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  return { config, log: getLogger(["scalestream", "consumer", category]) };
}

/**
 * Opens the pool on `DATABASE_URL` with `DB_SCHEMA` first on the search path, creating that schema
 * and applying pending migrations. A database that is still starting or refuses connections is
 * waited for (`STARTUP_RETRY_MS`, logged backoff). Returns null (after logging why) without a
 * database URL.
 */
export async function openDatabase(
  { config, log }: Program,
  applicationName: string,
): Promise<Sql | null> {
  if (!config.databaseUrl) {
    log.error("DATABASE_URL is required; use `deno task dev` for the embedded stack");
    return null;
  }
  const databaseUrl = config.databaseUrl;
  const retry = { maxMs: config.startupRetryMs };
  if (config.dbSchema) {
    const admin = createSql(databaseUrl, { max: 1, applicationName });
    try {
      await retryAtStartup("PostgreSQL", () => ensureSchema(admin, config.dbSchema), retry);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
  const sql = createSql(databaseUrl, {
    max: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    applicationName,
    ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
  });
  try {
    await retryAtStartup("PostgreSQL", () => migrate(sql), retry);
  } catch (err) {
    await sql.end({ timeout: 1 });
    throw err;
  }
  log.debug("PostgreSQL is ready");
  return sql;
}
