/**
 * Delivers alerts from the transactional outbox to webhooks after their transaction committed.
 * One URL per alert kind (Slack-compatible JSON: `text` plus `blocks`). Each alert is claimed by one
 * dispatcher at a time (`for update skip locked` plus a claim lease), tried a few times in process
 * with p-retry, then rescheduled with backoff until `maxAttempts`; every attempt is recorded in
 * `alert_deliveries`. A delivered alert is never sent again, and repeats of one condition are one
 * alert (its dedupe key), so receivers see each alert once.
 */
import pRetry, { AbortError } from "p-retry";
import { getLogger, type Sql } from "../shared/mod.ts";

const log = getLogger(["scalestream", "alerts"]);

export type AlertKind = "fraud" | "inventory" | "anomaly";

export interface AlertDispatcherOptions {
  /** Webhook URL per alert kind; alerts of a kind without one are marked skipped. */
  webhooks: Partial<Record<AlertKind, string | undefined>>;
  maxAttempts?: number;
  intervalMs?: number;
  batchSize?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Tries within one round before the alert is rescheduled. */
  retriesPerRound?: number;
  /** Delay before the first in-round retry (doubles each time). */
  retryMinTimeoutMs?: number;
}

export interface DispatchResult {
  delivered: number;
  failed: number;
  rescheduled: number;
  skipped: number;
}

export interface AlertDispatcher {
  /** Delivers what is due now; resolves when this round is done. */
  runOnce(): Promise<DispatchResult>;
  start(): void;
  stop(): Promise<void>;
}

interface Claimed {
  alert_id: number;
  kind: AlertKind;
  attempts: number;
  severity: string;
  title: string;
  details: Record<string, unknown>;
  created_at: Date;
}

interface Attempt {
  ok: boolean;
  status: number | null;
  error: string | null;
  ms: number;
}

/** Slack-compatible message body for one alert. */
export function slackMessage(
  a: Pick<Claimed, "alert_id" | "kind" | "severity" | "title" | "details" | "created_at">,
) {
  const icon = a.severity === "critical" ? ":rotating_light:" : ":warning:";
  const text = `${icon} [${a.kind}] ${a.title}`;
  return {
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${text}*` } },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: "```" + JSON.stringify(a.details, null, 2).slice(0, 2500) + "```",
        },
      },
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: `alert ${a.alert_id} · ${a.created_at.toISOString()}` }],
      },
    ],
  };
}

/** Creates a dispatcher; `start()` runs rounds every `intervalMs` until `stop()`. */
export function createAlertDispatcher(
  deps: { sql: Sql },
  options: AlertDispatcherOptions,
): AlertDispatcher {
  const { sql } = deps;
  const maxAttempts = options.maxAttempts ?? 8;
  const batchSize = options.batchSize ?? 50;
  const timeoutMs = options.timeoutMs ?? 5000;
  const abort = new AbortController();
  let timer: ReturnType<typeof setInterval> | undefined;
  let round: Promise<unknown> = Promise.resolve();

  async function post(url: string, alert: Claimed, attempts: Attempt[]): Promise<void> {
    await pRetry(async () => {
      const started = performance.now();
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "idempotency-key": `alert-${alert.alert_id}`,
          },
          body: JSON.stringify(slackMessage(alert)),
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
        });
        await res.body?.cancel();
      } catch (err) {
        attempts.push({
          ok: false,
          status: null,
          error: String(err),
          ms: performance.now() - started,
        });
        throw err;
      }
      const ms = performance.now() - started;
      if (res.ok) {
        attempts.push({ ok: true, status: res.status, error: null, ms });
        return;
      }
      const error = `HTTP ${res.status}`;
      attempts.push({ ok: false, status: res.status, error, ms });
      // Client errors other than rate limiting will not heal by retrying now.
      if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new AbortError(error);
      throw new Error(error);
    }, {
      retries: options.retriesPerRound ?? 2,
      minTimeout: options.retryMinTimeoutMs ?? 200,
      factor: 2,
      signal: abort.signal,
    });
  }

  async function runOnce(): Promise<DispatchResult> {
    const result: DispatchResult = { delivered: 0, failed: 0, rescheduled: 0, skipped: 0 };
    const claimed = await sql<Claimed[]>`
      with due as (
        select alert_id from alert_outbox
        where status = 'pending' and next_attempt_at <= now()
          and (claimed_until is null or claimed_until < now())
        order by alert_id limit ${batchSize} for update skip locked),
      c as (
        update alert_outbox o set claimed_until = now() + interval '5 minutes',
          attempts = o.attempts + 1
        from due where o.alert_id = due.alert_id
        returning o.alert_id, o.kind, o.attempts)
      select c.alert_id, c.kind, c.attempts, a.severity, a.title, a.details, a.created_at
      from c join alerts a using (alert_id) order by c.alert_id`;
    await Promise.all(claimed.map(async (alert) => {
      const url = options.webhooks[alert.kind];
      if (!url) {
        await sql`
          update alert_outbox set status = 'skipped', claimed_until = null,
            last_error = 'no webhook configured for this kind'
          where alert_id = ${alert.alert_id}`;
        result.skipped++;
        return;
      }
      const attempts: Attempt[] = [];
      let error: string | null = null;
      try {
        await post(url, alert, attempts);
      } catch (err) {
        error = String(err instanceof Error ? err.message : err);
      }
      const channel = `${alert.kind}:${new URL(url).host}`;
      await sql.begin(async (tx) => {
        if (attempts.length > 0) {
          await tx`
            insert into alert_deliveries (alert_id, channel, ok, http_status, error, duration_ms)
            select ${alert.alert_id}, ${channel}, ok::bool, st, er, ms from unnest(
              ${attempts.map((a) => String(a.ok))}::text[], ${attempts.map((a) => a.status)}::int[],
              ${attempts.map((a) => a.error)}::text[], ${
            attempts.map((a) => Math.round(a.ms))
          }::int[])
              as x(ok, st, er, ms)`;
        }
        if (error === null) {
          await tx`
            update alert_outbox set status = 'delivered', delivered_at = now(), claimed_until = null,
              last_error = null
            where alert_id = ${alert.alert_id}`;
          result.delivered++;
        } else if (alert.attempts >= maxAttempts) {
          await tx`
            update alert_outbox set status = 'failed', claimed_until = null, last_error = ${error}
            where alert_id = ${alert.alert_id}`;
          result.failed++;
          log.error("Alert {alertId} ({kind}) failed after {attempts} rounds: {error}", {
            alertId: alert.alert_id,
            kind: alert.kind,
            attempts: alert.attempts,
            error,
          });
        } else {
          const backoffS = Math.min(300, 2 ** alert.attempts);
          await tx`
            update alert_outbox set claimed_until = null, last_error = ${error},
              next_attempt_at = now() + make_interval(secs => ${backoffS})
            where alert_id = ${alert.alert_id}`;
          result.rescheduled++;
          log.warn("Alert {alertId} delivery failed ({error}); retrying in {backoffS} s", {
            alertId: alert.alert_id,
            error,
            backoffS,
          });
        }
      });
    }));
    return result;
  }

  return {
    runOnce,
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        round = round.then(runOnce).catch((err) =>
          log.warn("Alert dispatch round failed: {error}", { error: String(err) })
        );
      }, options.intervalMs ?? 1000);
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await round;
      abort.abort();
    },
  };
}
