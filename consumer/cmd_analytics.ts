/**
 * `deno task rebuild --from <iso> --to <iso>` and `deno task maintain`: the batch layer's one-shot
 * commands (see docs/analytics.md).
 */
import { openDatabase, setupProgram } from "./_program.ts";
import { runAnalyticsJobs } from "./analytics_stages.ts";
import { runMaintenance } from "./run_maintenance.ts";
import { createClock, parseFlags, UsageError } from "../shared/mod.ts";
import { rebuildAggregates } from "./rebuild_aggregates.ts";

const REBUILD_HELP = `Usage: deno task rebuild --from <ISO time> --to <ISO time>

  Recomputes the per-minute aggregates of [from, to) from the raw events, in one transaction.

Environment: DATABASE_URL, DB_SCHEMA.`;

const MAINTAIN_HELP = `Usage: deno task maintain

  One maintenance round by hand (consumers run it in process, on their elected leader): creates
  the coming days' raw-event partitions, drops those older than RETENTION_DAYS, rolls up and
  prunes every table by its retention rule (docs/operations.md), closes timed-out sessions and runs
  anomaly detection once. Prints the report as one JSON line.

Environment: DATABASE_URL, DB_SCHEMA, RETENTION_DAYS, RETENTION_OVERRIDES, SESSION_TIMEOUT_S,
ANOMALY_*.`;

/** Runs the `rebuild` subcommand; resolves to the exit code. */
export async function rebuildCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, REBUILD_HELP, {
    from: { type: "string" },
    to: { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(REBUILD_HELP);
    return 0;
  }
  const from = Date.parse(values.from ?? "");
  const to = Date.parse(values.to ?? "");
  if (Number.isNaN(from) || Number.isNaN(to) || !(from < to)) {
    throw new UsageError(
      `--from and --to must be ISO 8601 times with from < to, got "${values.from ?? ""}" and "${
        values.to ?? ""
      }"`,
      REBUILD_HELP,
    );
  }
  const program = await setupProgram("rebuild");
  const sql = await openDatabase(program, "scalestream-rebuild");
  if (!sql) return 2;
  try {
    const result = await rebuildAggregates({ from, to }, { sql });
    program.log.info("Rebuilt {from} to {to} from {events} events: {rows}", {
      ...result,
      rows: JSON.stringify(result.rows),
    });
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs the `maintain` subcommand; resolves to the exit code. */
export async function maintainCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, MAINTAIN_HELP, {
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(MAINTAIN_HELP);
    return 0;
  }
  const program = await setupProgram("maintain");
  const { config, log } = program;
  const sql = await openDatabase(program, "scalestream-maintain");
  if (!sql) return 2;
  try {
    const now = createClock(config.clockSpec);
    const report = await runMaintenance({ sql, now }, {
      retentionDays: config.retentionDays,
      overrides: config.retentionOverrides,
    });
    const jobs = await runAnalyticsJobs({ sql }, config, now());
    log.info("Maintained: {report}; {sessionsClosed} sessions closed, {anomalies} anomalies", {
      report: JSON.stringify(report),
      ...jobs,
    });
    console.log(JSON.stringify({ ...report, ...jobs }));
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
