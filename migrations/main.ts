/** `deno task migrate`: applies pending migrations to DATABASE_URL. */
import {
  createSql,
  getLogger,
  loadConfig,
  migrate,
  parseFlags,
  runMain,
  setupLogging,
} from "../shared/mod.ts";

const USAGE = `Usage: deno task migrate

  Applies the pending migrations in migrations/ to DATABASE_URL. Stops without applying anything
  when an applied migration's file has changed (see docs/operations.md).`;

await runMain(async (args) => {
  const { values } = parseFlags(args, USAGE, { help: { type: "boolean", default: false } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const config = loadConfig();
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  const log = getLogger(["scalestream", "migrate"]);
  if (!config.databaseUrl) {
    log.error("DATABASE_URL is required to migrate");
    return 2;
  }
  const sql = createSql(config.databaseUrl, { max: 1, applicationName: "scalestream-migrate" });
  try {
    const applied = await migrate(sql);
    log.info("{count} migrations applied", { count: applied.length });
    return 0;
  } finally {
    await sql.end();
  }
});
