/**
 * HTTP ingestion's path into SQS: one long-lived packing sender per app, shared by all requests.
 * Each request adds its events to a batch and commits it: the commit pushes everything buffered out
 * and resolves once SQS has acknowledged (or finally refused) every event of that batch, so a 202
 * means the events are in the queue. Concurrent requests still share messages and requests to SQS.
 */
import {
  createEventSender,
  type Event,
  type EventSender,
  getLogger,
  type SQSClient,
} from "../shared/mod.ts";

const log = getLogger(["scalestream", "api", "ingest"]);

export interface EventIngestorOptions {
  sqs: SQSClient;
  queueUrl: string;
  maxMessageBytes?: number;
  lingerMs?: number;
  maxInflightBatches?: number;
  /** Retries per failed entry; kept low so a request does not hang for long when SQS is down. */
  maxRetries?: number;
}

/** The events of one request on their way to SQS. */
export interface IngestBatch {
  /** Buffers one event; throws `RangeError` when it cannot fit in one SQS message. */
  add(event: Event): Promise<void>;
  /** Sends what is buffered and waits for SQS; `failed` counts events SQS never accepted. */
  commit(): Promise<{ enqueued: number; failed: number }>;
}

export interface EventIngestor {
  begin(): IngestBatch;
  /** Sends what is buffered and waits for it. */
  close(): Promise<void>;
  readonly sender: EventSender<Tracker>;
}

interface Tracker {
  pending: number;
  failed: number;
  committed: boolean;
  resolve: () => void;
}

function settle(metas: Tracker[], failed: boolean) {
  for (const t of metas) {
    t.pending--;
    if (failed) t.failed++;
    if (t.pending === 0 && t.committed) t.resolve();
  }
}

/** Creates the shared ingestor; see the module comment. */
export function createEventIngestor(options: EventIngestorOptions): EventIngestor {
  const sender = createEventSender<Tracker>({
    sqs: options.sqs,
    queueUrl: options.queueUrl,
    maxMessageBytes: options.maxMessageBytes ?? 65_536,
    lingerMs: options.lingerMs ?? 50,
    maxInflightBatches: options.maxInflightBatches ?? 16,
    maxRetries: options.maxRetries ?? 3,
    onAck: (metas) => settle(metas, false),
    onFail: (metas) => settle(metas, true),
  });
  const flush = () =>
    sender.flush().catch((err) => log.error("Flush failed: {error}", { error: String(err) }));
  return {
    sender,
    begin() {
      let added = 0;
      let resolve!: () => void;
      const done = new Promise<void>((r) => resolve = r);
      const tracker: Tracker = { pending: 0, failed: 0, committed: false, resolve };
      return {
        async add(event) {
          tracker.pending++;
          try {
            await sender.send(event, tracker);
            added++;
          } catch (err) {
            tracker.pending--;
            throw err;
          }
        },
        async commit() {
          tracker.committed = true;
          if (tracker.pending === 0) {
            return { enqueued: added - tracker.failed, failed: tracker.failed };
          }
          void flush();
          await done;
          return { enqueued: added - tracker.failed, failed: tracker.failed };
        },
      };
    },
    async close() {
      await flush();
    },
  };
}
