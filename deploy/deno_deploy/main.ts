/**
 * The API on Deno Deploy: the same Hono app as the container, configured from the environment only
 * and writing nothing to the file system. `deno serve deploy/deno_deploy/main.ts` runs it locally
 * exactly as Deploy does; see docs/deno-deploy.md for the project settings and the database link.
 */
import { createApp } from "../../api/mod.ts";
import { ConfigError, createSql, getLogger, loadConfig, setupLogging } from "../../shared/mod.ts";

const config = loadConfig(Deno.env.toObject());
// Deploy collects stdout/stderr; JSON lines keep the fields searchable in its log viewer.
await setupLogging({
  level: config.logLevel,
  format: config.logFormat === "auto" ? "json" : config.logFormat,
});
if (!config.databaseUrl) {
  throw new ConfigError(
    "DATABASE_URL",
    "DATABASE_URL is required on Deno Deploy (a PostgreSQL reachable over TLS, see docs/deno-deploy.md)",
  );
}
// Isolates are small and many: a few connections each, so a pooler or RDS Proxy sees a bounded total.
const sql = createSql(config.databaseUrl, {
  max: Math.min(config.dbPoolMax, 4),
  statementTimeoutMs: config.dbStatementTimeoutMs,
  applicationName: "scalestream-deno-deploy",
});
const app = createApp({ sql });
getLogger(["scalestream", "api"]).info("ScaleStream API ready on Deno Deploy entry");

export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
