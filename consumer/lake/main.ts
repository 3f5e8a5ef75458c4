/**
 * The lake's program. Subcommands:
 *   export                      export committed events to Parquet on S3 until caught up
 *   query "SQL" [--json|--csv]  SQL over the lake (table `events`), after syncing its partitions
 *   check [--day YYYY-MM-DD]    the batch view: the stream's rollups of a day vs the lake
 *   reports                     recompute the cohort and experiment reports
 *   jobs                        export, check yesterday and today, reports (a scheduled task)
 * `deno task export` and `deno task query` are the first two. Logs go to stderr, results to stdout.
 */
import {
  type Config,
  createSql,
  ensureSchema,
  getLogger,
  loadConfig,
  migrate,
  parseFlags,
  runMain,
  setupLogging,
  type Sql,
  UsageError,
} from "../../shared/mod.ts";
import { createS3Client, ensureBucket, lakeS3Endpoint, type S3Client } from "./lake_s3.ts";
import { exportToLake } from "./export_events.ts";
import { syncLake } from "./sync_lake.ts";
import { formatResult, type OutputFormat } from "./format_result.ts";

const HELP = `Usage: deno task lake <command> [options]

  export                        Export committed events to Parquet on S3 until caught up
      --max-rows N              events per export batch (default LAKE_EXPORT_MAX_ROWS)
  query "SQL"                   Run SQL over the lake; the table is \`events\` (with dt, hour)
      --json | --csv            output format (default: a table)
      --from YYYY-MM-DD         sync only partitions from this day on (default: all)
      --to YYYY-MM-DD           … up to this day
      --no-sync                 query the local cache as it is
  check [--day YYYY-MM-DD]      Batch view: compare a day's stream rollups with the lake
                                (default: yesterday and today, UTC); exit 1 on a difference
  reports                       Recompute weekly cohorts and experiment results
  jobs                          export, check, reports (for a scheduled task)

Shortcuts: deno task export, deno task query "select count(*) from events".
Environment: DATABASE_URL, DB_SCHEMA, LAKE_BUCKET, LAKE_PREFIX, LAKE_S3_ENDPOINT (else
SQS_ENDPOINT, for fauxqs), LAKE_CACHE_DIR (default .lake-cache), AWS_REGION. See docs/lake.md.`;

const log = getLogger(["scalestream", "lake"]);

async function openSql(config: Config): Promise<Sql> {
  if (!config.databaseUrl) throw new UsageError("DATABASE_URL is required for this command", HELP);
  if (config.dbSchema) {
    const admin = createSql(config.databaseUrl, { max: 1, applicationName: "scalestream-lake" });
    try {
      await ensureSchema(admin, config.dbSchema);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
  const sql = createSql(config.databaseUrl, {
    // `jobs` reserves one connection for its lock for the whole run.
    max: 3,
    applicationName: "scalestream-lake",
    ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
  });
  await migrate(sql);
  return sql;
}

async function openS3(config: Config): Promise<S3Client> {
  const s3 = createS3Client(config, Deno.env.toObject());
  if (config.lakeCreateBucket && lakeS3Endpoint(config)) await ensureBucket(s3, config.lakeBucket);
  return s3;
}

async function setup(): Promise<Config> {
  const config = loadConfig(Deno.env.toObject());
  await setupLogging({ level: config.logLevel, format: config.logFormat });
  return config;
}

async function query(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, HELP, {
    json: { type: "boolean", default: false },
    csv: { type: "boolean", default: false },
    from: { type: "string" },
    to: { type: "string" },
    "no-sync": { type: "boolean", default: false },
  }, true);
  const text = positionals.join(" ").trim();
  if (!text) {
    throw new UsageError(
      'query needs SQL, e.g. deno task query "select count(*) from events"',
      HELP,
    );
  }
  if (values.json && values.csv) throw new UsageError("Choose one of --json and --csv", HELP);
  const format: OutputFormat = values.json ? "json" : values.csv ? "csv" : "table";
  const config = await setup();
  const s3 = await openS3(config);
  try {
    if (!values["no-sync"]) {
      const started = performance.now();
      const r = await syncLake({ s3, bucket: config.lakeBucket, prefix: config.lakePrefix }, {
        cacheDir: config.lakeCacheDir,
        ...(values.from ? { fromDay: values.from } : {}),
        ...(values.to ? { toDay: values.to } : {}),
      });
      log.info("Synced {objects} objects ({downloaded} new, {bytes} bytes) in {ms} ms", {
        objects: r.objects,
        downloaded: r.downloaded,
        bytes: r.downloadedBytes,
        ms: Math.round(performance.now() - started),
      });
    }
  } finally {
    s3.destroy();
  }
  const { openLakeDb } = await import("./duckdb_lake.ts");
  const db = await openLakeDb(config.lakeCacheDir);
  try {
    const started = performance.now();
    const result = await db.query(text);
    log.info("Query took {ms} ms", { ms: Math.round(performance.now() - started) });
    await Deno.stdout.write(new TextEncoder().encode(formatResult(result, format)));
    return 0;
  } finally {
    db.close();
  }
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "help") {
    console.log(HELP);
    return command === undefined ? 2 : 0;
  }
  if (!["query", "export", "check", "reports", "jobs"].includes(command)) {
    throw new UsageError(`Unknown command "${command}"`, HELP);
  }
  const options = {
    day: { type: "string", multiple: true },
    "max-rows": { type: "string" },
  } as const;
  if (command === "query") return await query(rest);
  // Flags are checked before any configuration or connection.
  const { values } = parseFlags(rest, HELP, options);
  const config = await setup();
  const maxRows = values["max-rows"] === undefined
    ? config.lakeExportMaxRows
    : Number(values["max-rows"]);
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) {
    throw new UsageError(
      `--max-rows must be a positive integer, got "${values["max-rows"]}"`,
      HELP,
    );
  }
  const sql = await openSql(config);
  const s3 = await openS3(config);
  const deps = {
    sql,
    s3,
    bucket: config.lakeBucket,
    prefix: config.lakePrefix,
    cacheDir: config.lakeCacheDir,
  };
  try {
    switch (command) {
      case "export": {
        const r = await exportToLake(deps, { maxRows });
        log.info(
          "Exported {rows} events in {objects} objects ({bytes} bytes) in {ms} ms; watermark {watermark}",
          { ...r, ms: Math.round(r.ms) },
        );
        console.log(JSON.stringify({ ...r, ms: Math.round(r.ms) }));
        return 0;
      }
      case "check": {
        const { checkDay } = await import("./batch_view.ts");
        const { recentDays } = await import("./run_lake_jobs.ts");
        let differences = 0;
        for (const day of values.day ?? recentDays()) {
          const c = await checkDay(day, deps);
          differences += c.differences;
          console.log(JSON.stringify(c));
        }
        return differences > 0 ? 1 : 0;
      }
      case "reports": {
        const { refreshReports } = await import("./run_lake_jobs.ts");
        console.log(JSON.stringify(await refreshReports(deps)));
        return 0;
      }
      case "jobs": {
        const { runLakeJobs, tryLakeJobsLock } = await import("./run_lake_jobs.ts");
        const release = await tryLakeJobsLock(sql);
        if (release === null) {
          log.warn("Another lake jobs run holds the lock; this run does nothing");
          console.log(JSON.stringify({ skipped: true }));
          return 0;
        }
        try {
          const r = await runLakeJobs(deps, {
            maxRows,
            ...(values.day ? { days: values.day } : {}),
          });
          const summary = {
            exported: r.export.rows,
            watermark: r.export.watermark,
            differences: r.checks.reduce((s, c) => s + c.differences, 0),
            experiments: r.experiments,
            cohorts: r.cohorts,
          };
          // The production alarm counts this line (deploy/cdk/lake_jobs_task.ts): keep its words.
          log.info(
            "Lake jobs finished: exported {exported} events, {differences} batch view differences",
            summary,
          );
          console.log(JSON.stringify(summary));
          return summary.differences > 0 ? 1 : 0;
        } finally {
          await release();
        }
      }
      default:
        throw new UsageError(`Unknown command "${command}"`, HELP);
    }
  } finally {
    s3.destroy();
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) await runMain(main);
