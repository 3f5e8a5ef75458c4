/**
 * Deletes committed messages in full `DeleteMessageBatch` requests (issue 20). SQS bills a delete
 * of one message the same as a delete of ten, and a consumer commits a few messages at a time from
 * several flushes and pollers, so receipt handles are gathered here across all of them: a request
 * goes out as soon as ten are waiting, or when the oldest has waited `maxWaitMs`, or on `flush()`.
 * The AWS SDK for Java's buffered client (`AmazonSQSBufferedAsyncClient`) does the same with its
 * `maxBatchOpenMs`.
 *
 * Callers hand over only messages whose transaction has committed, so waiting here costs no
 * correctness: a message not yet deleted stays invisible until its visibility timeout, and one
 * that is never deleted (crash, deadline) is redelivered and skipped as a duplicate. Entries SQS
 * lists as failed are retried on their own, up to `maxAttempts`; a failure SQS blames on the
 * sender (a stale receipt handle) is not retried. Both end up redelivered at worst, never lost.
 */
import {
  type BatchResultErrorEntry,
  DeleteMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import pRetry from "p-retry";
import { getLogger } from "./log.ts";

const log = getLogger(["scalestream", "sqs", "delete"]);

/** SQS takes at most ten entries per batch request. */
export const MAX_BATCH_ENTRIES = 10;

export interface DeleteBatcherOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Longest a receipt handle waits for a full batch before a partial one goes out. */
  maxWaitMs: number;
  /** Attempts per entry, the first included, before it is left to redelivery (default 3). */
  maxAttempts?: number;
  /** First retry delay; later ones double, with jitter (default 100 ms). */
  minRetryDelayMs?: number;
  /**
   * Once aborted (the shutdown deadline passed), nothing is retried; a first attempt is still made,
   * since deleting a committed message is cheaper than having it redelivered.
   */
  signal?: AbortSignal;
  /** Called with the number of messages SQS confirmed deleted, per request. */
  onDeleted?: (count: number) => void;
  /** Called with the number of messages given up on (they will be redelivered). */
  onGiveUp?: (count: number) => void;
}

export interface DeleteBatcher {
  /**
   * Queues receipt handles of committed messages. The promise settles (never rejects) once every
   * one of them was deleted or given up on; callers need not wait for it.
   */
  delete(receiptHandles: readonly string[]): Promise<void>;
  /** Sends everything waiting now, partial batches too, and waits for every request in flight. */
  flush(): Promise<void>;
  /** Receipt handles waiting for a batch (not yet sent). */
  readonly pending: number;
}

interface Waiting {
  handle: string;
  done: () => void;
}

/** Creates a batcher; `flush()` before exit, or handles still waiting are left to redelivery. */
export function createDeleteBatcher(opts: DeleteBatcherOptions): DeleteBatcher {
  const maxAttempts = opts.maxAttempts ?? 3;
  let waiting: Waiting[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const inflight = new Set<Promise<void>>();

  function dispatch(batch: Waiting[]) {
    const p = sendBatch(batch).finally(() => {
      inflight.delete(p);
      for (const w of batch) w.done();
    });
    inflight.add(p);
  }

  /** Sends full batches; with `all`, the partial rest too. */
  function drainWaiting(all: boolean) {
    while (waiting.length >= MAX_BATCH_ENTRIES || (all && waiting.length > 0)) {
      dispatch(waiting.slice(0, MAX_BATCH_ENTRIES));
      waiting = waiting.slice(MAX_BATCH_ENTRIES);
    }
    if (waiting.length === 0) {
      clearTimeout(timer);
      timer = undefined;
    } else if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        drainWaiting(true);
      }, opts.maxWaitMs);
    }
  }

  async function sendBatch(batch: Waiting[]) {
    let pending = batch.map((w, i) => ({ id: String(i), handle: w.handle }));
    try {
      await pRetry(async () => {
        const out = await opts.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: pending.map((p) => ({ Id: p.id, ReceiptHandle: p.handle })),
          }),
        );
        if (out.Successful?.length) opts.onDeleted?.(out.Successful.length);
        const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
        if (failed.size === 0) {
          pending = [];
          return;
        }
        const permanent = [...failed.values()].filter((f) => f.SenderFault === true);
        if (permanent.length > 0) {
          opts.onGiveUp?.(permanent.length);
          log.warn("{count} deletes refused ({reasons}); those messages will be redelivered", {
            count: permanent.length,
            reasons: reasonsOf(permanent),
          });
        }
        pending = pending.filter((p) => failed.has(p.id) && failed.get(p.id)!.SenderFault !== true);
        if (pending.length > 0) {
          throw new Error(
            `${pending.length} deletes failed: ${reasonsOf([...failed.values()])}`,
          );
        }
      }, {
        retries: maxAttempts - 1,
        minTimeout: opts.minRetryDelayMs ?? 100,
        factor: 2,
        randomize: true,
        shouldRetry: () => !opts.signal?.aborted,
        onFailedAttempt: ({ error, attemptNumber }) => {
          log.warn("Delete attempt {attempt} failed: {error}", {
            attempt: attemptNumber,
            error: error.message,
          });
        },
      });
    } catch (err) {
      // Committed already: a redelivery is skipped as a duplicate, so nothing is counted twice.
      if (pending.length === 0) return;
      opts.onGiveUp?.(pending.length);
      log.warn(
        "{count} committed messages could not be deleted ({error}); they will be skipped on redelivery",
        { count: pending.length, error: String(err) },
      );
    }
  }

  return {
    delete(receiptHandles) {
      if (receiptHandles.length === 0) return Promise.resolve();
      let left = receiptHandles.length;
      const all = new Promise<void>((resolve) => {
        const done = () => {
          if (--left === 0) resolve();
        };
        for (const handle of receiptHandles) waiting.push({ handle, done });
      });
      drainWaiting(false);
      return all;
    },
    async flush() {
      drainWaiting(true);
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
    get pending() {
      return waiting.length;
    },
  };
}

function reasonsOf(entries: BatchResultErrorEntry[]): string {
  return [...new Set(entries.map((f) => f.Code ?? f.Message ?? "?"))].join(", ");
}
