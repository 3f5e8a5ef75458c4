/**
 * Real trackers spell the same event many ways: camelCase (the contract), snake_case, flat
 * `country`/`region` instead of `location`, `click` for a product click, `Mobile` for `mobile`.
 * This maps those spellings onto the contract's names and values before validation, for HTTP and
 * SQS alike (both go through `decodeEvent`), so the schema itself stays the only definition of an
 * event.
 */
import { DEVICE_TYPES, EVENT_FIELDS, EVENT_TYPES } from "./event.ts";

const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

/**
 * Other names of contract fields and the field each one stands for: the snake_case spelling of
 * every field (`event_id`, `user_id`, …, generated from the contract), plus the names trackers
 * and the requirement documents use for a few of them.
 */
export const EVENT_FIELD_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  ...Object.fromEntries(
    EVENT_FIELDS.filter((f) => snake(f) !== f).map((f) => [snake(f), f]),
  ),
  custom_properties: "properties",
  customProperties: "properties",
  type: "eventType",
  event_name: "eventType",
  eventName: "eventType",
  event_time: "timestamp",
  eventTime: "timestamp",
  device: "deviceType",
  ip: "ipAddress",
  url: "pageUrl",
  query: "searchQuery",
});

/** Event type names trackers and the requirement documents use, and the contract's type. */
export const EVENT_TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  click: "product_click",
  page: "page_view",
  pageview: "page_view",
  product_view: "product_click",
  product_viewed: "product_click",
  product_added: "add_to_cart",
  product_removed: "remove_from_cart",
  order_completed: "purchase",
  order_canceled: "order_cancelled",
  review: "product_review",
});

/** Device names and the device type each one stands for. */
export const DEVICE_TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  phone: "mobile",
  smartphone: "mobile",
  pc: "desktop",
  computer: "desktop",
  laptop: "desktop",
});

/**
 * Fields that trackers often put inside `properties` (Segment-style `track(type, properties)`):
 * when the top level lacks one, its value in `properties` (any spelling) is moved up.
 */
export const LIFTED_PROPERTIES: readonly string[] = Object.freeze([
  "productId",
  "category",
  "price",
  "quantity",
  "orderId",
  "searchQuery",
  "pageUrl",
  "referrer",
  "rating",
  "stock",
]);
const LIFTED: ReadonlySet<string> = new Set(LIFTED_PROPERTIES);

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);
const KNOWN_DEVICES: ReadonlySet<string> = new Set(DEVICE_TYPES);

/** `Page View`, `pageView`, `page-view` → `page_view`, then the type aliases. */
function eventTypeName(raw: string): string {
  if (KNOWN_TYPES.has(raw)) return raw;
  const name = raw.trim().replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().replace(
    /[\s-]+/g,
    "_",
  );
  return EVENT_TYPE_ALIASES[name] ?? name;
}

function deviceName(raw: string): string {
  if (KNOWN_DEVICES.has(raw)) return raw;
  const name = raw.trim().toLowerCase();
  return DEVICE_TYPE_ALIASES[name] ?? name;
}

/**
 * Returns `value` with aliases renamed to their contract fields. A contract field that is present
 * wins over its alias (a snake_case duplicate is dropped; any other alias is left as it is, an
 * unknown field). Top-level `country` and `region` become `location` when `location` is absent.
 * A field of {@linkcode LIFTED_PROPERTIES} missing at the top level is moved up from `properties`.
 * Event type and device names are normalised (case, separators, aliases); a two-letter country
 * code is upper-cased. Anything that is not a plain object is returned as is, for the schema to
 * reject.
 */
export function applyEventAliases(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const input = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    const v = input[key];
    const target = EVENT_FIELD_ALIASES[key];
    if (target === undefined) {
      if (!Object.hasOwn(out, key)) setOwn(out, key, v);
    } else if (!Object.hasOwn(input, target) && !Object.hasOwn(out, target)) {
      out[target] = v;
    } else if (snake(target) !== key) {
      setOwn(out, key, v);
    }
  }
  liftProperties(out);
  if (typeof out.eventType === "string") out.eventType = eventTypeName(out.eventType);
  if (typeof out.deviceType === "string") out.deviceType = deviceName(out.deviceType);
  if (out.location === undefined && (out.country !== undefined || out.region !== undefined)) {
    const location: Record<string, unknown> = {};
    if (out.country !== undefined) location.country = out.country;
    if (out.region !== undefined) location.region = out.region;
    out.location = location;
    delete out.country;
    delete out.region;
  }
  const location = out.location;
  if (
    location !== null && typeof location === "object" && !Array.isArray(location) &&
    typeof (location as Record<string, unknown>).country === "string" &&
    /^(?:[a-z][a-zA-Z]|[A-Z][a-z])$/.test((location as Record<string, string>).country!)
  ) {
    out.location = {
      ...location,
      country: (location as Record<string, string>).country!.toUpperCase(),
    };
  }
  return out;
}

function liftProperties(out: Record<string, unknown>): void {
  const props = out.properties;
  if (props === null || typeof props !== "object" || Array.isArray(props)) return;
  let rest: Record<string, unknown> | undefined;
  for (const key of Object.keys(props)) {
    const target = LIFTED.has(key) ? key : EVENT_FIELD_ALIASES[key];
    if (target === undefined || !LIFTED.has(target) || out[target] !== undefined) continue;
    rest ??= { ...props };
    out[target] = rest[key];
    delete rest[key];
  }
  if (rest !== undefined) out.properties = rest;
}

/**
 * Sets an own property, even one named `__proto__` (which `JSON.parse` creates as an own key but
 * plain assignment would turn into the object's prototype, making its fields look present).
 */
export function setOwn(o: Record<string, unknown>, key: string, v: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(o, key, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    o[key] = v;
  }
}
