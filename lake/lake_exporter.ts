/**
 * The export on an interval inside a long-running process (`deno task dev`): one run at a time,
 * an error is logged and the next tick tries again (a failed run leaves a pending range that the
 * next run resumes). A leader-elected scheduler can call `exportToLake` itself instead.
 */
import { getLogger } from "../shared/mod.ts";
import { type ExportDeps, type ExportResult, exportToLake } from "./export_events.ts";

const log = getLogger(["scalestream", "lake", "export"]);

export interface LakeExporter {
  /** Runs an export now (or waits for the one in progress) and returns its result. */
  runNow(): Promise<ExportResult>;
  /** Stops the interval and waits for a run in progress. */
  stop(): Promise<void>;
}

/** Exports every `intervalMs` (the first run one interval after start). */
export function startLakeExporter(
  deps: ExportDeps,
  options: { intervalMs: number; maxRows?: number; onExported?: (r: ExportResult) => void },
): LakeExporter {
  const abort = new AbortController();
  let running: Promise<ExportResult> | null = null;
  const runNow = (): Promise<ExportResult> => {
    running ??= exportToLake(deps, {
      ...(options.maxRows ? { maxRows: options.maxRows } : {}),
      signal: abort.signal,
    }).finally(() => running = null);
    return running;
  };
  const timer = setInterval(() => {
    if (running) return;
    runNow().then((r) => {
      if (r.rows > 0) {
        log.info("Exported {rows} events in {objects} objects ({bytes} bytes) in {ms} ms", {
          ...r,
          ms: Math.round(r.ms),
        });
      }
      options.onExported?.(r);
    }).catch((err) => {
      if (!abort.signal.aborted) log.error("Lake export failed: {error}", { error: String(err) });
    });
  }, options.intervalMs);
  return {
    runNow,
    async stop() {
      clearInterval(timer);
      abort.abort();
      await running?.catch(() => {});
    },
  };
}
