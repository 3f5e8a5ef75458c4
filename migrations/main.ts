/** `deno task migrate`: applies pending migrations to DATABASE_URL. */
import { createSql, getLogger, loadConfig, migrate, setupLogging } from "../shared/mod.ts";

const config = loadConfig();
await setupLogging({ level: config.logLevel, format: config.logFormat });
const log = getLogger(["scalestream", "migrate"]);
if (!config.databaseUrl) {
  log.error("DATABASE_URL is required to migrate");
  Deno.exit(2);
}
const sql = createSql(config.databaseUrl, { max: 1, applicationName: "scalestream-migrate" });
try {
  const applied = await migrate(sql);
  log.info("{count} migrations applied", { count: applied.length });
} finally {
  await sql.end();
}
