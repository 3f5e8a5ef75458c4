/**
 * A raw event row of the `events` table and the event it stores: what the derived stage reads
 * batches back with and what `GET /v1/events/{id}` shows (after redaction).
 */
import type { Event } from "./event.ts";

export interface RawEventRow {
  event_id: string;
  event_time: Date;
  event_type: string;
  user_id: string;
  session_id: string;
  product_id: string | null;
  category: string | null;
  /** bigint: as text or number, depending on the query */
  price_cents: string | number | null;
  quantity: number | null;
  device_type: string;
  country: string;
  region: string;
  order_id: string | null;
  ip_address: string | null;
  attrs: Record<string, unknown> | null;
  segment?: string | null;
}

/** The event as the flush received it (fields without a column come back from `attrs`). */
export function rowToEvent(row: RawEventRow): Event {
  const e: Record<string, unknown> = {
    eventId: row.event_id,
    eventType: row.event_type,
    timestamp: row.event_time.toISOString(),
    userId: row.user_id,
    sessionId: row.session_id,
    deviceType: row.device_type,
    location: { country: row.country, region: row.region },
  };
  if (row.product_id !== null) e.productId = row.product_id;
  if (row.category !== null) e.category = row.category;
  if (row.price_cents !== null) e.price = Number(row.price_cents) / 100;
  if (row.quantity !== null) e.quantity = row.quantity;
  if (row.order_id !== null) e.orderId = row.order_id;
  if (row.ip_address !== null) e.ipAddress = row.ip_address;
  return { ...e, ...(row.attrs ?? {}) } as unknown as Event;
}
