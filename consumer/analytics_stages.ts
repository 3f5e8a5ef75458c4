/**
 * The analytics flush stages in their required order, and the periodic analytics loop (session
 * sweep and anomaly detection) a consumer process runs beside its flushes.
 */
import { type Config, getLogger, type Sql } from "../shared/mod.ts";
import type { FlushStage } from "./flush_events.ts";
import { windowsStage } from "./stage_windows.ts";
import { ordersStage } from "./stage_orders.ts";
import { sessionsStage, sweepSessions } from "./stage_sessions.ts";
import { featuresStage } from "./stage_features.ts";
import { fraudStage } from "./stage_fraud.ts";
import { inventoryStage } from "./stage_inventory.ts";
import { detectAnomalies } from "./stage_anomalies.ts";
import { rebuildAggregates } from "./rebuild_aggregates.ts";
import { maintainPartitions } from "./maintain_partitions.ts";

const log = getLogger(["scalestream", "analytics"]);

/** Settings the analytics stages and jobs read. */
export type AnalyticsConfig = Pick<
  Config,
  | "fraudAlertThreshold"
  | "fraudHighValueCents"
  | "fraudWindowS"
  | "fraudIpOrders"
  | "fraudVelocityOrders"
  | "inventoryAlertThreshold"
  | "sessionTimeoutS"
  | "botEventsPerMinute"
  | "anomalyZThreshold"
  | "anomalyEwmaAlpha"
  | "anomalyWarmupMinutes"
  | "rejectRateThreshold"
  | "analyticsIntervalMs"
>;

/**
 * Every analytics stage, in order: sessions take the per-user lock that features rely on, and
 * fraud reads the user features written just before it.
 */
export function analyticsStages(config: AnalyticsConfig): FlushStage[] {
  return [
    windowsStage({ botEventsPerMinute: config.botEventsPerMinute }),
    ordersStage(),
    sessionsStage({ timeoutMs: config.sessionTimeoutS * 1000 }),
    featuresStage(),
    fraudStage({
      alertThreshold: config.fraudAlertThreshold,
      highValueCents: config.fraudHighValueCents,
      windowMs: config.fraudWindowS * 1000,
      ipOrders: config.fraudIpOrders,
      velocityOrders: config.fraudVelocityOrders,
    }),
    inventoryStage({ alertThreshold: config.inventoryAlertThreshold }),
  ];
}

/** One round of the periodic analytics work: close timed-out sessions, detect anomalies. */
export async function runAnalyticsJobs(
  deps: { sql: Sql },
  config: AnalyticsConfig,
  nowMs = Date.now(),
): Promise<{ sessionsClosed: number; anomalies: number }> {
  const sessionsClosed = await sweepSessions(deps, {
    timeoutMs: config.sessionTimeoutS * 1000,
    nowMs,
  });
  const anomalies = await detectAnomalies(deps, {
    zThreshold: config.anomalyZThreshold,
    alpha: config.anomalyEwmaAlpha,
    warmupMinutes: config.anomalyWarmupMinutes,
    rejectRateThreshold: config.rejectRateThreshold,
    nowMs,
  });
  return { sessionsClosed, anomalies };
}

/** Runs {@linkcode runAnalyticsJobs} every `analyticsIntervalMs` until the returned stop is called. */
export function startAnalyticsJobs(
  deps: { sql: Sql },
  config: AnalyticsConfig,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => runAnalyticsJobs(deps, config)).catch((err) =>
      log.warn("Analytics jobs failed: {error}", { error: String(err) })
    );
  }, config.analyticsIntervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The `rebuild --from <iso> --to <iso>` and `maintain` subcommands of the consumer program.
 * Throws `RangeError` for bad arguments (the caller prints it and exits non-zero).
 */
export async function runAnalyticsCommand(
  command: "rebuild" | "maintain",
  args: readonly string[],
  deps: { sql: Sql },
  config: AnalyticsConfig & Pick<Config, "retentionDays">,
): Promise<unknown> {
  if (command === "rebuild") {
    const flag = (name: string) => {
      const i = args.indexOf(`--${name}`);
      const v = i >= 0
        ? args[i + 1]
        : args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
      const ms = v === undefined ? NaN : Date.parse(v);
      if (Number.isNaN(ms)) {
        throw new RangeError(`Option "--${name}" needs an ISO 8601 time, got "${v ?? ""}"`);
      }
      return ms;
    };
    return await rebuildAggregates({ from: flag("from"), to: flag("to") }, deps);
  }
  const partitions = await maintainPartitions(deps, { retentionDays: config.retentionDays });
  const jobs = await runAnalyticsJobs(deps, config);
  return { ...partitions, ...jobs };
}
