/**
 * Events sent without a device are stored under the dimension `unknown` (the lenient contract),
 * as the decoder writes them (here set directly), and the analytics filters can select them: `device=unknown` is a valid filter value.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { registerAnalyticsRoutes } from "../api/routes/analytics/register.ts";
import { flushAll, makeEvent } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const T0 = Date.UTC(2026, 10, 19, 8, 0);
const RANGE = "window=1h&from=2026-11-19T08:00:00Z&to=2026-11-19T09:00:00Z";

Deno.test("device=unknown selects the events stored without a device", async () => {
  const db = await createTestDb();
  try {
    const at = (i: number) => new Date(T0 + i * 1000).toISOString();
    const events = [
      ...Array.from(
        { length: 3 },
        (_, i) => makeEvent({ eventType: "page_view", timestamp: at(i), deviceType: "unknown" }),
      ),
      ...Array.from(
        { length: 5 },
        (_, i) =>
          makeEvent({ eventType: "page_view", timestamp: at(10 + i), deviceType: "mobile" }),
      ),
    ];
    await flushAll(db.sql, events);
    const app = new OpenAPIHono();
    registerAnalyticsRoutes(app, { sql: db.sql });
    const total = async (device: string) => {
      const res = await app.request(`/v1/metrics/traffic?${RANGE}&device=${device}`);
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      return (body.buckets as { events: number }[]).reduce((a, b) => a + b.events, 0);
    };
    assert.equal(await total("unknown"), 3);
    assert.equal(await total("mobile"), 5);
    const bad = await app.request(`/v1/metrics/traffic?${RANGE}&device=toaster`);
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
  } finally {
    await db.close();
  }
});
