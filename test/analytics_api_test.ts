/**
 * The analytics read routes through `app.request()`: values equal those computed from the seeded
 * events, bad parameters are 400, lists are bounded, and no raw IP or user agent leaks.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { registerAnalyticsRoutes } from "../api/routes/analytics/register.ts";
import { revenueCents } from "../shared/mod.ts";
import { flushAll, makeEvent, seededEvents } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;

Deno.test("analytics routes answer from the stored aggregates exactly", async (t) => {
  const db = await createTestDb();
  const app = new OpenAPIHono();
  registerAnalyticsRoutes(app, { sql: db.sql });
  app.onError((err, c) => {
    const status = err instanceof HTTPException ? err.status : 500;
    return c.json({ status, detail: err.message }, status);
  });
  const get = async (path: string) => {
    const res = await app.request(path);
    const text = await res.text();
    return { status: res.status, body: text.length > 0 ? JSON.parse(text) : null, text };
  };
  try {
    const start = Math.floor((Date.now() - 30 * MIN) / (5 * MIN)) * 5 * MIN;
    const { events } = seededEvents(2000, start, 20 * MIN, { seed: 3, users: 100, products: 30 });
    events.forEach((e) => (e.userAgent = "Mozilla/5.0 secret-agent"));
    await flushAll(db.sql, events);
    const from = new Date(start).toISOString();
    const to = new Date(start + 20 * MIN).toISOString();
    const range = `from=${from}&to=${to}`;

    await t.step("funnel and revenue per 5m window equal the events", async () => {
      const r = await get(`/v1/metrics/funnel?window=5m&${range}&device=mobile`);
      assert.equal(r.status, 200, r.text);
      const mobile = events.filter((e) => e.deviceType === "mobile");
      const n = (types: string[]) => mobile.filter((e) => types.includes(e.eventType)).length;
      assert.equal(r.body.total.views, n(["page_view", "product_click"]));
      assert.equal(r.body.total.carts, n(["add_to_cart"]));
      assert.equal(r.body.total.purchases, n(["purchase"]));
      assert.equal(r.body.buckets.length, 4);
      const rev = await get(`/v1/metrics/revenue?window=5m&${range}&category=books`);
      const books = events.filter((e) => e.eventType === "purchase" && e.category === "books");
      const sum = rev.body.buckets.reduce(
        (s: number, b: { revenue: number }) => s + b.revenue * 100,
        0,
      );
      assert.equal(Math.round(sum), books.reduce((s, e) => s + revenueCents(e), 0));
      assert.equal(
        rev.body.buckets.reduce((s: number, b: { orders: number }) => s + b.orders, 0),
        books.length,
      );
    });

    await t.step("traffic per 1h and active users are exact", async () => {
      const r = await get(`/v1/metrics/traffic?window=1h&${range}&country=US`);
      assert.equal(r.status, 200);
      const total = r.body.buckets.reduce((s: number, b: { events: number }) => s + b.events, 0);
      assert.equal(total, events.filter((e) => e.location.country === "US").length);
      const au = await get(`/v1/metrics/active-users?window=5m&${range}`);
      // Shoppers only: the stock system's inventory updates are not a user.
      const shopping = events.filter((e) => e.eventType !== "inventory_update");
      assert.equal(au.body.distinctUsers, new Set(shopping.map((e) => e.userId)).size);
      const first5 = shopping.filter((e) => Date.parse(e.timestamp) < start + 5 * MIN);
      assert.equal(au.body.buckets[0].users, new Set(first5.map((e) => e.userId)).size);
      const geo = await get(`/v1/metrics/geo?${range}&window=1h`);
      const geoEvents = geo.body.regions.reduce(
        (s: number, g: { events: number }) => s + g.events,
        0,
      );
      assert.equal(geoEvents, events.length);
    });

    await t.step("top lists rank by views and revenue and are bounded", async () => {
      const r = await get(`/v1/top/products?window=1h&${range}&by=views&limit=3`);
      assert.equal(r.status, 200);
      assert.equal(r.body.products.length, 3);
      const views = new Map<string, number>();
      for (const e of events) {
        if (e.eventType === "product_click") {
          views.set(e.productId!, (views.get(e.productId!) ?? 0) + 1);
        }
      }
      const best = [...views].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]!;
      assert.deepEqual([r.body.products[0].productId, r.body.products[0].views], best);
      const c = await get(`/v1/top/categories?${range}&window=1h`);
      assert.equal(c.status, 200);
      assert.ok(c.body.categories.length > 0);
      assert.equal((await get(`/v1/top/products?limit=101`)).status, 400);
    });

    await t.step("sessions, features and recommendations", async () => {
      const user = events[0]!.userId;
      const s = await get(`/v1/users/${user}/sessions`);
      assert.equal(s.status, 200);
      assert.equal(
        s.body.sessions.reduce((n: number, x: { events: number }) => n + x.events, 0),
        events.filter((e) => e.userId === user).length,
      );
      const one = await get(`/v1/sessions/${s.body.sessions[0].sessionId}`);
      assert.equal(one.body.userId, user);
      assert.equal((await get(`/v1/sessions/${crypto.randomUUID()}`)).status, 404);
      assert.equal((await get(`/v1/sessions/not-a-uuid`)).status, 400);
      const f = await get(`/v1/users/${user}/features`);
      assert.equal(f.body.events, events.filter((e) => e.userId === user).length);
      const buyer = events.find((e) => e.eventType === "purchase")!.userId;
      const bought = new Set(
        events.filter((e) => e.userId === buyer && e.eventType === "purchase").map((e) =>
          e.productId
        ),
      );
      const rec = await get(`/v1/users/${buyer}/recommendations?limit=10`);
      assert.equal(rec.status, 200);
      assert.ok(rec.body.recommendations.length > 0);
      for (const p of rec.body.recommendations) assert.ok(!bought.has(p.productId), p.productId);
    });

    await t.step("bad parameters are 400 problems", async () => {
      for (
        const path of [
          "/v1/metrics/traffic?window=2m",
          "/v1/metrics/traffic?from=yesterday",
          `/v1/metrics/traffic?from=${to}&to=${from}`,
          "/v1/metrics/traffic?window=1m&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z",
          "/v1/metrics/revenue?device=fridge",
          "/v1/metrics/geo?country=usa",
          "/v1/metrics/active-users?category=books",
          "/v1/fraud/alerts?minScore=101",
          "/v1/anomalies?limit=0",
        ]
      ) {
        const r = await get(path);
        assert.equal(r.status, 400, path);
      }
    });

    await t.step(
      "fraud and inventory alerts, anomalies; no raw IPs or user agents anywhere",
      async () => {
        const at = new Date(start + 21 * MIN).toISOString();
        await flushAll(db.sql, [
          makeEvent({ eventType: "inventory_update", productId: "p-x", stock: 3, timestamp: at }),
          makeEvent({
            eventType: "purchase",
            userId: "u-big",
            price: 5000,
            orderId: "o-big",
            timestamp: at,
            location: { country: "FR", region: "IDF" },
          }),
        ]);
        const inv = await get(`/v1/inventory/alerts`);
        assert.deepEqual(inv.body.products.map((p: { productId: string }) => p.productId), ["p-x"]);
        const fraud = await get(`/v1/fraud/alerts?minScore=40`);
        assert.ok(fraud.body.alerts.some((a: { orderId: string }) => a.orderId === "o-big"));
        assert.equal((await get(`/v1/anomalies`)).status, 200);
        const all = await Promise.all([
          `/v1/fraud/alerts?minScore=0&limit=500`,
          `/v1/users/${events[0]!.userId}/sessions`,
          `/v1/users/${events[0]!.userId}/features`,
          `/v1/metrics/geo?${range}&window=1h`,
          `/v1/inventory/velocity`,
        ].map(get));
        for (const r of all) {
          assert.ok(!/\b10\.\d+\.\d+\.\d+\b/.test(r.text), "raw IP in response");
          assert.ok(!r.text.includes("secret-agent"), "user agent in response");
        }
      },
    );
  } finally {
    await db.close();
  }
});
