/**
 * Dead-letter queue tooling. `inspectDlq` looks without consuming: it receives a sample (hidden for
 * at most a few seconds) and releases it right away, so the messages stay where they are.
 * `redriveDlq` moves messages back to the source queue, oldest first as far as SQS allows (SQS has no
 * ordering; each receive's batch is sorted by SentTimestamp), throttled and bounded. A message is
 * deleted from the DLQ only after the source queue accepted its copy, so a crash duplicates at
 * worst, and the consumer's idempotent path skips the duplicate.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { delay, getLogger, readQueueDepth } from "../shared/mod.ts";

const log = getLogger(["scalestream", "consumer", "dlq"]);

export interface DlqSample {
  messageId: string;
  sentAt: string;
  receiveCount: number;
  bytes: number;
  /** The body, truncated to `bodyChars`. */
  body: string;
}

export interface DlqReport {
  /** ApproximateNumberOfMessages (+ NotVisible) of the DLQ. */
  approximateCount: number;
  approximateInFlight: number;
  /** Oldest SentTimestamp among the sampled messages. */
  oldestSentAt: string | null;
  samples: DlqSample[];
}

export interface InspectOptions {
  sqs: SQSClient;
  dlqUrl: string;
  /** Messages to sample (at most 100). */
  sample?: number;
  bodyChars?: number;
}

const SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"] as const;

/** Counts the DLQ and samples a few messages (made visible again right away). */
export async function inspectDlq(options: InspectOptions): Promise<DlqReport> {
  const { sqs, dlqUrl } = options;
  const want = Math.min(100, options.sample ?? 10);
  const bodyChars = options.bodyChars ?? 300;
  const depth = await readQueueDepth(sqs, dlqUrl);
  const messages: Message[] = [];
  const seen = new Set<string>();
  for (let round = 0; round < 20 && messages.length < want; round++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, want - messages.length),
        VisibilityTimeout: 30,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: [...SYSTEM_ATTRIBUTES],
      }),
    );
    const got = (out.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ""));
    if (got.length === 0) break;
    for (const m of got) seen.add(m.MessageId ?? "");
    messages.push(...got);
  }
  await releaseMessages(sqs, dlqUrl, messages);
  messages.sort(bySentTime);
  const samples = messages.map((m) => {
    const body = m.Body ?? "";
    return {
      messageId: m.MessageId ?? "",
      sentAt: new Date(sentAtMs(m)).toISOString(),
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
      bytes: body.length,
      body: body.length > bodyChars ? `${body.slice(0, bodyChars)}…(${body.length} chars)` : body,
    };
  });
  return {
    approximateCount: depth.visible,
    approximateInFlight: depth.notVisible,
    oldestSentAt: samples[0]?.sentAt ?? null,
    samples,
  };
}

export interface RedriveOptions {
  sqs: SQSClient;
  dlqUrl: string;
  queueUrl: string;
  /** Messages per second at most. */
  ratePerS: number;
  /** Stop after this many messages (default: what the DLQ holds when the redrive starts). */
  maxMessages?: number;
  signal?: AbortSignal;
}

export interface RedriveResult {
  moved: number;
  /** Entries the source queue refused; they stay in the DLQ. */
  failed: number;
}

/**
 * Moves messages from the DLQ back to the source queue, keeping body and message attributes.
 * Stops when the DLQ answers empty, after `maxMessages`, or on abort.
 */
export async function redriveDlq(options: RedriveOptions): Promise<RedriveResult> {
  const { sqs, dlqUrl, queueUrl, signal } = options;
  let max = options.maxMessages;
  if (max === undefined) {
    max = (await readQueueDepth(sqs, dlqUrl)).visible;
  }
  const result: RedriveResult = { moved: 0, failed: 0 };
  const intervalMs = 1000 / options.ratePerS;
  let nextAtMs = Date.now();
  while (result.moved + result.failed < max && !signal?.aborted) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, max - result.moved - result.failed),
        VisibilityTimeout: 60,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: [...SYSTEM_ATTRIBUTES],
      }),
    );
    const batch = (out.Messages ?? []).sort(bySentTime);
    if (batch.length === 0) break;
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((m, i) => ({
          Id: String(i),
          MessageBody: m.Body ?? "",
          ...(m.MessageAttributes
            ? { MessageAttributes: copyAttributes(m.MessageAttributes) }
            : {}),
        })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((s) => Number(s.Id)));
    const moved = batch.filter((_, i) => ok.has(i));
    const refused = batch.filter((_, i) => !ok.has(i));
    for (const f of sent.Failed ?? []) {
      log.warn("Source queue refused a redriven message: {code} {message}", {
        code: f.Code,
        message: f.Message,
      });
    }
    if (moved.length > 0) {
      const del = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: dlqUrl,
          Entries: moved.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      for (const f of del.Failed ?? []) {
        // The copy is in the source queue; the original comes back here and a later redrive sends
        // it again, which the consumer skips as a duplicate.
        log.warn("Could not delete a redriven message from the DLQ: {code}", { code: f.Code });
      }
    }
    await releaseMessages(sqs, dlqUrl, refused);
    result.moved += moved.length;
    result.failed += refused.length;
    if (refused.length === batch.length) break; // the source refuses everything: no retry storm
    nextAtMs += batch.length * intervalMs;
    const waitMs = nextAtMs - Date.now();
    if (waitMs > 0) await delay(waitMs);
    else nextAtMs = Date.now();
  }
  log.info("Redrive moved {moved} messages ({failed} refused)", { ...result });
  return result;
}

function copyAttributes(
  attrs: Record<string, MessageAttributeValue>,
): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [k, v] of Object.entries(attrs)) {
    out[k] = {
      DataType: v.DataType,
      ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
    };
  }
  return out;
}

async function releaseMessages(sqs: SQSClient, url: string, messages: Message[]) {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: chunk.map((m, j) => ({
          Id: String(j),
          ReceiptHandle: m.ReceiptHandle!,
          VisibilityTimeout: 0,
        })),
      }),
    ).catch((err) => log.debug("Could not release DLQ messages: {error}", { error: String(err) }));
  }
}

function sentAtMs(m: Message): number {
  return Number(m.Attributes?.SentTimestamp ?? 0);
}

function bySentTime(a: Message, b: Message): number {
  return sentAtMs(a) - sentAtMs(b);
}
