/**
 * How events travel inside SQS messages. Many events are packed into one message body as a JSON
 * array. Bodies are pure ASCII (every non-ASCII character is escaped as JSON `\uXXXX`), so byte size
 * equals string length and characters outside the Basic Multilingual Plane (emoji) survive emulators
 * that refuse them. Optionally the array is compressed and base64-encoded, marked by an attribute.
 *
 * Compression pays twice: SQS bills every 64 KiB chunk of a request, and a compressed message holds
 * several times more events. zstd at level 1 is the default because it was measured smallest and
 * cheapest at once (bench/codec_measure.ts, docs/performance.md: 0.14 of the JSON size with
 * base64, 0.5 µs per event to compress, decoding no slower than plain JSON); gzip stays readable
 * and selectable. Every encoding is decoded by every consumer, so compressed and plain messages
 * can share a queue; a new encoding must reach every consumer before any producer writes it.
 */
import { constants, gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { decodeUtf8, parseEventBatch, PoisonMessageError } from "./event_decode.ts";

export { PoisonMessageError };

/** Message attribute naming the body encoding. */
export const ENCODING_ATTRIBUTE = "ss-encoding";
/** Message attribute carrying the number of events packed in the body. */
export const COUNT_ATTRIBUTE = "ss-count";

/** Every body encoding a consumer reads; the producer writes one of them. */
export const BODY_ENCODINGS = ["json", "gzip+base64", "zstd+base64"] as const;
export type BodyEncoding = typeof BODY_ENCODINGS[number];
/** What producers write unless told otherwise (PRODUCER_ENCODING). */
export const DEFAULT_BODY_ENCODING: BodyEncoding = "zstd+base64";

/**
 * The largest body a compressed message may expand to: far above what a 1 MiB message of events
 * inflates to, low enough that a hostile "zip bomb" cannot exhaust memory.
 */
export const MAX_DECODED_BODY_BYTES = 16 * 1024 * 1024;

const ZSTD_LEVEL = 1;
const GZIP_LEVEL = 3;

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
  return encodeBody("[" + encoded.join(",") + "]", encoding);
}

/** Encodes an ASCII JSON array as a message body; compressed encodings are base64. */
export function encodeBody(json: string, encoding: BodyEncoding): string {
  switch (encoding) {
    case "json":
      return json;
    case "gzip+base64":
      return gzipSync(json, { level: GZIP_LEVEL }).toString("base64");
    case "zstd+base64":
      return zstdCompressSync(json, {
        params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
      }).toString("base64");
    default:
      throw new TypeError(`Unknown body encoding "${encoding}"`);
  }
}

/**
 * Decodes a message body into its untrusted event values through the shared decode path
 * (`decodeUtf8`, `parseEventBatch`). A single event object is accepted as a one-element batch.
 * Throws {@linkcode PoisonMessageError} when the body cannot be read at all.
 */
export function unpackBody(body: string | undefined, encoding: string | undefined): unknown[] {
  if (body === undefined || body === "") throw new PoisonMessageError("Message body is empty");
  let json = body;
  if (encoding === "gzip+base64" || encoding === "zstd+base64") {
    let bytes: Uint8Array;
    try {
      const raw = Buffer.from(body, "base64");
      const limit = { maxOutputLength: MAX_DECODED_BODY_BYTES };
      bytes = encoding === "gzip+base64" ? gunzipSync(raw, limit) : zstdDecompressSync(raw, limit);
    } catch (cause) {
      throw new PoisonMessageError(
        `Message body is not valid ${encoding} of at most ${MAX_DECODED_BODY_BYTES} bytes`,
        { cause },
      );
    }
    json = decodeUtf8(bytes);
  } else if (encoding !== undefined && encoding !== "json") {
    throw new PoisonMessageError(`Unknown message encoding "${encoding.slice(0, 40)}"`);
  }
  return parseEventBatch(json);
}
