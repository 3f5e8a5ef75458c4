/**
 * The analytics flush stages in their required order, and the periodic analytics loop (session
 * sweep and anomaly detection) a consumer process runs beside its flushes.
 */
import { type Config, ConfigError, getLogger, type Sql } from "../shared/mod.ts";
import type { FlushStage } from "./flush_events.ts";
import { ordersStage } from "./stage_orders.ts";
import { botsStage } from "./stage_bots.ts";
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
 * The enabled derived stages (`ANALYTICS_STAGES`, default all), run by the derived worker
 * (consumer/derived.ts) over committed core batches, in this order:
 * 1. features — its `user_features` write takes a row lock per user of the batch (in user order,
 *    held to commit): batches sharing a user serialise from here, others do not wait at all;
 * 2. sessions — relies on those locks (without features it takes bucketed advisory locks itself);
 * 3. fraud — reads the user features written just before;
 * 4. inventory, orders, bots — rows shared by many batches (products, minute rows) come last.
 * Every stage writes its rows in key order and the order of stages is fixed, so concurrent
 * workers lock rows in one global order (no deadlocks). The windowed counters ("windows") are not
 * a stage any more: the core flush keeps them (consumer/flush_events.ts).
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
  if (on.has("orders")) add("orders", ordersStage());
  if (on.has("windows")) add("bots", botsStage({ botEventsPerMinute: config.botEventsPerMinute }));
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
