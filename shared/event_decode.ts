/**
 * The one decode path of untrusted events, shared by HTTP ingestion and the SQS consumer:
 *
 *   bytes → UTF-8 (fatal) → JSON.parse → batch shape → per event: input limits (iterative) →
 *   aliases → compiled schema validation (zod words the reason of a refusal) → normalisation
 *   (the lenient contract's defaults and derived event id).
 *
 * `JSON.parse` is iterative in V8, so any nesting parses; everything after it that recurses (zod,
 * `JSON.stringify`, PostgreSQL's jsonb) is only reached by values that passed
 * {@linkcode checkInputLimits}, which walks the value with an explicit stack and stops at the first
 * limit it meets. Text PostgreSQL cannot store (U+0000 anywhere, lone surrogates) is refused here
 * too, so it becomes a reject reason for one event instead of a failed flush for a whole batch.
 *
 * Only a body that cannot be read at all (not UTF-8, not JSON, not an event or an array) is
 * undecodable: {@linkcode PoisonMessageError}. Everything else is one result per event.
 */
import { createHash } from "node:crypto";
import { contractIssues, type Event, type EventContract, normalizeEvent, uuidV8 } from "./event.ts";
import { applyEventAliases } from "./event_aliases.ts";
import { compiledValidator } from "./event_validator.ts";

/**
 * A body that can never be processed, whatever the retries: not UTF-8, not JSON, or neither an
 * event nor an array of events. On SQS it is left for the dead-letter queue; over HTTP it is a 400.
 */
export class PoisonMessageError extends Error {
  override name = "PoisonMessageError";
  readonly code = "ERR_POISON_MESSAGE";
}

/** Bounds on one event, checked before any recursive work. Sizes are UTF-16 code units. */
export interface InputLimits {
  /** Nesting of objects and arrays; the event object itself is depth 1, `properties` depth 2. */
  maxDepth: number;
  /** Keys of any one object. */
  maxKeys: number;
  /** Values in one event (every object, array, string, number, boolean and null). */
  maxNodes: number;
  /** Length of any one string or key. */
  maxStringLength: number;
  /** Size of `properties` as JSON text (approximate: strings counted without escapes). */
  maxPropertiesSize: number;
  /** Size of the whole event as JSON text (approximate, as above). */
  maxEventSize: number;
}

/** The limits every event is held to. Generous for real trackers, far below what hurts. */
export const INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxDepth: 16,
  maxKeys: 200,
  maxNodes: 5_000,
  maxStringLength: 8_192,
  maxPropertiesSize: 16_384,
  maxEventSize: 65_536,
});

/** Top-level keys whose subtree counts against `maxPropertiesSize` (the contract name and alias). */
const PROPERTY_KEYS = new Set(["properties", "custom_properties"]);

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes UTF-8 strictly: invalid bytes are an error, never silently U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch (cause) {
    throw new PoisonMessageError("The body is not valid UTF-8", { cause });
  }
}

/**
 * Parses a body into its untrusted event values: one event object or an array of them.
 * Throws {@linkcode PoisonMessageError} when it is not JSON or neither shape.
 */
export function parseEventBatch(text: string): unknown[] {
  if (text === "") throw new PoisonMessageError("The body is empty");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PoisonMessageError(
      `The body is not valid JSON (${(cause as Error).message.slice(0, 200)})`,
      { cause },
    );
  }
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === "object") return [value];
  throw new PoisonMessageError("The body is neither an event object nor an array of events");
}

/** Control characters (NUL included) and lone surrogates: what `printable` escapes. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNPRINTABLE = new RegExp(
  "[\\u0000-\\u001f\\u007f]|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]",
  "g",
);

/** A string made safe to show and to store as PostgreSQL text: NUL, lone surrogates escaped. */
export function printable(s: string, max = 80): string {
  const cut = s.length > max ? s.slice(0, max) + "…" : s;
  return cut.replace(UNPRINTABLE, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

interface Frame {
  value: unknown;
  depth: number;
  /** Key or index under `parent`; paths are only built for the reason of a violation. */
  key: string | number;
  parent: Frame | null;
  inProperties: boolean;
}

function pathText(frame: Frame): string {
  const parts: string[] = [];
  for (let f: Frame | null = frame; f !== null && f.parent !== null; f = f.parent) {
    parts.push(typeof f.key === "number" ? `[${f.key}]` : `.${printable(f.key, 40)}`);
  }
  if (parts.length === 0) return "(event)";
  return parts.reverse().join("").replace(/^\./, "");
}

/**
 * Walks one untrusted value with an explicit stack and returns why it breaks a limit (naming the
 * path), or null when it is within every limit. Work is bounded by the limits themselves: the
 * walk stops at the first violation.
 */
export function checkInputLimits(
  value: unknown,
  limits: Readonly<InputLimits> = INPUT_LIMITS,
): string | null {
  const stack: Frame[] = [{ value, depth: 0, key: "", parent: null, inProperties: false }];
  let nodes = 0;
  let size = 0;
  let propertiesSize = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value: v, depth, inProperties } = frame;
    if (++nodes > limits.maxNodes) {
      return `(event): has more than ${limits.maxNodes} values`;
    }
    let add: number;
    if (typeof v === "string") {
      const bad = badText(v, limits.maxStringLength);
      if (bad !== null) return `${pathText(frame)}: ${bad}`;
      add = v.length + 2;
    } else if (v !== null && typeof v === "object") {
      if (depth + 1 > limits.maxDepth) {
        return `${pathText(frame)}: nests deeper than ${limits.maxDepth} levels`;
      }
      if (Array.isArray(v)) {
        if (v.length > limits.maxNodes) {
          return `${pathText(frame)}: has more than ${limits.maxNodes} values`;
        }
        add = 2 + v.length;
        for (let i = v.length - 1; i >= 0; i--) {
          stack.push({ value: v[i], depth: depth + 1, key: i, parent: frame, inProperties });
        }
      } else {
        const keys = Object.keys(v);
        if (keys.length > limits.maxKeys) {
          return `${pathText(frame)}: has more than ${limits.maxKeys} keys`;
        }
        add = 2 + keys.length;
        for (let i = keys.length - 1; i >= 0; i--) {
          const k = keys[i]!;
          const bad = badText(k, limits.maxStringLength);
          if (bad !== null) return `${pathText(frame)}: key "${printable(k, 40)}" ${bad}`;
          add += k.length + 3;
          stack.push({
            value: (v as Record<string, unknown>)[k],
            depth: depth + 1,
            key: k,
            parent: frame,
            inProperties: inProperties || (depth === 0 && PROPERTY_KEYS.has(k)),
          });
        }
      }
    } else {
      add = 8; // a number, boolean or null
    }
    size += add;
    if (size > limits.maxEventSize) {
      return `(event): is larger than ${limits.maxEventSize} characters of JSON`;
    }
    if (inProperties) {
      propertiesSize += add;
      if (propertiesSize > limits.maxPropertiesSize) {
        let top = frame;
        while (top.parent !== null && top.parent.parent !== null) top = top.parent;
        return `${
          printable(String(top.key))
        }: is larger than ${limits.maxPropertiesSize} characters of JSON`;
      }
    }
  }
  return null;
}

/** Why a string cannot be stored, or null. */
function badText(s: string, maxLength: number): string | null {
  if (s.length > maxLength) return `is longer than ${maxLength} characters`;
  if (s.includes("\u0000")) return "contains U+0000 (NUL), which PostgreSQL text cannot hold";
  if (!s.isWellFormed()) return "contains a lone surrogate (not well-formed Unicode)";
  return null;
}

/** The outcome of decoding one untrusted event. */
export type DecodeResult =
  | { ok: true; event: Event }
  | { ok: false; reason: string };

/**
 * Decodes one untrusted value into an event: limits first, then aliases, the contract's compiled
 * validator and normalisation. Never throws: an unexpected failure of validation itself is a
 * reject reason for this event only.
 */
export function decodeEvent(value: unknown, contract: EventContract = "lenient"): DecodeResult {
  const limit = checkInputLimits(value);
  if (limit !== null) return { ok: false, reason: limit };
  try {
    const mapped = applyEventAliases(value);
    if (!compiledValidator(contract)(mapped)) {
      const reason = contractIssues(mapped, contract);
      // zod is the reference; the property test keeps this branch unreachable.
      if (reason !== null) return { ok: false, reason: printable(reason, 2000) };
    }
    const result = normalizeEvent(mapped as Record<string, unknown>, contract);
    return result.ok ? result : { ok: false, reason: printable(result.reason, 2000) };
  } catch (err) {
    return {
      ok: false,
      reason: `The event could not be validated (${
        printable(err instanceof Error ? `${err.name}: ${err.message}` : String(err), 200)
      })`,
    };
  }
}

/** The largest raw payload kept for one reject; larger ones are truncated (and say so). */
export const MAX_REJECT_PAYLOAD = 16_384;

/** What a reject records about the value it refused. */
export interface RejectInfo {
  /**
   * Stable idempotency key: the event's `eventId` when it is a UUID (lower-cased), else the
   * UUIDv8 of the SHA-256 of the payload's canonical JSON (keys sorted, no whitespace), so a
   * re-sent reject is recognised as the same one and a client can compute it.
   */
  key: string;
  /** The `eventId` the value carried (made printable), else `key`. */
  eventId: string;
  eventType: string | null;
  /** JSON text of the value, truncated to {@linkcode MAX_REJECT_PAYLOAD} characters. */
  payload: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `s` is a UUID in its canonical text form (any version). */
export function isUuid(s: unknown): s is string {
  return typeof s === "string" && s.length === 36 && UUID.test(s);
}

/**
 * Describes a refused value for the rejects table; safe for any value `JSON.parse` returns.
 * `decodedId` is the id decoding gave a valid event refused for its time (its derived id when it
 * came without one), so a reject is found by the same id the event would have been stored under.
 */
export function rejectInfo(value: unknown, decodedId?: string): RejectInfo {
  let payload = "";
  let length = 0;
  for (const chunk of jsonChunks(value)) {
    if (payload.length < MAX_REJECT_PAYLOAD) payload += chunk;
    length += chunk.length;
  }
  if (length > MAX_REJECT_PAYLOAD) {
    payload = payload.slice(0, MAX_REJECT_PAYLOAD) + `…(truncated from ${length} chars)`;
  }
  const obj = value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
  const rawId = obj.eventId ?? obj.event_id;
  const rawType = obj.eventType ?? obj.event_type;
  let key: string;
  if (decodedId !== undefined) key = decodedId;
  else if (isUuid(rawId)) key = rawId.toLowerCase();
  else {
    const hash = createHash("sha256");
    for (const chunk of jsonChunks(value, { sortKeys: true })) hash.update(chunk);
    key = uuidV8(hash.digest());
  }
  return {
    key,
    eventId: decodedId ?? (typeof rawId === "string" && rawId !== "" ? printable(rawId, 128) : key),
    eventType: typeof rawType === "string" ? printable(rawType, 64) : null,
    payload,
  };
}

/**
 * The JSON text of a parsed value in pieces, with an explicit stack (no recursion, whatever the
 * depth). Same text as `JSON.stringify` for anything `JSON.parse` returns; with `sortKeys`, the
 * canonical JSON of `canonicalJson()` (object keys sorted).
 */
export function* jsonChunks(
  value: unknown,
  options: { sortKeys?: boolean } = {},
): Generator<string> {
  type Item = { v: unknown } | { text: string };
  const stack: Item[] = [{ v: value }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if ("text" in item) {
      yield item.text;
      continue;
    }
    const v = item.v;
    if (v === null || typeof v !== "object") {
      yield JSON.stringify(v) ?? "null";
    } else if (Array.isArray(v)) {
      stack.push({ text: "]" });
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ v: v[i] });
        if (i > 0) stack.push({ text: "," });
      }
      yield "[";
    } else {
      const keys = Object.keys(v).filter((k) => {
        const x = (v as Record<string, unknown>)[k];
        return x !== undefined && typeof x !== "function";
      });
      if (options.sortKeys) keys.sort();
      stack.push({ text: "}" });
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ v: (v as Record<string, unknown>)[keys[i]!] });
        stack.push({ text: (i > 0 ? "," : "") + JSON.stringify(keys[i]) + ":" });
      }
      yield "{";
    }
  }
}

/** Formats 16 bytes as a UUID with the given version and the RFC 9562 variant (see `uuidV8`). */
export function uuidFromBytes(bytes: Uint8Array, version: number): string {
  const b = bytes.slice(0, 16);
  b[6] = (b[6]! & 0x0f) | (version << 4);
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}
