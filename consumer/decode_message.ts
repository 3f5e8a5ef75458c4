/** Turns one SQS message into validated events and reject rows; per-event work of the hot path. */
import type { Message } from "@aws-sdk/client-sqs";
import {
  decodeEvent,
  ENCODING_ATTRIBUTE,
  type Event,
  type EventContract,
  MAX_REJECT_PAYLOAD,
  rejectInfo,
  unpackBody,
} from "../shared/mod.ts";

export { MAX_REJECT_PAYLOAD };

/** Why an event is not stored with the others: bad shape, or an event time outside the window. */
export type RejectKind = "invalid" | "too_old" | "too_new";

/** One event that goes to the rejects table, keyed by where it arrived (and by `key`). */
export interface RejectRow {
  messageId: string;
  index: number;
  /**
   * Stable idempotency key (a UUID): the event's `eventId` when it is a UUID; for a valid event
   * refused for its time, the id decoding gave it; else derived from the SHA-256 of the
   * payload's canonical JSON, so a re-sent invalid event is the same reject.
   */
  key: string;
  kind: RejectKind;
  reason: string;
  /** The `eventId` the event carried, else `key`: what `GET /v1/events/{id}` finds it by. */
  eventId: string | null;
  eventType: string | null;
  payload: string;
}

/** A valid, in-range event with its event time parsed once. */
export interface AcceptedEvent {
  event: Event;
  timeMs: number;
}

/** A received message, decoded. `bytes` is the body size, for the in-flight bound. */
export interface DecodedMessage {
  messageId: string;
  receiptHandle: string;
  receiveCount: number;
  sentAtMs: number;
  bytes: number;
  events: AcceptedEvent[];
  rejects: RejectRow[];
}

export interface EventTimeWindow {
  /** Events older than this many milliseconds before `nowMs` are rejected as too old. */
  lateHorizonMs: number;
  /** Events newer than this many milliseconds after `nowMs` are rejected as too new. */
  futureSkewMs: number;
  nowMs: number;
  /** The event contract decoding enforces (`EVENT_CONTRACT`); lenient when not given. */
  contract?: EventContract;
}

/**
 * Decodes and validates a message through the shared decode path (`unpackBody`, `decodeEvent`).
 * Throws `PoisonMessageError` when the body cannot be read at all; otherwise every element ends
 * up either in `events` or in `rejects`, never lost.
 */
export function decodeMessage(message: Message, window: EventTimeWindow): DecodedMessage {
  const messageId = message.MessageId ?? "";
  const body = message.Body ?? "";
  const encoding = message.MessageAttributes?.[ENCODING_ATTRIBUTE]?.StringValue;
  const values = unpackBody(body, encoding);
  const events: AcceptedEvent[] = [];
  const rejects: RejectRow[] = [];
  const oldest = window.nowMs - window.lateHorizonMs;
  const newest = window.nowMs + window.futureSkewMs;
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    const result = decodeEvent(value, window.contract);
    if (!result.ok) {
      rejects.push(rejectRow(messageId, index, "invalid", result.reason, value));
      continue;
    }
    const timeMs = Date.parse(result.event.timestamp);
    if (timeMs < oldest) {
      const reason = `timestamp "${result.event.timestamp}" is older than the late horizon`;
      rejects.push(rejectRow(messageId, index, "too_old", reason, value, result.event.eventId));
    } else if (timeMs > newest) {
      const reason = `timestamp "${result.event.timestamp}" is beyond the future-skew limit`;
      rejects.push(rejectRow(messageId, index, "too_new", reason, value, result.event.eventId));
    } else {
      events.push({ event: result.event, timeMs });
    }
  }
  return {
    messageId,
    receiptHandle: message.ReceiptHandle ?? "",
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
    sentAtMs: Number(message.Attributes?.SentTimestamp ?? window.nowMs),
    bytes: body.length,
    events,
    rejects,
  };
}

function rejectRow(
  messageId: string,
  index: number,
  kind: RejectKind,
  reason: string,
  value: unknown,
  decodedId?: string,
): RejectRow {
  const info = rejectInfo(value, decodedId);
  return {
    messageId,
    index,
    key: info.key,
    kind,
    reason: reason.slice(0, 2000),
    eventId: info.eventId,
    eventType: info.eventType,
    payload: info.payload,
  };
}
