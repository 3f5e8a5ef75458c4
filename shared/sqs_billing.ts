/**
 * What SQS bills: every request, and every 64 KiB chunk of a request's payload as one more. A
 * `SendMessageBatch` of ten 40 KiB messages (400 KiB) is 7 billed requests, a `ReceiveMessage`
 * that returns them is 7 more, and a `ReceiveMessage` that returns nothing is still 1. Payload is
 * counted as SQS sizes a message: the body's UTF-8 bytes plus each message attribute's name, data
 * type and value. Deletes and visibility changes carry no message payload: 1 each.
 */

/** SQS bills each 64 KiB chunk of a request's payload as one request. */
export const BILLING_CHUNK_BYTES = 65_536;

/** An SQS message attribute value as the SDK carries it. */
export interface AttributeValue {
  DataType?: string;
  StringValue?: string;
  BinaryValue?: Uint8Array;
}

/** A message as sent or received: a body and its message attributes. */
export interface BilledMessage {
  Body?: string;
  MessageBody?: string;
  MessageAttributes?: Record<string, AttributeValue>;
}

const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 length of `s` (bodies are ASCII in this project, so the fast path is the usual one). */
export function utf8Bytes(s: string | undefined): number {
  if (!s) return 0;
  return NON_ASCII.test(s) ? encoder.encode(s).length : s.length;
}

/** Size of one message as SQS counts it against its limit and its billing chunks. */
export function messageBytes(m: BilledMessage): number {
  let n = utf8Bytes(m.Body ?? m.MessageBody);
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    n += utf8Bytes(name) + utf8Bytes(v.DataType) + utf8Bytes(v.StringValue) +
      (v.BinaryValue?.byteLength ?? 0);
  }
  return n;
}

/** Billed requests for one request carrying `payloadBytes`: at least 1, one per 64 KiB chunk. */
export function billedChunks(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / BILLING_CHUNK_BYTES));
}

/**
 * Billed requests of one SQS call, from its input and (for receives) its output: sends by the
 * 64 KiB chunks of all their messages, receives by the chunks of what they returned (1 when
 * empty), everything else 1.
 */
export function billedRequests(
  operation: string,
  input: { Entries?: BilledMessage[] } & BilledMessage,
  output?: { Messages?: BilledMessage[] },
): number {
  switch (operation) {
    case "SendMessageBatch":
      return billedChunks((input.Entries ?? []).reduce((s, e) => s + messageBytes(e), 0));
    case "SendMessage":
      return billedChunks(messageBytes(input));
    case "ReceiveMessage":
      return billedChunks((output?.Messages ?? []).reduce((s, m) => s + messageBytes(m), 0));
    default:
      return 1;
  }
}

/** Billed requests by kind, as the cost report shows them. */
export interface BilledBreakdown {
  /** Send chunks (64 KiB each). */
  sends: number;
  /** Receives that returned messages, by chunk. */
  receives: number;
  /** Receives that returned nothing (long polls that timed out). */
  emptyReceives: number;
  deletes: number;
  /** ChangeMessageVisibility(Batch): heartbeats and the poison-message backoff. */
  visibility: number;
  /** Everything else (GetQueueAttributes, GetQueueUrl, …). */
  other: number;
}

/** Sums `scalestream_sqs_billed_requests_total` by operation into a breakdown. */
export function billedBreakdown(
  byOperation: Record<string, number>,
  emptyReceives: number,
): BilledBreakdown {
  const out: BilledBreakdown = {
    sends: 0,
    receives: 0,
    emptyReceives,
    deletes: 0,
    visibility: 0,
    other: 0,
  };
  for (const [op, n] of Object.entries(byOperation)) {
    if (op.startsWith("SendMessage")) out.sends += n;
    else if (op === "ReceiveMessage") out.receives += n;
    else if (op.startsWith("DeleteMessage")) out.deletes += n;
    else if (op.startsWith("ChangeMessageVisibility")) out.visibility += n;
    else out.other += n;
  }
  out.receives -= emptyReceives; // an empty receive is billed once, shown on its own
  return out;
}

/** Total billed requests per million events; NaN when no events. */
export function perMillionEvents(billed: number, events: number): number {
  return events > 0 ? (billed * 1e6) / events : NaN;
}
