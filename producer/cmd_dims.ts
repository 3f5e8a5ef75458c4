/**
 * `deno task dims load`: upserts the simulator's catalogue and users into the dimension tables, so
 * enrichment finds the products and users the simulated traffic refers to. A producer command: the
 * catalogue is the producer's; the upsert is shared/load_dimensions.ts.
 */
import {
  createSql,
  ensureSchema,
  getLogger,
  loadConfig,
  loadDimensions,
  migrate,
  parseFlags,
  setupLogging,
  UsageError,
} from "../shared/mod.ts";
import { dimensionsOf } from "./dimensions.ts";
import { createGenerator } from "./shopper_sessions.ts";

const HELP = `Usage: deno task dims load [--seed N] [--users N] [--products N]

  Upserts the catalogue and users of the producer's generator (same options as
  \`deno task produce\`: default seed 1, 10000 users, 500 products) into dim_products/dim_users.

Environment: DATABASE_URL, DB_SCHEMA.`;

/** Runs the `dims` subcommand; resolves to the exit code. */
export async function dimsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, HELP, {
    seed: { type: "string", default: "1" },
    users: { type: "string", default: "10000" },
    products: { type: "string", default: "500" },
    help: { type: "boolean", default: false },
  }, true);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals[0] !== "load" || positionals.length > 1) {
    const what = positionals.find((p, i) => i > 0 || p !== "load");
    throw new UsageError(what ? `Unexpected argument "${what}"` : "Missing action", HELP);
  }
  const opts = {
    seed: Number(values.seed),
    users: Number(values.users),
    products: Number(values.products),
  };
  for (const [k, v] of Object.entries(opts)) {
    if (!Number.isInteger(v) || v < 0) {
      throw new UsageError(`--${k} must be a non-negative integer, got "${v}"`, HELP);
    }
  }
  const config = loadConfig(Deno.env.toObject());
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  const log = getLogger(["scalestream", "producer", "dims"]);
  if (!config.databaseUrl) {
    log.error("DATABASE_URL is required to load dimensions");
    return 2;
  }
  const sql = createSql(config.databaseUrl, {
    max: 1,
    applicationName: "scalestream-dims",
    ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
  });
  try {
    await ensureSchema(sql, config.dbSchema);
    await migrate(sql);
    const n = await loadDimensions(dimensionsOf(createGenerator(opts)), { sql });
    log.info("Loaded {products} products and {users} users", n);
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
