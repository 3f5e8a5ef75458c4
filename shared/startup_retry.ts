/**
 * Start-up against dependencies that may not be up yet: PostgreSQL still starting (`57P03 the
 * database system is starting up`), connection refused while a container comes up, an SQS endpoint
 * that does not answer yet. Programs retry these with bounded, logged, jittered backoff (p-retry)
 * instead of dying, and give up after `maxMs` with the last error.
 */
import pRetry from "p-retry";
import { isTransientDbError } from "./db.ts";
import { getLogger } from "./log.ts";

const log = getLogger(["scalestream", "startup"]);

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Whether an SQS (AWS SDK) error means "not reachable yet": no HTTP answer at all (connection
 * refused, reset, DNS), a timeout, a 5xx or a throttle. A 4xx answer is a real refusal
 * (credentials, a queue that does not exist): retrying it would only delay the error.
 */
export function isTransientSqsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & {
    code?: unknown;
    errno?: unknown;
    cause?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  if (e.name === "TimeoutError" || e.name === "AbortError") return true;
  for (const c of [e.code, e.errno, (e.cause as { code?: unknown } | undefined)?.code]) {
    if (typeof c === "string" && NETWORK_CODES.has(c)) return true;
  }
  return /ECONNREFUSED|ECONNRESET|socket hang up|fetch failed|connect/i.test(e.message);
}

/** Whether a start-up error is worth waiting out: a transient database or SQS error. */
export function isTransientStartupError(err: unknown): boolean {
  return isTransientDbError(err) || isTransientSqsError(err);
}

export interface StartupRetryOptions {
  /** Give up after this long (the last error is thrown). */
  maxMs: number;
  /** Aborts the waiting (SIGTERM during start-up). */
  signal?: AbortSignal;
  /** Which errors are retried; default {@linkcode isTransientStartupError}. */
  isTransient?: (err: unknown) => boolean;
  /** Backoff bounds; defaults 250 ms doubling up to 5 s, with jitter. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** Runs `fn` until it succeeds, retrying transient failures with logged backoff; see the module comment. */
export function retryAtStartup<T>(
  what: string,
  fn: () => Promise<T>,
  options: StartupRetryOptions,
): Promise<T> {
  const isTransient = options.isTransient ?? isTransientStartupError;
  const started = Date.now();
  return pRetry(fn, {
    retries: Infinity,
    maxRetryTime: options.maxMs,
    minTimeout: options.minDelayMs ?? 250,
    maxTimeout: options.maxDelayMs ?? 5000,
    factor: 2,
    randomize: true,
    ...(options.signal ? { signal: options.signal } : {}),
    shouldRetry: ({ error }) => isTransient(error),
    onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
      if (!isTransient(error)) return;
      log.warn(
        "{what} is not available yet (attempt {attempt}, {elapsedS} s of {maxS} s); retrying in {delayMs} ms: {error}",
        {
          what,
          attempt: attemptNumber,
          elapsedS: Math.round((Date.now() - started) / 1000),
          maxS: Math.round(options.maxMs / 1000),
          delayMs: Math.round(retryDelay),
          error: error.message,
        },
      );
    },
  });
}
