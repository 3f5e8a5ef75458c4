/**
 * The analytics flush stages in their required order, and the periodic analytics loop (session
 * sweep and anomaly detection) a consumer process runs beside its flushes.
 */
import { type Config, ConfigError, getLogger, type Sql } from "../shared/mod.ts";
import type { FlushStage } from "./flush_events.ts";
import { windowsStage } from "./stage_windows.ts";
import { ordersStage } from "./stage_orders.ts";
import { sessionsStage, sweepSessions } from "./stage_sessions.ts";
import { featuresStage } from "./stage_features.ts";
import { fraudStage } from "./stage_fraud.ts";
import { inventoryStage } from "./stage_inventory.ts";
import { detectAnomalies } from "./stage_anomalies.ts";

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
  | "analyticsStages"
>;

/**
 * The enabled analytics stages (`ANALYTICS_STAGES`, default all), in order: sessions take the
 * per-user lock that features rely on, and fraud reads the user features written just before it.
 */
export function analyticsStages(config: AnalyticsConfig): FlushStage[] {
  const on = new Set(config.analyticsStages);
  if (on.has("fraud") && !on.has("features")) {
    throw new ConfigError(
      "ANALYTICS_STAGES",
      `ANALYTICS_STAGES "${config.analyticsStages.join(",")}": "fraud" needs "features"`,
    );
  }
  const stages: FlushStage[] = [];
  if (on.has("windows")) {
    stages.push(windowsStage({ botEventsPerMinute: config.botEventsPerMinute }));
  }
  if (on.has("orders")) stages.push(ordersStage());
  if (on.has("sessions")) stages.push(sessionsStage({ timeoutMs: config.sessionTimeoutS * 1000 }));
  if (on.has("features")) stages.push(featuresStage({ lockUsers: !on.has("sessions") }));
  if (on.has("fraud")) {
    stages.push(fraudStage({
      alertThreshold: config.fraudAlertThreshold,
      highValueCents: config.fraudHighValueCents,
      windowMs: config.fraudWindowS * 1000,
      ipOrders: config.fraudIpOrders,
      velocityOrders: config.fraudVelocityOrders,
    }));
  }
  if (on.has("inventory")) {
    stages.push(inventoryStage({ alertThreshold: config.inventoryAlertThreshold }));
  }
  return stages;
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
