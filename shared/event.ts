/**
 * The event contract: one zod schema from which the TypeScript types, validation, the compiled
 * hot-path validator (`event_validator.ts`) and the API's OpenAPI document all come. Field names
 * are camelCase; `event_aliases.ts` maps the other spellings onto them before validation.
 *
 * Two contracts share these field definitions:
 *
 * - **lenient** (the default): only what identifies and counts an event is required (`eventType`,
 *   `userId`, `timestamp`, and `price` + `quantity` on a purchase). Missing dimensions become
 *   `"unknown"`, unknown top-level fields are kept in `properties`, a missing `eventId` is derived
 *   from the event's content ({@linkcode deriveEventId}) so an exact retry still deduplicates.
 * - **strict** (`EVENT_CONTRACT=strict`): every common field and the per-type fields of
 *   {@linkcode STRICT_REQUIRED_BY_TYPE} are required, unknown fields are dropped.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** Every event type ScaleStream understands, in funnel order where there is one. */
export const EVENT_TYPES = [
  "page_view",
  "product_click",
  "search",
  "add_to_cart",
  "remove_from_cart",
  "purchase",
  "order_cancelled",
  "product_review",
  "inventory_update",
] as const;
export type EventType = typeof EVENT_TYPES[number];

export const DEVICE_TYPES = ["mobile", "desktop", "tablet"] as const;
export type DeviceType = typeof DEVICE_TYPES[number];

/** The value a dimension takes when the event does not carry it. */
export const UNKNOWN = "unknown";
/** Device dimension values as stored: the device types plus `"unknown"`. */
export const DEVICE_DIMENSIONS = [...DEVICE_TYPES, UNKNOWN] as const;

/** The version of the contract events are written in; stored with every event. */
export const EVENT_SCHEMA_VERSION = 1;

/** Which contract decoding enforces (`EVENT_CONTRACT`). */
export const EVENT_CONTRACTS = ["lenient", "strict"] as const;
export type EventContract = typeof EVENT_CONTRACTS[number];

/** Largest price accepted for one unit, in currency units; guards revenue sums against garbage. */
export const MAX_PRICE = 1_000_000;
/** Largest quantity accepted on one event. */
export const MAX_QUANTITY = 10_000;
/** Most keys `properties` may hold (unknown top-level fields included). */
export const MAX_PROPERTIES = 50;
/** Longest key in `properties`. */
export const MAX_PROPERTY_KEY = 64;

/** What makes a string storable; shared by the schema's refinement and the decode path's walk. */
export function isStorableText(s: string): boolean {
  return !s.includes("\u0000") && s.isWellFormed();
}

/**
 * The refinements below carry a JSON Schema keyword naming them, so the compiled validator
 * (`event_validator.ts`) runs the very same predicate; the OpenAPI document shows them as
 * extension keywords.
 */
export const STORABLE_KEYWORD = "x-storable-text";
export const CENTS_KEYWORD = "x-cents";
export const PROPERTIES_KEYWORD = "x-storable-properties";
export const IP_KEYWORD = "x-ip-address";

/**
 * zod checks IPv6 addresses with code, not with the pattern its JSON Schema shows (which refuses
 * some valid forms such as "::0:0:0.0.0.0"), so the compiled validator calls zod for this field.
 */
const ipAddress = z.union([z.ipv4(), z.ipv6()]);

/** Whether `s` is an IPv4 or IPv6 address, exactly as the schema decides. */
export function isIpAddress(s: string): boolean {
  return ipAddress.safeParse(s).success;
}

/** At most two decimals (within floating-point noise). */
export function hasCents(p: number): boolean {
  return Math.abs(p * 100 - Math.round(p * 100)) < 1e-6;
}

/** At most {@linkcode MAX_PROPERTIES} keys and nothing PostgreSQL's jsonb refuses. */
export function arePropertiesStorable(p: Record<string, unknown>): boolean {
  return Object.keys(p).length <= MAX_PROPERTIES && !BAD_JSON_ESCAPE.test(JSON.stringify(p));
}

/**
 * Strings must be well-formed Unicode without NUL: PostgreSQL text cannot hold NUL, and its jsonb
 * refuses both `\u0000` and unpaired surrogates, which would fail a whole flush instead of one event.
 */
const text = (min: number, max: number) =>
  z.string().min(min).max(max).refine(isStorableText, {
    message: "Must be well-formed Unicode without NUL characters",
  }).meta({ [STORABLE_KEYWORD]: true });
/** In JSON text (as `JSON.stringify` writes it): an escaped NUL or an escaped lone surrogate. */
const BAD_JSON_ESCAPE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;
const id = text(1, 128);
const shortText = text(0, 2048);

/** Prices carry at most two decimals; anything finer is a producer bug, not a currency. */
const price = z.number().min(0).max(MAX_PRICE).refine(hasCents, {
  message: "Price must have at most two decimals",
}).meta({ [CENTS_KEYWORD]: true });

const COUNTRY = /^[A-Z]{2}$/;
export const LocationSchema = z.object({
  country: z.string().regex(COUNTRY, "Country must be an ISO 3166-1 alpha-2 code"),
  region: text(1, 64),
});

const properties = z.record(text(1, MAX_PROPERTY_KEY), z.json()).refine(arePropertiesStorable, {
  message:
    `Properties must have at most ${MAX_PROPERTIES} keys, no NUL characters and no lone surrogates`,
}).meta({ [PROPERTIES_KEYWORD]: true });

/** Fields every contract defines the same way (optional here; each contract decides). */
const OPTIONAL_FIELDS = {
  productId: id.optional(),
  category: text(1, 64).optional(),
  price: price.optional(),
  quantity: z.int().min(1).max(MAX_QUANTITY).optional(),
  pageUrl: shortText.optional(),
  referrer: shortText.optional(),
  userAgent: text(0, 512).optional(),
  ipAddress: ipAddress.meta({ [IP_KEYWORD]: true }).optional(),
  searchQuery: text(0, 512).optional(),
  orderId: id.optional(),
  rating: z.int().min(1).max(5).optional(),
  stock: z.int().min(0).max(1_000_000_000).optional(),
  schemaVersion: z.int().min(1).max(EVENT_SCHEMA_VERSION).optional(),
  properties: properties.optional(),
};

/** Fields each event type must carry beyond the common ones, in the strict contract. */
export const STRICT_REQUIRED_BY_TYPE: Readonly<Record<EventType, readonly (keyof EventInput)[]>> = {
  page_view: ["pageUrl"],
  product_click: ["productId", "category"],
  search: ["searchQuery"],
  add_to_cart: ["productId", "category", "price", "quantity"],
  remove_from_cart: ["productId", "category", "quantity"],
  purchase: ["productId", "category", "price", "quantity", "orderId"],
  order_cancelled: ["orderId"],
  product_review: ["productId", "rating"],
  inventory_update: ["productId", "stock"],
};

/** Fields each event type must carry beyond the common ones, in the lenient (default) contract. */
export const REQUIRED_BY_TYPE: Readonly<Record<EventType, readonly (keyof EventInput)[]>> = {
  page_view: [],
  product_click: [],
  search: [],
  add_to_cart: [],
  remove_from_cart: [],
  purchase: ["price", "quantity"],
  order_cancelled: [],
  product_review: [],
  inventory_update: [],
};

/** Event types about one product: a missing `category` on them is the `"unknown"` category. */
const PRODUCT_TYPES: ReadonlySet<string> = new Set<EventType>([
  "product_click",
  "add_to_cart",
  "remove_from_cart",
  "purchase",
]);

const StrictObject = z.object({
  eventId: z.uuid(),
  userId: id,
  sessionId: id,
  eventType: z.enum(EVENT_TYPES),
  timestamp: z.iso.datetime({ offset: true }),
  deviceType: z.enum(DEVICE_TYPES),
  location: LocationSchema,
  ...OPTIONAL_FIELDS,
});
type EventInput = z.infer<typeof StrictObject>;

/** Unknown top-level fields pass (they become `properties`); `location` parts are optional. */
const LenientObject = z.looseObject({
  eventId: z.uuid().optional(),
  userId: id,
  sessionId: id.optional(),
  eventType: z.enum(EVENT_TYPES),
  timestamp: z.iso.datetime({ offset: true, local: true }),
  deviceType: z.enum(DEVICE_DIMENSIONS).optional(),
  location: z.object({
    country: z.union([z.string().regex(COUNTRY), z.literal(UNKNOWN)], {
      message: `Country must be an ISO 3166-1 alpha-2 code or "${UNKNOWN}"`,
    }).optional(),
    region: text(1, 64).optional(),
  }).optional(),
  ...OPTIONAL_FIELDS,
});

function requireByType(rules: Readonly<Record<EventType, readonly (keyof EventInput)[]>>) {
  return (e: { eventType: EventType } & Record<string, unknown>, ctx: z.RefinementCtx) => {
    for (const field of rules[e.eventType]) {
      if (e[field] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `Field "${field}" is required for eventType "${e.eventType}"`,
        });
      }
    }
  };
}

/** The strict contract's schema of one event, with the per-type required fields enforced. */
export const StrictEventSchema = StrictObject.superRefine(requireByType(STRICT_REQUIRED_BY_TYPE));

/** The lenient (default) contract's schema of one incoming event, after alias mapping. */
export const EventSchema = LenientObject.superRefine(requireByType(REQUIRED_BY_TYPE));

/** The schema of each contract, for the compiled validator and the property test. */
export const CONTRACT_SCHEMAS = {
  lenient: EventSchema,
  strict: StrictEventSchema,
} as const satisfies Record<EventContract, z.ZodType>;

/**
 * One event as decoded and stored: the strict shape, where `deviceType` and `location` may be
 * `"unknown"` (the lenient contract's defaults) and `schemaVersion` is set by decoding.
 */
const StoredObject = StrictObject.extend({
  deviceType: z.enum(DEVICE_DIMENSIONS),
  location: z.object({
    country: z.string(),
    region: z.string(),
  }),
});

/** One validated clickstream event. */
export type Event = z.infer<typeof StoredObject>;

/** Names of the contract's fields; anything else at the top level is an unknown field. */
export const EVENT_FIELDS: readonly (keyof Event)[] = Object.keys(StoredObject.shape) as (
  keyof Event
)[];
const KNOWN_FIELDS: ReadonlySet<string> = new Set(EVENT_FIELDS);

/** The outcome of validating one untrusted value as an event. */
export type ValidationResult =
  | { ok: true; event: Event }
  | { ok: false; reason: string };

/**
 * Validates one untrusted value with zod (the reference; decoding uses the compiled validator of
 * `event_validator.ts`) and normalises it as decoding does. The reason names the first fields
 * that failed. Aliases are not mapped here: `decodeEvent` does that first.
 */
export function validateEvent(
  value: unknown,
  contract: EventContract = "lenient",
): ValidationResult {
  const result = CONTRACT_SCHEMAS[contract].safeParse(value);
  if (!result.success) return { ok: false, reason: formatIssues(result.error.issues) };
  return normalizeEvent(value as Record<string, unknown>, contract);
}

/** The reason zod gives for refusing `value`, or null when it accepts it. */
export function contractIssues(value: unknown, contract: EventContract): string | null {
  const result = CONTRACT_SCHEMAS[contract].safeParse(value);
  return result.success ? null : formatIssues(result.error.issues);
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.slice(0, 5).map((i) => {
    const path = i.path.length > 0 ? i.path.join(".") : "(event)";
    return `${path}: ${i.message}`;
  }).join("; ");
}

const HAS_OFFSET = /(?:[zZ]|[+-]\d{2}:?\d{2})$/;

/**
 * Turns a value the contract's schema accepted into the stored {@linkcode Event}: only the
 * contract's fields, `schemaVersion` set, and, in the lenient contract, the defaults: `"unknown"`
 * for a missing session, device, country, region and (on product events) category; unknown
 * top-level fields merged into `properties` (a key `properties` already holds wins); a timestamp
 * without an offset read as UTC; a missing `eventId` derived by {@linkcode deriveEventId}; a
 * purchase without `orderId` is an order of its own (`orderId` = `eventId`). Fails only when the
 * merged `properties` break their limits.
 */
export function normalizeEvent(
  value: Record<string, unknown>,
  contract: EventContract,
): ValidationResult {
  const e: Record<string, unknown> = { schemaVersion: EVENT_SCHEMA_VERSION };
  let extra: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (v === undefined) continue;
    if (KNOWN_FIELDS.has(key)) e[key] = v;
    else if (contract === "lenient") {
      extra ??= {};
      // An own "__proto__" key (JSON.parse makes one) stays a key, never a prototype.
      Object.defineProperty(extra, key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  if (contract === "strict") return { ok: true, event: e as Event };
  if (extra !== undefined) {
    const merged = { ...extra, ...(e.properties as Record<string, unknown> | undefined) };
    const keys = Object.keys(merged);
    if (keys.length > MAX_PROPERTIES) {
      return {
        ok: false,
        reason: `properties: With the unknown fields (${
          Object.keys(extra).slice(0, 5).join(", ")
        }) it has more than ${MAX_PROPERTIES} keys`,
      };
    }
    const long = keys.find((k) => k.length > MAX_PROPERTY_KEY);
    if (long !== undefined) {
      return {
        ok: false,
        reason: `${long.slice(0, 40)}…: An unknown field's name is longer than ${MAX_PROPERTY_KEY}`,
      };
    }
    e.properties = merged;
  }
  e.sessionId ??= UNKNOWN;
  e.deviceType ??= UNKNOWN;
  const location = e.location as { country?: string; region?: string } | undefined;
  e.location = { country: location?.country ?? UNKNOWN, region: location?.region ?? UNKNOWN };
  if (e.category === undefined && PRODUCT_TYPES.has(e.eventType as string)) e.category = UNKNOWN;
  const timestamp = e.timestamp as string;
  if (!HAS_OFFSET.test(timestamp)) e.timestamp = timestamp + "Z";
  if (e.eventId === undefined) e.eventId = deriveEventId(e);
  else e.eventId = (e.eventId as string).toLowerCase();
  if (e.eventType === "purchase" && e.orderId === undefined) e.orderId = e.eventId;
  return { ok: true, event: e as Event };
}

/**
 * The id of an event that came without one: the UUIDv8 (RFC 9562) made of the first 16 bytes of
 * the SHA-256 of the event's canonical JSON (RFC 8785: keys sorted by UTF-16 code units, no
 * whitespace, numbers as JavaScript writes them), with the version and variant bits set. The
 * event is taken normalised (aliases mapped, defaults filled, unknown fields in `properties`,
 * `schemaVersion` set) and without `eventId`, so the same event sent twice gets the same id.
 */
export function deriveEventId(normalised: Readonly<Record<string, unknown>>): string {
  const { eventId: _, ...content } = normalised;
  const digest = createHash("sha256").update(canonicalJson(content)).digest();
  return uuidV8(digest);
}

/**
 * Canonical JSON (RFC 8785 for the values `JSON.parse` returns): object keys sorted, no
 * whitespace. Recursive: only called on values that passed the decode path's depth limit.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(o[k])).join(",") + "}";
}

/** Formats the first 16 bytes as a version-8 UUID with the RFC 9562 variant. */
export function uuidV8(bytes: Uint8Array): string {
  const b = bytes.slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20, 32)
  }`;
}

/** Whole cents of a price; exact for prices with at most two decimals. */
export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

/** Revenue of an event in cents: price × quantity for purchases, zero otherwise. */
export function revenueCents(e: Pick<Event, "eventType" | "price" | "quantity">): number {
  if (e.eventType !== "purchase") return 0;
  return toCents(e.price ?? 0) * (e.quantity ?? 1);
}
