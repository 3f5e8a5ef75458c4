/** The batch layer: rebuilt aggregates equal the streamed ones; maintenance drops expired partitions. */
import assert from "node:assert/strict";
import { rebuildAggregates } from "../consumer/rebuild_aggregates.ts";
import { maintainPartitions } from "../consumer/maintain_partitions.ts";
import type { Sql } from "../shared/mod.ts";
import { flushAll, makeEvent, seededEvents } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;
const DAY = 86_400_000;

async function snapshot(sql: Sql, from: Date, to: Date) {
  const out: Record<string, unknown[]> = {};
  const tables = {
    agg_minute: sql`select * from agg_minute`,
    agg_minute_dims: sql`select * from agg_minute_dims`,
    agg_geo_minute: sql`select * from agg_geo_minute`,
    agg_product_minute: sql`select * from agg_product_minute`,
    active_user_minute: sql`select * from active_user_minute`,
  };
  for (const [name, q] of Object.entries(tables)) {
    const rows = await sql`select * from (${q}) t where bucket >= ${from} and bucket < ${to}`;
    out[name] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

Deno.test("rebuildAggregates() reproduces exactly what streaming wrote, and repairs damage", async () => {
  const db = await createTestDb();
  try {
    const start = Math.floor((Date.now() - 2 * 3_600_000) / MIN) * MIN;
    const { events } = seededEvents(4000, start, 30 * MIN, { seed: 99, users: 150 });
    // Some orders cancelled before their purchase arrives, to exercise the order columns.
    const buys = events.filter((e) => e.eventType === "purchase").slice(0, 5);
    const cancels = buys.map((b) =>
      makeEvent({
        eventType: "order_cancelled",
        userId: b.userId,
        orderId: b.orderId!,
        deviceType: b.deviceType,
        location: b.location,
        timestamp: b.timestamp,
      })
    );
    await flushAll(db.sql, [...cancels, ...events], { chunk: 500 });
    const from = new Date(start);
    const to = new Date(start + 30 * MIN);
    const streamed = await snapshot(db.sql, from, to);
    assert.ok((streamed.agg_minute_dims?.length ?? 0) > 100);

    const r = await rebuildAggregates({ from, to }, { sql: db.sql });
    assert.equal(r.events, events.length + cancels.length);
    assert.deepEqual(await snapshot(db.sql, from, to), streamed);

    // Damage, then repair.
    await db.sql`delete from agg_minute_dims where bucket < ${new Date(start + 10 * MIN)}`;
    await db.sql`update agg_product_minute set views = views + 5`;
    await rebuildAggregates({ from, to }, { sql: db.sql });
    assert.deepEqual(await snapshot(db.sql, from, to), streamed);
  } finally {
    await db.close();
  }
});

Deno.test("maintainPartitions() drops raw partitions past the retention and creates future ones", async () => {
  const db = await createTestDb();
  try {
    const now = Date.now();
    const old = makeEvent({
      eventType: "page_view",
      timestamp: new Date(now - 8 * DAY).toISOString(),
    });
    const recent = makeEvent({
      eventType: "page_view",
      timestamp: new Date(now - DAY).toISOString(),
    });
    await flushAll(db.sql, [old, recent]);
    const r = await maintainPartitions({ sql: db.sql }, {
      retentionDays: 7,
      futureDays: 5,
      nowMs: now,
    });
    const oldDay = new Date(now - 8 * DAY).toISOString().slice(0, 10).replaceAll("-", "");
    assert.ok(r.dropped.includes(`events_p${oldDay}`), JSON.stringify(r.dropped));
    const ids = (await db.sql<{ event_id: string }[]>`select event_id from events`).map((e) =>
      e.event_id
    );
    assert.deepEqual(ids, [recent.eventId]);
    const future = new Date(now + 5 * DAY).toISOString().slice(0, 10).replaceAll("-", "");
    const [p] = await db.sql<
      { ok: boolean }[]
    >`select to_regclass(${`events_p${future}`}) is not null as ok`;
    assert.equal(p!.ok, true);
    // Idempotent.
    const again = await maintainPartitions({ sql: db.sql }, {
      retentionDays: 7,
      futureDays: 5,
      nowMs: now,
    });
    assert.deepEqual(again.dropped, []);
    assert.equal(again.created, 0);
  } finally {
    await db.close();
  }
});
