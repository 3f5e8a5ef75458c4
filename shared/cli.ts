/**
 * The one flag parser of every program: `node:util`'s `parseArgs` in strict mode (`@std/cli` is on
 * JSR only, which the build machines cannot reach), with its errors reworded into one line a user
 * can act on, and one runner that turns usage and configuration errors into that line, the usage,
 * and exit code 2 instead of a stack trace.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ConfigError } from "./config.ts";
import { MigrationChangedError } from "./migrate.ts";

/** A bad command line: an unknown flag, a missing or malformed value, an unexpected argument. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly code = "ERR_USAGE";
  /** The usage text printed after the message. */
  constructor(message: string, readonly usage = "", options?: ErrorOptions) {
    super(message, options);
  }
}

type Parsed<O extends ParseArgsOptionsConfig, P extends boolean> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: P; strict: true }>
>;

/**
 * Parses `args` against `options` (strict: an undeclared flag is an error). Throws
 * {@linkcode UsageError} carrying `usage`, with a message such as `Unknown flag "--bogus"`.
 */
export function parseFlags<O extends ParseArgsOptionsConfig, P extends boolean = false>(
  args: string[],
  usage: string,
  options: O,
  allowPositionals?: P,
): Parsed<O, P> {
  try {
    return parseArgs({
      args,
      options,
      allowPositionals: (allowPositionals ?? false) as P,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(usageMessage(err), usage, { cause: err });
  }
}

function usageMessage(err: unknown): string {
  const code = (err as { code?: string }).code ?? "";
  const message = err instanceof Error ? err.message : String(err);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const flag = quoted.split(" ")[0] ?? quoted;
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `Unknown flag "${flag}"`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `Unexpected argument "${quoted}"`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return message.includes("does not take an argument")
        ? `Flag "${flag}" takes no value`
        : `Flag "${flag}" needs a value`;
    default:
      return message.split(". ")[0] ?? message;
  }
}

/**
 * Runs a program's `main(args)` and exits with its code. A {@linkcode UsageError} prints
 * `error: <message>` and the usage, a {@linkcode ConfigError} prints `error: <message>`; both exit 2
 * without a stack trace. A {@linkcode MigrationChangedError} prints its message and exits 1.
 * Anything else is a bug and keeps its stack trace.
 */
export async function runMain(
  main: (args: string[]) => Promise<number>,
  args: string[] = Deno.args,
): Promise<never> {
  let code: number;
  try {
    code = await main(args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}${err.usage ? `\n\n${err.usage}` : ""}`);
      code = 2;
    } else if (err instanceof ConfigError) {
      console.error(`error: ${err.message}`);
      code = 2;
    } else if (err instanceof MigrationChangedError) {
      console.error(`error: ${err.message}`);
      code = 1;
    } else {
      throw err;
    }
  }
  Deno.exit(code);
}
