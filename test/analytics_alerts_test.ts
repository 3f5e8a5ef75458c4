/**
 * Anomalies on the stored streams (an injected traffic spike, a reject-rate spike, a bot-like user)
 * and alert delivery from the outbox to a real local HTTP receiver: retried, recorded, once each.
 */
import assert from "node:assert/strict";
import { flushEvents, type RejectRow } from "../consumer/mod.ts";
import { detectAnomalies } from "../consumer/stage_anomalies.ts";
import { createAlertDispatcher } from "../consumer/alert_dispatcher.ts";
import type { Event } from "../shared/mod.ts";
import {
  accepted,
  flushAll,
  makeEvent,
  seededEvents,
  segmentOf,
  stages,
} from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;

Deno.test("an injected traffic spike, a reject-rate spike and a bot are detected and each alert is delivered once", async (t) => {
  const db = await createTestDb();
  const received: { key: string; body: { text: string } }[] = [];
  let failuresLeft = 2;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const body = await req.json();
    if (failuresLeft > 0) {
      failuresLeft--;
      return new Response("busy", { status: 503 });
    }
    received.push({ key: req.headers.get("idempotency-key") ?? "", body });
    return new Response("ok");
  });
  try {
    const start = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
    // 25 minutes of steady traffic (120 events per minute), then 900 extra toy clicks in minute 20.
    const { events } = seededEvents(25 * 120, start, 25 * MIN, { seed: 21, users: 300 });
    const spikeAt = start + 20 * MIN;
    const spike: Event[] = Array.from({ length: 900 }, (_, i) =>
      makeEvent({
        eventType: "product_click",
        userId: `u-spike-${i % 60}`,
        productId: "p-7",
        category: "toys",
        timestamp: new Date(spikeAt + i * 10).toISOString(),
      }));
    // One user firing 200 events within a minute: bot-like.
    const bot: Event[] = Array.from(
      { length: 200 },
      (_, i) =>
        makeEvent({
          eventType: "page_view",
          userId: "u-bot",
          timestamp: new Date(start + 5 * MIN + i * 100).toISOString(),
        }),
    );
    // The inventory system's service account sending 200 stock counts within a minute: not a bot.
    const feed: Event[] = Array.from({ length: 200 }, (_, i) =>
      makeEvent({
        eventType: "inventory_update",
        userId: "svc-inventory",
        productId: `p-${i % 40}`,
        category: "toys",
        stock: 100,
        timestamp: new Date(start + 6 * MIN + i * 100).toISOString(),
      }));
    await flushAll(db.sql, [...events, ...spike, ...bot, ...feed], { chunk: 700 });
    // A flush where most of what arrived was invalid, at arrival minute 22.
    const rejects: RejectRow[] = Array.from({ length: 150 }, (_, i) => ({
      messageId: "m-bad",
      index: i,
      key: `00000000-0000-8000-8000-${String(i).padStart(12, "0")}`,
      kind: "invalid",
      reason: "eventId: Invalid UUID",
      eventId: null,
      eventType: null,
      payload: "{}",
    }));
    await flushEvents(
      { events: accepted(events.slice(0, 10)), rejects, messages: 1, workerId: "w" },
      { sql: db.sql, stages, segmentOf, now: () => start + 22 * MIN + 5000 },
    );

    await t.step(
      "detectAnomalies() flags exactly the spike minute overall and for its category",
      async () => {
        const options = { zThreshold: 4, alpha: 0.2, warmupMinutes: 10, rejectRateThreshold: 0.05 };
        const n = await detectAnomalies({ sql: db.sql }, { ...options, nowMs: start + 26 * MIN });
        assert.ok(n >= 3);
        // Running again finds nothing new: each minute is evaluated once.
        assert.equal(
          await detectAnomalies({ sql: db.sql }, { ...options, nowMs: start + 26 * MIN }),
          0,
        );
        const rows = await db.sql<{ kind: string; series: string; bucket: Date; reason: string }[]>`
        select kind, series, bucket, reason from anomalies order by bucket, series`;
        const of = (series: string) =>
          rows.filter((r) => r.series === series).map((
            r,
          ) => [r.kind, (r.bucket.getTime() - start) / MIN]);
        assert.deepEqual(of("traffic:all"), [["traffic_spike", 20]]);
        assert.deepEqual(of("traffic:category:toys"), [["traffic_spike", 20]]);
        assert.deepEqual(of("rejects:rate"), [["reject_rate", 22]]);
        assert.deepEqual(of("user:u-bot"), [["bot_user", 5]]);
        assert.deepEqual(of("user:svc-inventory"), []);
        assert.ok(rows.every((r) => r.reason.length > 0));
      },
    );

    await t.step(
      "alerts reach the webhook once each, after retries, with a delivery record",
      async () => {
        const url = `http://127.0.0.1:${server.addr.port}/hook`;
        const a = createAlertDispatcher({ sql: db.sql }, {
          webhooks: { anomaly: url },
          retryMinTimeoutMs: 10,
        });
        const b = createAlertDispatcher({ sql: db.connect(2) }, {
          webhooks: { anomaly: url },
          retryMinTimeoutMs: 10,
        });
        // Two dispatchers race for the same outbox; then everything is delivered or skipped.
        const results = await Promise.all([a.runOnce(), b.runOnce()]);
        const again = await a.runOnce();
        const total = [...results, again].reduce((s, r) => s + r.delivered, 0);
        const [expected] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from alerts where kind = 'anomaly'`;
        assert.equal(total, expected!.n);
        assert.equal(received.length, expected!.n);
        assert.equal(
          new Set(received.map((r) => r.key)).size,
          received.length,
          "an alert was sent twice",
        );
        assert.ok(received.every((r) => r.body.text.includes("[anomaly]")));
        const status = await db.sql<{ status: string; n: number }[]>`
        select status, count(*)::int as n from alert_outbox group by status order by status`;
        assert.deepEqual(status.find((s) => s.status === "delivered")?.n, expected!.n);
        assert.ok(!status.some((s) => s.status === "pending"));
        const [d] = await db.sql<{ ok: number; failed: number }[]>`
        select count(*) filter (where ok)::int as ok, count(*) filter (where not ok)::int as failed
        from alert_deliveries`;
        assert.deepEqual(d, { ok: expected!.n, failed: 2 });
        // Nothing is sent again.
        assert.deepEqual(await a.runOnce(), {
          delivered: 0,
          failed: 0,
          rescheduled: 0,
          skipped: 0,
        });
        assert.equal(received.length, expected!.n);
        await a.stop();
        await b.stop();
      },
    );
  } finally {
    await server.shutdown();
    await db.close();
  }
});
