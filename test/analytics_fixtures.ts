/** Shared fixtures for the analytics tests: seeded events and flushing them through the stages. */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { registerAnalyticsRoutes } from "../api/routes/analytics/register.ts";
import type { PlanOptions } from "../api/routes/analytics/_planner.ts";
import { type AcceptedEvent, deriveAll, flushEvents, type FlushStage } from "../consumer/mod.ts";
import { analyticsStages } from "../consumer/analytics_stages.ts";
import { createGenerator, type Generator } from "../producer/mod.ts";
import type { Event, Sql } from "../shared/mod.ts";
import { testConfig } from "./harness.ts";

export const config = testConfig();
export const stages: FlushStage[] = analyticsStages(config);

/** Segments are a fixed function of the user id, as enrichment would provide. */
export const segmentOf = (userId: string) =>
  ["new", "returning", "loyal"][Number(userId.replace(/\D/g, "") || 0) % 3]!;

export function accepted(events: readonly Event[]): AcceptedEvent[] {
  return events.map((event) => ({ event, timeMs: Date.parse(event.timestamp) }));
}

/** `n` seeded events spread evenly over `[startMs, startMs + spanMs)`. */
export function seededEvents(
  n: number,
  startMs: number,
  spanMs: number,
  options: { seed?: number; users?: number; products?: number } = {},
): { events: Event[]; generator: Generator } {
  const generator = createGenerator({
    seed: options.seed ?? 7,
    users: options.users ?? 200,
    products: options.products ?? 40,
  });
  const events = Array.from(
    { length: n },
    (_, i) => generator.next(startMs + Math.floor(i * spanMs / n)),
  );
  return { events, generator };
}

/**
 * Flushes events in chunks through the real core flush, then derives every committed batch with
 * the analytics stages through the outbox (`stages: []` skips the derived stage).
 */
export async function flushAll(
  sql: Sql,
  events: readonly Event[],
  options: { chunk?: number; nowMs?: number; stages?: readonly FlushStage[] } = {},
): Promise<void> {
  const chunk = options.chunk ?? 500;
  for (let i = 0; i < events.length; i += chunk) {
    await flushEvents(
      { events: accepted(events.slice(i, i + chunk)), rejects: [], messages: 1, workerId: "test" },
      {
        sql,
        segmentOf,
        ...(options.nowMs !== undefined ? { now: () => options.nowMs! } : {}),
      },
    );
  }
  await deriveAll({ sql }, {
    stages: options.stages ?? stages,
    ...(options.nowMs !== undefined ? { now: () => options.nowMs! } : {}),
  });
}

/** A hand-built valid event; fields override the defaults. */
export function makeEvent(fields: Partial<Event> & Pick<Event, "eventType" | "timestamp">): Event {
  const base: Event = {
    eventId: crypto.randomUUID(),
    userId: "u-hand",
    sessionId: "s-hand",
    deviceType: "desktop",
    location: { country: "US", region: "CA" },
    ipAddress: "192.0.2.1",
    ...fields,
  };
  switch (base.eventType) {
    case "page_view":
      base.pageUrl ??= "/";
      break;
    case "purchase":
      base.productId ??= "p-1";
      base.category ??= "electronics";
      base.price ??= 10;
      base.quantity ??= 1;
      base.orderId ??= `o-${crypto.randomUUID()}`;
      break;
    case "inventory_update":
      base.productId ??= "p-1";
      base.stock ??= 100;
      break;
    case "order_cancelled":
      base.orderId ??= "o-1";
      break;
    case "product_click":
      base.productId ??= "p-1";
      base.category ??= "electronics";
      break;
    default:
      break;
  }
  return base;
}

/** A GET of the analytics routes read with `plan`, asserting 200 and answering the JSON body. */
export function analyticsReader(sql: Sql, plan: PlanOptions = {}) {
  const app = new OpenAPIHono();
  registerAnalyticsRoutes(app, { sql, plan });
  return async (path: string) => {
    const res = await app.request(path);
    const body = await res.json();
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(body)}`);
    return body;
  };
}
