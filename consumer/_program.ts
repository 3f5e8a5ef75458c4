/** What every consumer subcommand does first: configuration, logging, the database pool. */
import {
  type Config,
  createSql,
  ensureSchema,
  getLogger,
  loadConfig,
  type Logger,
  migrate,
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
 * and applying pending migrations. Returns null (after logging why) without a database URL.
 */
export async function openDatabase(
  { config, log }: Program,
  applicationName: string,
): Promise<Sql | null> {
  if (!config.databaseUrl) {
    log.error("DATABASE_URL is required; use `deno task dev` for the embedded stack");
    return null;
  }
  if (config.dbSchema) {
    const admin = createSql(config.databaseUrl, { max: 1, applicationName });
    try {
      await ensureSchema(admin, config.dbSchema);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
  const sql = createSql(config.databaseUrl, {
    max: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    applicationName,
    ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
  });
  await migrate(sql);
  return sql;
}
