/** `deno task api`: serves the Hono app over HTTP (container entry). */
import {
  createMetricsRegistry,
  createSql,
  getLogger,
  loadConfig,
  setupLogging,
} from "../shared/mod.ts";
import { createApp, withMetrics } from "./mod.ts";

const config = loadConfig();
await setupLogging({ level: config.logLevel, format: config.logFormat });
const log = getLogger(["scalestream", "api"]);
if (!config.databaseUrl) {
  log.error("DATABASE_URL is required for the API; use `deno task dev` for the embedded stack");
  Deno.exit(2);
}
const sql = createSql(config.databaseUrl, {
  max: config.dbPoolMax,
  statementTimeoutMs: config.dbStatementTimeoutMs,
  applicationName: "scalestream-api",
});
const app = withMetrics(createApp({ sql }), createMetricsRegistry());
const server = Deno.serve({
  port: config.port,
  hostname: config.host,
  onListen: ({ hostname, port }) =>
    log.info("API listening on http://{hostname}:{port} (metrics at /metrics)", { hostname, port }),
}, app.fetch);
const shutdown = async () => {
  await server.shutdown();
  await sql.end({ timeout: 5 });
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
