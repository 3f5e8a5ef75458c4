/**
 * How events travel inside SQS messages. Many events are packed into one message body as a JSON
 * array. Bodies are pure ASCII (every non-ASCII character is escaped as JSON `\uXXXX`), so byte size
 * equals string length and characters outside the Basic Multilingual Plane (emoji) survive emulators
 * that refuse them. Optionally the array is gzipped and base64-encoded, marked by an attribute.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { decodeUtf8, parseEventBatch, PoisonMessageError } from "./event_decode.ts";

export { PoisonMessageError };

/** Message attribute naming the body encoding. */
export const ENCODING_ATTRIBUTE = "ss-encoding";
/** Message attribute carrying the number of events packed in the body. */
export const COUNT_ATTRIBUTE = "ss-count";

export type BodyEncoding = "json" | "gzip+base64";

/**
 * Largest body a gzip+base64 message may inflate to. SQS caps a body at 256 KiB, and JSON of
 * events compresses about 10×; anything beyond this is a decompression bomb, not a batch.
 */
export const MAX_INFLATED_BYTES = 8 * 1024 * 1024;

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
 * Decodes a message body into its untrusted event values through the shared decode path
 * (`parseEventBatch`). A single event object is accepted as a one-element batch. Throws
 * {@linkcode PoisonMessageError} when the body cannot be read at all.
 */
export function unpackBody(body: string | undefined, encoding: string | undefined): unknown[] {
  if (body === undefined || body === "") throw new PoisonMessageError("Message body is empty");
  let json = body;
  if (encoding === "gzip+base64") {
    let bytes: Uint8Array;
    try {
      bytes = gunzipSync(Buffer.from(body, "base64"), { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (cause) {
      throw new PoisonMessageError(
        `Message body is not valid gzip+base64 of at most ${MAX_INFLATED_BYTES} bytes`,
        { cause },
      );
    }
    json = decodeUtf8(bytes);
  } else if (encoding !== undefined && encoding !== "json") {
    throw new PoisonMessageError(`Unknown message encoding "${encoding.slice(0, 40)}"`);
  }
  return parseEventBatch(json);
}
