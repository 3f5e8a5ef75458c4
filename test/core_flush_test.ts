/**
 * The core flush's identity rules on real PostgreSQL: one event id is one event whatever its
 * timestamp (across dedupe generations too), a re-sent invalid event is one reject, a user seen in
 * two regions in one minute counts in both, and a redelivered batch derives nothing twice.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { eventStatus } from "../api/mod.ts";
import { registerAnalyticsRoutes } from "../api/routes/analytics/register.ts";
import { deriveAll, flushEvents, type RejectRow } from "../consumer/mod.ts";
import type { Sql } from "../shared/mod.ts";
import { accepted, makeEvent, segmentOf, stages } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;
const WEEK = 7 * 86_400_000;

async function count(sql: Sql, query: string): Promise<number> {
  const [r] = await sql.unsafe<{ n: number }[]>(`select (${query})::int as n`);
  return r!.n;
}

function flush(sql: Sql, events: ReturnType<typeof makeEvent>[], extra: object = {}) {
  return flushEvents(
    { events: accepted(events), rejects: [], messages: 1, workerId: "w" },
    { sql, segmentOf, ...extra },
  );
}

Deno.test("an event id re-sent with another timestamp is a duplicate, not a second event", async () => {
  const db = await createTestDb();
  try {
    const t0 = Date.now() - 30 * MIN;
    const first = makeEvent({ eventType: "purchase", timestamp: new Date(t0).toISOString() });
    const again = { ...first, timestamp: new Date(t0 + 7 * MIN).toISOString(), price: 999 };
    const a = await flush(db.sql, [first, first]); // a copy in the same batch counts too
    const b = await flush(db.sql, [again]);
    assert.equal(a.stored, 1);
    assert.equal(b.stored, 0);
    assert.equal(b.duplicates, 1);
    assert.equal(await count(db.sql, "select count(*) from events"), 1);
    assert.equal(await count(db.sql, "select sum(events) from agg_minute"), 1);
    assert.equal(
      await count(db.sql, "select sum(n) from pipeline_totals where kind = 'purchase'"),
      1,
    );
    assert.equal(
      await count(db.sql, "select sum(n) from pipeline_totals where kind = 'duplicates'"),
      2,
    );
    // The derived stage sees it once: one order, at the first copy's price.
    await deriveAll({ sql: db.sql }, { stages });
    assert.equal(await count(db.sql, "select count(*) from orders"), 1);
    assert.equal(await count(db.sql, "select sum(orders) from agg_minute_dims"), 1);
    const status = await eventStatus({ eventId: first.eventId }, { sql: db.sql });
    assert.equal(status.status, "stored");
    assert.equal(status.event?.timestamp, first.timestamp);
    assert.equal(status.event?.price, first.price);
  } finally {
    await db.close();
  }
});

Deno.test("ids stay claimed across a dedupe generation boundary, and expire past the horizon", async () => {
  const db = await createTestDb();
  try {
    const now = Date.now();
    const boundary = Math.ceil(now / WEEK) * WEEK; // the start of the next generation
    const e = makeEvent({ eventType: "page_view", timestamp: new Date(now - MIN).toISOString() });
    // Stored one second before the boundary, re-sent in the overlap, after it, and a week later.
    const before = await flush(db.sql, [e], { dedupeClock: () => boundary - 1_000 });
    const overlap = await flush(db.sql, [e], { dedupeClock: () => boundary + 60_000 });
    const after = await flush(db.sql, [e], { dedupeClock: () => boundary + 3 * 86_400_000 });
    const lastDay = await flush(db.sql, [e], { dedupeClock: () => boundary + WEEK - 1_000 });
    assert.deepEqual([before.stored, overlap.stored, after.stored, lastDay.stored], [1, 0, 0, 0]);
    // Two generations on, the claim is past the horizon (at least the raw retention): new again.
    const beyond = await flush(db.sql, [e], { dedupeClock: () => boundary + WEEK + 86_400_000 });
    assert.equal(beyond.stored, 1);
  } finally {
    await db.close();
  }
});

Deno.test("an invalid event re-sent in another message is one reject", async () => {
  const db = await createTestDb();
  try {
    const reject = (messageId: string): RejectRow => ({
      messageId,
      index: 3,
      key: "5f0c3a52-0d5e-4b43-9a53-6c3c7a0f2b11",
      kind: "invalid",
      reason: "price: Expected number, received string",
      eventId: "5f0c3a52-0d5e-4b43-9a53-6c3c7a0f2b11",
      eventType: "purchase",
      payload: '{"eventType":"purchase","price":"x"}',
    });
    const ok = makeEvent({ eventType: "page_view", timestamp: new Date().toISOString() });
    const a = await flushEvents(
      { events: accepted([ok]), rejects: [reject("m-1")], messages: 1, workerId: "w" },
      { sql: db.sql, segmentOf },
    );
    const b = await flushEvents(
      { events: [], rejects: [reject("m-2")], messages: 1, workerId: "w2" },
      { sql: db.sql, segmentOf },
    );
    assert.deepEqual([a.rejected, b.rejected], [1, 0]);
    assert.equal(await count(db.sql, "select count(*) from rejects"), 1);
    assert.equal(
      await count(db.sql, "select sum(n) from pipeline_totals where kind = 'rejected'"),
      1,
    );
    assert.equal(await count(db.sql, "select sum(rejected) from ingest_stats"), 1);
  } finally {
    await db.close();
  }
});

Deno.test("a user seen in two regions within one minute counts in both regions", async () => {
  const db = await createTestDb();
  const app = new OpenAPIHono();
  registerAnalyticsRoutes(app, { sql: db.sql });
  try {
    const t = Math.floor(Date.now() / MIN) * MIN - 10 * MIN;
    const at = (s: number) => new Date(t + s * 1000).toISOString();
    const events = [
      makeEvent({ eventType: "page_view", timestamp: at(1), userId: "u-travel" }),
      makeEvent({
        eventType: "page_view",
        timestamp: at(20),
        userId: "u-travel",
        location: { country: "US", region: "NY" },
      }),
      makeEvent({ eventType: "page_view", timestamp: at(30), userId: "u-home" }),
    ];
    // In two flushes, so the second region arrives after the user's minute row exists.
    await flush(db.sql, events.slice(0, 1));
    await flush(db.sql, events.slice(1));
    const from = new Date(t).toISOString(), to = new Date(t + MIN).toISOString();
    const res = await app.request(`/v1/metrics/geo?from=${from}&to=${to}`);
    assert.equal(res.status, 200);
    const body = await res.json() as { regions: { region: string; users: number }[] };
    const users = Object.fromEntries(body.regions.map((r) => [r.region, r.users]));
    assert.deepEqual(users, { CA: 2, NY: 1 });
    const u = await app.request(`/v1/metrics/active-users?from=${from}&to=${to}`);
    assert.equal((await u.json() as { distinctUsers: number }).distinctUsers, 2);
  } finally {
    await db.close();
  }
});
