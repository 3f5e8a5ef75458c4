/**
 * The consumer program. Subcommands (the first argument; `consume` when there is none):
 *   consume [--workers N]      process events until SIGTERM/SIGINT (the Fargate task's command)
 *   dlq inspect|redrive        the dead-letter queue
 *   rebuild --from T --to T    recompute the analytics aggregates of a range from raw events
 *   maintain                   partitions and retention, session sweep, anomaly detection
 *   restore-check [--source U] a restored database against its raw events (and its source)
 * A subcommand is a module exporting `(args) => Promise<exitCode>`, loaded only when used.
 */
import { runMain, UsageError } from "../shared/mod.ts";

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  consume: async () => (await import("./cmd_consume.ts")).consumeCommand,
  dlq: async () => (await import("./cmd_dlq.ts")).dlqCommand,
  rebuild: async () => (await import("./cmd_analytics.ts")).rebuildCommand,
  maintain: async () => (await import("./cmd_analytics.ts")).maintainCommand,
  "restore-check": async () => (await import("./cmd_restore_check.ts")).restoreCheckCommand,
};

const USAGE = `Usage: deno run -A consumer/main.ts [COMMAND] [FLAGS]

  Commands: ${Object.keys(COMMANDS).join(", ")} (default consume); COMMAND --help for its flags.`;

await runMain(async (args) => {
  const [first, ...rest] = args;
  const named = first !== undefined && !first.startsWith("-");
  const name = named ? first : "consume";
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`Unknown command "${name}"`, USAGE);
  return await (await load())(named ? rest : args);
});
