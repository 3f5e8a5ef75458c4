/**
 * `deno task restore-check [--source URL]`: checks the database at DATABASE_URL (a restored one)
 * after a restore (docs/runbook.md#restoring-the-database). Always: the minute aggregates equal a
 * recount of the raw events. With `--source`: every table equals the source's, row for row — only
 * meaningful when the source did not write since the restore point (a drill on a stopped stack).
 */
import { createSql, parseFlags } from "../shared/mod.ts";
import { openDatabase, setupProgram } from "./_program.ts";
import { compareFingerprints, databaseFingerprint, reconcileAggregates } from "./restore_check.ts";

const HELP = `Usage: deno task restore-check [--source URL]

  Checks the restored database at DATABASE_URL (schema DB_SCHEMA): aggregates equal a recount of
  the raw events; with --source, every table equals the source database's (same schema name).
  Prints one JSON object; exits 0 when everything matches, 1 otherwise.`;

/** Runs the `restore-check` subcommand; resolves to the exit code. */
export async function restoreCheckCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, HELP, {
    source: { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const program = await setupProgram("restore-check");
  const target = await openDatabase(program, "scalestream-restore-check");
  if (!target) return 2;
  const source = values.source
    ? createSql(values.source, {
      max: 1,
      applicationName: "scalestream-restore-check",
      ...(program.config.dbSchema ? { searchPath: program.config.dbSchema } : {}),
    })
    : undefined;
  try {
    const aggregates = await target.begin("isolation level repeatable read", reconcileAggregates);
    let tables: string[] = [];
    if (source) {
      const [a, b] = await Promise.all([
        source.begin("isolation level repeatable read", databaseFingerprint),
        target.begin("isolation level repeatable read", databaseFingerprint),
      ]);
      tables = compareFingerprints(a, b);
    }
    const ok = aggregates.differences.length === 0 && tables.length === 0;
    console.log(JSON.stringify({
      ok,
      aggregates: {
        compared: aggregates.compared,
        rawEvents: aggregates.rawEvents,
        differences: aggregates.differences.slice(0, 20),
      },
      ...(source ? { tablesDiffering: tables } : {}),
    }));
    return ok ? 0 : 1;
  } finally {
    await source?.end({ timeout: 5 });
    await target.end({ timeout: 5 });
  }
}
