/**
 * `deno task rebuild --from <iso> --to <iso>` and `deno task maintain`: the batch layer's one-shot
 * commands (see docs/analytics.md).
 */
import { parseArgs } from "node:util";
import { openDatabase, setupProgram } from "./_program.ts";
import { runAnalyticsJobs } from "./analytics_stages.ts";
import { maintainPartitions } from "./maintain_partitions.ts";
import { rebuildAggregates } from "./rebuild_aggregates.ts";

const REBUILD_HELP = `Usage: deno task rebuild --from <ISO time> --to <ISO time>

  Recomputes the per-minute aggregates of [from, to) from the raw events, in one transaction.

Environment: DATABASE_URL, DB_SCHEMA.`;

const MAINTAIN_HELP = `Usage: deno task maintain

  Creates the coming days' raw-event partitions, drops those older than RETENTION_DAYS, prunes
  short-lived analytics state, closes timed-out sessions and runs anomaly detection once.

Environment: DATABASE_URL, DB_SCHEMA, RETENTION_DAYS, SESSION_TIMEOUT_S, ANOMALY_*.`;

/** Runs the `rebuild` subcommand; resolves to the exit code. */
export async function rebuildCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(REBUILD_HELP);
    return 0;
  }
  const from = Date.parse(values.from ?? "");
  const to = Date.parse(values.to ?? "");
  if (Number.isNaN(from) || Number.isNaN(to) || !(from < to)) {
    console.error(
      `--from and --to must be ISO 8601 times with from < to, got "${values.from ?? ""}" and "${
        values.to ?? ""
      }"`,
    );
    return 2;
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
  const { values } = parseArgs({
    args,
    options: { help: { type: "boolean", default: false } },
    strict: true,
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
    const partitions = await maintainPartitions({ sql }, { retentionDays: config.retentionDays });
    const jobs = await runAnalyticsJobs({ sql }, config);
    log.info(
      "Maintained: {created} partitions created, dropped {dropped}, pruned {pruned}, {sessionsClosed} sessions closed, {anomalies} anomalies",
      {
        ...partitions,
        ...jobs,
        dropped: partitions.dropped,
        pruned: JSON.stringify(partitions.pruned),
      },
    );
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
