/**
 * Logging through LogTape. Library modules only call `getLogger([...])`; programs call
 * {@linkcode setupLogging} once to choose the sink: JSON lines when stderr is not a terminal (containers),
 * readable lines in a terminal.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  configure,
  getConsoleSink,
  getLogger,
  jsonLinesFormatter,
  type Logger,
  type LogLevel,
  reset,
  withContext,
} from "@logtape/logtape";

export { getLogger, type Logger, withContext };

/** Configures the process-wide log sinks; call once from a `main.ts`. */
export async function setupLogging(
  options: { level?: LogLevel; format?: "auto" | "json" | "pretty" } = {},
): Promise<void> {
  const format = options.format ?? "auto";
  const json = format === "json" || (format === "auto" && !Deno.stderr.isTerminal());
  await configure({
    reset: true,
    // Lets `withContext({ flushId })` add correlation fields to every record logged inside it.
    contextLocalStorage: new AsyncLocalStorage(),
    sinks: {
      console: getConsoleSink(json ? { formatter: jsonLinesFormatter } : {}),
    },
    loggers: [
      { category: ["scalestream"], lowestLevel: options.level ?? "info", sinks: ["console"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
}

/** Removes the configured sinks (flushes them first). */
export async function teardownLogging(): Promise<void> {
  await reset();
}
