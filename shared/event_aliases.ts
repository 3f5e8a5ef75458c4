/**
 * Seed 003 describes events in snake_case (`user_id`, `event_type`, `custom_properties`, …) while
 * the contract in `event.ts` is camelCase. HTTP ingestion accepts both: this maps the snake_case
 * spellings onto the contract's names before validation, so the schema itself stays the only
 * definition of an event.
 */

/** Seed 003's field names and the contract field each one stands for. */
export const EVENT_FIELD_ALIASES: Readonly<Record<string, string>> = {
  event_id: "eventId",
  user_id: "userId",
  session_id: "sessionId",
  event_type: "eventType",
  page_url: "pageUrl",
  product_id: "productId",
  device_type: "deviceType",
  user_agent: "userAgent",
  ip_address: "ipAddress",
  custom_properties: "properties",
  search_query: "searchQuery",
  order_id: "orderId",
};

/** Seed 003's event type names that differ from the contract's. */
export const EVENT_TYPE_ALIASES: Readonly<Record<string, string>> = {
  click: "product_click",
};

/**
 * Returns `value` with snake_case aliases renamed to their camelCase fields. A camelCase field that
 * is present wins over its alias. Top-level `country` and `region` (seed 003 has no `location`)
 * become `location` when `location` is absent. Anything that is not a plain object is returned as
 * is, for the schema to reject.
 */
export function applyEventAliases(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const input = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(input)) {
    const target = EVENT_FIELD_ALIASES[key];
    if (target === undefined) {
      out[key] = v;
    } else if (!(target in input)) {
      out[target] = v;
    }
  }
  if (typeof out.eventType === "string" && out.eventType in EVENT_TYPE_ALIASES) {
    out.eventType = EVENT_TYPE_ALIASES[out.eventType];
  }
  if (out.location === undefined && (out.country !== undefined || out.region !== undefined)) {
    out.location = { country: out.country, region: out.region };
    delete out.country;
    delete out.region;
  }
  return out;
}
