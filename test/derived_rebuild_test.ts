/**
 * The derived stage is rebuildable from raw rows: state streamed batch by batch equals what
 * `rebuildDerived` computes from the stored events. Events arrive out of order across batches.
 * Batches are derived in commit order here, as a rebuild does: fraud scores are decided with the
 * orders seen when a purchase is scored, so a stream that derives a later batch first may score
 * differently (every other table is order-independent; the concurrency test covers that).
 */
import assert from "node:assert/strict";
import { deriveBatch, flushEvents, loadBatches, rebuildDerived } from "../consumer/mod.ts";
import type { Sql } from "../shared/mod.ts";
import { accepted, seededEvents, segmentOf, stages } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;

/** Every derived table (and the order columns), without generated ids and wall-clock columns. */
async function derivedState(sql: Sql): Promise<Record<string, string[]>> {
  const queries: Record<string, ReturnType<Sql>> = {
    orders: sql`select * from orders`,
    order_columns: sql`select bucket, category, device_type, country, segment, orders,
      cancelled_orders, cancelled_revenue_cents from agg_minute_dims
      where orders <> 0 or cancelled_orders <> 0 or cancelled_revenue_cents <> 0`,
    sessions: sql`select user_id, started_at, last_at, events, page_views, purchases, converted,
      entry_page, exit_page, device_type, country, client_session_id, closed from sessions`,
    user_features: sql`select * from user_features`,
    user_hour_products: sql`select * from user_hour_products`,
    item_pairs: sql`select * from item_pairs`,
    fraud_counters: sql`select * from fraud_counters`,
    fraud_scores: sql`select event_id, order_id, user_id, event_time, amount_cents, country, score,
      reasons from fraud_scores`,
    user_risk: sql`select user_id, scored_orders, flagged, max_score, last_score from user_risk`,
    inventory:
      sql`select product_id, category, stock_base, stock_at, sold_after, low from inventory`,
  };
  const out: Record<string, string[]> = {};
  for (const [name, q] of Object.entries(queries)) {
    out[name] = (await q).map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

Deno.test("rebuildDerived() equals the stream for every derived table", async () => {
  const db = await createTestDb();
  try {
    const start = Math.floor(Date.now() / MIN) * MIN - 90 * MIN;
    const { events } = seededEvents(2400, start, 80 * MIN, { seed: 41, users: 60, products: 20 });
    // Out of order, in 8 batches.
    const shuffled = events.map((e, i) => ({ e, k: (i * 7919) % events.length }))
      .sort((a, b) => a.k - b.k).map((x) => x.e);
    const batches: number[] = [];
    for (let i = 0; i < shuffled.length; i += 300) {
      const r = await flushEvents({
        events: accepted(shuffled.slice(i, i + 300)),
        rejects: [],
        messages: 1,
        workerId: "w",
      }, { sql: db.sql, segmentOf });
      batches.push(r.batchId);
    }
    for (const id of batches) {
      const { events: stored, segments } = await loadBatches(db.sql, [String(id)]);
      const done = await deriveBatch({ sql: db.sql }, { stages }, id, stored, {
        segmentOf: (u) => segments.get(u) ?? "unknown",
        nowMs: Date.now(),
      });
      assert.ok(done, `batch ${id} was derived`);
    }
    const streamed = await derivedState(db.sql);
    assert.ok(streamed.sessions!.length > 0 && streamed.orders!.length > 0, "state to compare");
    const [pending] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from core_batches`;
    assert.equal(pending!.n, 0);

    const r = await rebuildDerived({ sql: db.sql }, { stages });
    assert.equal(r.batches, batches.length);
    const rebuilt = await derivedState(db.sql);
    for (const table of Object.keys(streamed)) {
      assert.deepEqual(rebuilt[table], streamed[table], `${table} differs after a rebuild`);
    }
  } finally {
    await db.close();
  }
});
