/**
 * The event contract: one zod schema from which the TypeScript types, validation and the API's
 * OpenAPI document all come. Field names are camelCase, as in seed 002's sample event.
 */
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

/** Largest price accepted for one unit, in currency units; guards revenue sums against garbage. */
export const MAX_PRICE = 1_000_000;
/** Largest quantity accepted on one event. */
export const MAX_QUANTITY = 10_000;

/**
 * Strings must be well-formed Unicode without NUL: PostgreSQL text cannot hold NUL, and its jsonb
 * refuses both `\u0000` and unpaired surrogates, which would fail a whole flush instead of one event.
 */
const text = (min: number, max: number) =>
  z.string().min(min).max(max).refine((s) => !s.includes("\u0000") && s.isWellFormed(), {
    message: "Must be well-formed Unicode without NUL characters",
  });
/** In JSON text (as `JSON.stringify` writes it): an escaped NUL or an escaped lone surrogate. */
const BAD_JSON_ESCAPE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;
const id = text(1, 128);
const shortText = text(0, 2048);

/** Prices carry at most two decimals; anything finer is a producer bug, not a currency. */
const price = z.number().min(0).max(MAX_PRICE).refine(
  (p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6,
  { message: "Price must have at most two decimals" },
);

export const LocationSchema = z.object({
  country: z.string().regex(/^[A-Z]{2}$/, "Country must be an ISO 3166-1 alpha-2 code"),
  region: text(1, 64),
});

/** Fields each event type must carry beyond the common ones. */
export const REQUIRED_BY_TYPE: Readonly<Record<EventType, readonly (keyof EventInput)[]>> = {
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

const EventObject = z.object({
  eventId: z.uuid(),
  userId: id,
  sessionId: id,
  eventType: z.enum(EVENT_TYPES),
  timestamp: z.iso.datetime({ offset: true }),
  productId: id.optional(),
  category: text(1, 64).optional(),
  price: price.optional(),
  quantity: z.int().min(1).max(MAX_QUANTITY).optional(),
  deviceType: z.enum(DEVICE_TYPES),
  location: LocationSchema,
  pageUrl: shortText.optional(),
  referrer: shortText.optional(),
  userAgent: text(0, 512).optional(),
  ipAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
  searchQuery: text(0, 512).optional(),
  orderId: id.optional(),
  rating: z.int().min(1).max(5).optional(),
  stock: z.int().min(0).max(1_000_000_000).optional(),
  properties: z.record(text(1, 64), z.json()).refine(
    (p) => Object.keys(p).length <= 50 && !BAD_JSON_ESCAPE.test(JSON.stringify(p)),
    { message: "Properties must have at most 50 keys, no NUL characters and no lone surrogates" },
  ).optional(),
});
type EventInput = z.infer<typeof EventObject>;

/** The schema of one event, with the per-type required fields enforced. */
export const EventSchema = EventObject.superRefine((e, ctx) => {
  for (const field of REQUIRED_BY_TYPE[e.eventType]) {
    if (e[field] === undefined) {
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: `Field "${field}" is required for eventType "${e.eventType}"`,
      });
    }
  }
});

/** One validated clickstream event. */
export type Event = z.infer<typeof EventSchema>;

/** The outcome of validating one untrusted value as an event. */
export type ValidationResult =
  | { ok: true; event: Event }
  | { ok: false; reason: string };

/** Validates one untrusted value; the reason names the first fields that failed. */
export function validateEvent(value: unknown): ValidationResult {
  const result = EventSchema.safeParse(value);
  if (result.success) return { ok: true, event: result.data };
  return { ok: false, reason: formatIssues(result.error.issues) };
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.slice(0, 5).map((i) => {
    const path = i.path.length > 0 ? i.path.join(".") : "(event)";
    return `${path}: ${i.message}`;
  }).join("; ");
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
