/**
 * How events travel inside SQS messages. Many events are packed into one message body as a JSON
 * array. Bodies are pure ASCII (every non-ASCII character is escaped as JSON `\uXXXX`), so byte size
 * equals string length and characters outside the Basic Multilingual Plane (emoji) survive emulators
 * that refuse them. Optionally the array is gzipped and base64-encoded, marked by an attribute.
 */
import { gunzipSync, gzipSync } from "node:zlib";

/** Message attribute naming the body encoding. */
export const ENCODING_ATTRIBUTE = "ss-encoding";
/** Message attribute carrying the number of events packed in the body. */
export const COUNT_ATTRIBUTE = "ss-count";

export type BodyEncoding = "json" | "gzip+base64";

/** A message body that can never be processed, whatever the retries; SQS moves it to the DLQ. */
export class PoisonMessageError extends Error {
  override name = "PoisonMessageError";
  readonly code = "ERR_POISON_MESSAGE";
}

const NON_ASCII = /[\u0080-\uffff]/g;
const HAS_NON_ASCII = /[\u0080-\uffff]/;

/** JSON for one event, ASCII only, so that its length is its size in bytes. */
export function encodeEvent(event: unknown): string {
  const json = JSON.stringify(event);
  if (json === undefined) throw new TypeError("Event is not serialisable as JSON");
  return escapeNonAscii(json);
}

/** Escapes every non-ASCII UTF-16 unit as `\uXXXX`; surrogate pairs become two escapes. */
export function escapeNonAscii(json: string): string {
  return HAS_NON_ASCII.test(json)
    ? json.replace(NON_ASCII, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"))
    : json;
}

/** Bytes a packed body needs for events of these encoded sizes: `[`, `]` and the commas. */
export function packedSize(encodedLengths: number, count: number): number {
  return encodedLengths + (count === 0 ? 2 : count + 1);
}

/** Builds a message body from already encoded events. */
export function packBody(encoded: readonly string[], encoding: BodyEncoding = "json"): string {
  const json = "[" + encoded.join(",") + "]";
  if (encoding === "json") return json;
  return gzipSync(json).toString("base64");
}

/**
 * Decodes a message body into its untrusted event values. A single event object is accepted as a
 * one-element batch. Throws {@linkcode PoisonMessageError} when the body cannot be read at all.
 */
export function unpackBody(body: string | undefined, encoding: string | undefined): unknown[] {
  if (body === undefined || body === "") throw new PoisonMessageError("Message body is empty");
  let json = body;
  if (encoding === "gzip+base64") {
    try {
      json = gunzipSync(Buffer.from(body, "base64")).toString("utf8");
    } catch (cause) {
      throw new PoisonMessageError("Message body is not valid gzip+base64", { cause });
    }
  } else if (encoding !== undefined && encoding !== "json") {
    throw new PoisonMessageError(`Unknown message encoding "${encoding}"`);
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new PoisonMessageError("Message body is not valid JSON", { cause });
  }
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === "object") return [value];
  throw new PoisonMessageError("Message body is neither an event nor an array of events");
}
