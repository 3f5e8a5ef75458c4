/**
 * The analytics flush stages in their required order, and the periodic analytics loop (session
 * sweep and anomaly detection) a consumer process runs beside its flushes.
 */
import { type Config, ConfigError, getLogger, type Sql } from "../shared/mod.ts";
import type { FlushStage } from "./flush_events.ts";
import { windowsStage } from "./stage_windows.ts";
import { type OrderDimsHandoff, ordersStage } from "./stage_orders.ts";
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
 * The enabled analytics stages (`ANALYTICS_STAGES`, default all), in this order:
 * 1. features — its `user_features` write takes a row lock per user of the flush (in user order,
 *    held to commit): flushes sharing a user serialise from here, others do not wait at all;
 * 2. sessions — relies on those locks (without features it takes bucketed advisory locks itself);
 * 3. fraud — reads the user features written just before;
 * 4. inventory, orders, windows — the rows every flush in the same minute shares (products,
 *    per-minute aggregates) come last, so a concurrent flush waits for them only for the short
 *    tail of this one (`flushEvents` writes `agg_minute` after the stages for the same reason).
 *    Orders hand their `agg_minute_dims` columns to windows: one sorted statement per table.
 * Every stage writes its rows in key order and the order of stages is fixed, so concurrent
 * flushes lock rows in one global order (no deadlocks).
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
  // Each stage function is named after its stage (measurements report per stage by `name`).
  const add = (name: string, stage: FlushStage) =>
    stages.push(Object.defineProperty(stage, "name", { value: name }));
  if (on.has("features")) add("features", featuresStage());
  if (on.has("sessions")) {
    add(
      "sessions",
      sessionsStage({
        timeoutMs: config.sessionTimeoutS * 1000,
        lockUsers: !on.has("features"),
      }),
    );
  }
  if (on.has("fraud")) {
    add(
      "fraud",
      fraudStage({
        alertThreshold: config.fraudAlertThreshold,
        highValueCents: config.fraudHighValueCents,
        windowMs: config.fraudWindowS * 1000,
        ipOrders: config.fraudIpOrders,
        velocityOrders: config.fraudVelocityOrders,
      }),
    );
  }
  if (on.has("inventory")) {
    add("inventory", inventoryStage({ alertThreshold: config.inventoryAlertThreshold }));
  }
  const handoff: OrderDimsHandoff | undefined = on.has("orders") && on.has("windows")
    ? new WeakMap()
    : undefined;
  if (on.has("orders")) add("orders", ordersStage({ handoff }));
  if (on.has("windows")) {
    add(
      "windows",
      windowsStage({ botEventsPerMinute: config.botEventsPerMinute, orderDims: handoff }),
    );
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
  deps: { sql: Sql; now?: () => number },
  config: AnalyticsConfig,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const now = deps.now ?? Date.now;
  const timer = setInterval(() => {
    running = running.then(() => runAnalyticsJobs(deps, config, now())).catch((err) =>
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
