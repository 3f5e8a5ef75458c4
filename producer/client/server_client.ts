/**
 * The server client: ScaleStream's packing SQS sender (the producer's) for other services. Events
 * are checked with the same decode function the consumer applies, so a bad event fails in the
 * caller's `send()` instead of landing in the rejects table later; good ones are packed many to a
 * message and ten messages to a `SendMessageBatch`, retried entry by entry, with bounded memory
 * (`send()` waits while too many requests are in flight).
 */
import type { SQSClientConfig } from "@aws-sdk/client-sqs";
import {
  type BodyEncoding,
  createEventSender,
  decodeEvent,
  type EventSchema,
  type SenderStats,
  SQSClient,
} from "../../shared/mod.ts";
import type { z } from "zod";

/** An event as a caller writes it: the contract's input shape (what `EventSchema` accepts). */
export type EventInput = z.input<typeof EventSchema>;

export interface ServerClientOptions {
  /** URL of the ScaleStream events queue. */
  queueUrl: string;
  /** The SQS client to send with. Without it one is made from `region` and `endpoint`. */
  sqs?: SQSClient;
  /** AWS region of the queue (when no `sqs` is given); default: the SDK's own resolution. */
  region?: string;
  /** Another SQS endpoint (fauxqs, LocalStack) when no `sqs` is given. */
  endpoint?: string;
  /** Credentials when no `sqs` is given; default: the SDK's chain (environment, profile, role). */
  credentials?: SQSClientConfig["credentials"];
  /** Largest message, attributes included; default 65,536 (one billed SQS request). */
  maxMessageBytes?: number;
  /** Longest an event waits for its message to fill; default 50 ms. */
  lingerMs?: number;
  /** `SendMessageBatch` requests in flight; default 4. */
  maxInflightBatches?: number;
  /** Message body encoding; default: the pipeline's compressed encoding. */
  encoding?: BodyEncoding;
  /** Retries of a failed entry; default 8, with exponential backoff and jitter. */
  maxRetries?: number;
}

/** An event the pipeline would reject, refused before it is sent. */
export class InvalidEventError extends Error {
  override name = "InvalidEventError";
  readonly code = "ERR_INVALID_EVENT";
}

/** Events SQS did not accept after every retry; `eventIds` names them. */
export class SendFailedError extends Error {
  override name = "SendFailedError";
  readonly code = "ERR_SEND_FAILED";
  constructor(readonly eventIds: readonly string[], options?: ErrorOptions) {
    super(`SQS did not accept ${eventIds.length} events after retries`, options);
  }
}

export interface ServerClient {
  /**
   * Validates and buffers one event; resolves to its event id once buffered. Throws
   * {@linkcode InvalidEventError} for an event the pipeline would reject.
   */
  send(event: EventInput): Promise<string>;
  /**
   * Sends everything buffered and waits for SQS. Throws {@linkcode SendFailedError} naming the
   * events that failed since the previous `flush()`; sending the same events again is harmless
   * (the pipeline stores an event id once).
   */
  flush(): Promise<void>;
  /** Flushes, then releases the SQS client if this client made it. Call it before exiting. */
  close(): Promise<void>;
  readonly stats: Readonly<SenderStats>;
}

/** Creates a server client; see the module comment. */
export function createServerClient(options: ServerClientOptions): ServerClient {
  if (!options.queueUrl) throw new TypeError("A queueUrl is required");
  const ownSqs = options.sqs === undefined;
  const sqs = options.sqs ?? new SQSClient({
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    retryMode: "adaptive",
  });
  let failed: string[] = [];
  let lastError: unknown;
  const sender = createEventSender<string>({
    sqs,
    queueUrl: options.queueUrl,
    maxMessageBytes: options.maxMessageBytes ?? 65_536,
    lingerMs: options.lingerMs ?? 50,
    maxInflightBatches: options.maxInflightBatches ?? 4,
    ...(options.encoding ? { encoding: options.encoding } : {}),
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
    onFail: (ids, error) => {
      failed.push(...ids);
      lastError = error;
    },
  });
  let closed = false;

  async function flush() {
    await sender.flush();
    if (failed.length > 0) {
      const ids = failed;
      failed = [];
      throw new SendFailedError(ids, { cause: lastError });
    }
  }

  return {
    async send(event) {
      if (closed) throw new TypeError("The client is closed");
      const decoded = decodeEvent(event);
      if (!decoded.ok) throw new InvalidEventError(`The event is invalid: ${decoded.reason}`);
      await sender.send(decoded.event, decoded.event.eventId);
      return decoded.event.eventId;
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await flush();
      } finally {
        if (ownSqs) sqs.destroy();
      }
    },
    stats: sender.stats,
  };
}
