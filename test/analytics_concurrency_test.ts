/**
 * Concurrent flushes with the analytics stages (two consumers, or flushConcurrency > 1): flushes
 * that share users serialise on those users' rows and end exactly as if run one after the other;
 * flushes that share nothing do not wait for each other at all. Both scenarios are made
 * deterministic by holding the first flush's transaction open (a last stage that waits) while the
 * second runs on its own connection.
 */
import assert from "node:assert/strict";
import { flushEvents, type FlushStage } from "../consumer/mod.ts";
import type { Event, Sql } from "../shared/mod.ts";
import { accepted, makeEvent, seededEvents, segmentOf, stages } from "./analytics_fixtures.ts";
import { createTestDb, eventually, type TestDb } from "./harness.ts";

const MIN = 60_000;
const NOW = Math.floor(Date.now() / MIN) * MIN;

const flush = (
  sql: Sql,
  events: readonly Event[],
  more: readonly FlushStage[] = [],
  worker = "w",
) =>
  flushEvents(
    { events: accepted(events), rejects: [], messages: 1, workerId: worker },
    { sql, stages: [...stages, ...more], segmentOf, now: () => NOW },
  );

/** A stage that keeps its flush's transaction open until `release()`. */
function holdOpen(): { stage: FlushStage; reached: Promise<void>; release(): void } {
  let release!: () => void, reached!: () => void;
  const released = new Promise<void>((r) => release = r);
  const reachedP = new Promise<void>((r) => reached = r);
  return {
    stage: async () => {
      reached();
      await released;
    },
    reached: reachedP,
    release,
  };
}

/** Every analytics table, without generated ids and wall-clock columns. */
async function snapshot(sql: Sql): Promise<Record<string, string[]>> {
  const tables: Record<string, ReturnType<Sql>> = {
    agg_minute: sql`select * from agg_minute`,
    agg_minute_dims: sql`select * from agg_minute_dims`,
    agg_geo_minute: sql`select * from agg_geo_minute`,
    agg_product_minute: sql`select * from agg_product_minute`,
    active_user_minute: sql`select * from active_user_minute`,
    orders: sql`select * from orders`,
    sessions: sql`select user_id, started_at, last_at, events, page_views, purchases, converted,
      entry_page, exit_page, device_type, country, client_session_id, closed from sessions`,
    user_features: sql`select * from user_features`,
    user_hour_products: sql`select * from user_hour_products`,
    item_pairs: sql`select * from item_pairs`,
    fraud_counters: sql`select * from fraud_counters`,
    fraud_scores: sql`select * from fraud_scores`,
    user_risk: sql`select * from user_risk`,
    inventory:
      sql`select product_id, category, stock_base, stock_at, sold_after, low from inventory`,
    alerts: sql`select kind, dedupe_key, severity, title, details, repeats from alerts`,
  };
  const out: Record<string, string[]> = {};
  for (const [name, q] of Object.entries(tables)) {
    out[name] = (await q).map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

/** The backend pid of a one-connection pool (every transaction of it runs there). */
async function pidOf(sql: Sql): Promise<number> {
  const [r] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  return r!.pid;
}

Deno.test("two flushes sharing users: the second waits on their rows and the result is exact", async () => {
  const db = await createTestDb();
  const ref = await createTestDb();
  try {
    // 40 users over 50 minutes: sessions split and merge, user-hours share products, the same
    // users, IPs, products and minutes appear in both flushes, out of order.
    const start = NOW - 70 * MIN;
    const { events } = seededEvents(1800, start, 50 * MIN, { seed: 31, users: 40, products: 15 });
    const warm = events.filter((_, i) => i % 3 === 0);
    const rest = events.filter((_, i) => i % 3 !== 0).reverse();
    // One user that is new to both flushes, so both insert it (the second adds to the first).
    const newcomer = (t: number) =>
      makeEvent({
        eventType: "product_click",
        userId: "u-newcomer",
        productId: `p-${t % 5}`,
        category: "books",
        timestamp: new Date(start + t * MIN).toISOString(),
      });
    const a = [...rest.filter((_, i) => i % 2 === 0), newcomer(1), newcomer(2)];
    const b = [...rest.filter((_, i) => i % 2 === 1), newcomer(3), newcomer(4)];

    // Reference: one after the other.
    await flush(ref.sql, warm);
    await flush(ref.sql, a);
    await flush(ref.sql, b);

    await flush(db.sql, warm);
    const sqlA = db.connect(1), sqlB = db.connect(1);
    const pidB = await pidOf(sqlB);
    const hold = holdOpen();
    const first = flush(sqlA, a, [hold.stage], "a");
    await hold.reached;
    const second = flush(sqlB, b, [], "b");
    const waited = await eventually(
      async () => {
        const [r] = await db.sql<{ lock: boolean }[]>`
        select coalesce(wait_event_type = 'Lock', false) as lock from pg_stat_activity
        where pid = ${pidB}`;
        return r?.lock === true;
      },
      15_000,
      20,
    );
    hold.release();
    const [ra, rb] = await Promise.all([first, second]);
    assert.ok(waited, "the second flush never waited for the first one's rows");
    assert.equal(ra.stored + rb.stored, a.length + b.length);
    assert.deepEqual(await snapshot(db.sql), await snapshot(ref.sql));
  } finally {
    await db.close();
    await ref.close();
  }
});

Deno.test("two flushes sharing no user, product or minute do not wait for each other", async () => {
  const db: TestDb = await createTestDb();
  try {
    const start = NOW - 40 * MIN;
    const { events } = seededEvents(1500, start, 20 * MIN, { seed: 32, users: 300, products: 40 });
    // Disjoint users, products, IPs and minutes (and another worker id for the ingest counters).
    const other: Event[] = [];
    for (let i = 0; i < 60; i++) {
      const base = {
        userId: `u-other-${i}`,
        ipAddress: `198.51.100.${i}`,
        timestamp: new Date(NOW - 5 * MIN + i * 1000).toISOString(),
      };
      other.push(makeEvent({ ...base, eventType: "page_view", pageUrl: `/o/${i}` }));
      other.push(
        makeEvent({
          ...base,
          eventType: "purchase",
          productId: `p-other-${i % 7}`,
          category: "garden",
          orderId: `o-other-${i}`,
        }),
      );
    }
    const hold = holdOpen();
    const first = flush(db.connect(1), events, [hold.stage], "a");
    await hold.reached;
    // With one lock for every user in the first flush held open, this must still commit.
    const timeout = new Promise<"timeout">((r) => {
      const t = setTimeout(() => r("timeout"), 20_000);
      Deno.unrefTimer(t);
    });
    const second = await Promise.race([flush(db.connect(1), other, [], "b"), timeout]);
    hold.release();
    await first;
    assert.notEqual(second, "timeout", "the second flush waited for an unrelated one");
    if (second !== "timeout") assert.equal(second.stored, other.length);
    const [s] = await db.sql<{ n: number }[]>`select sum(events)::int as n from sessions`;
    assert.equal(s!.n, events.length + other.length);
  } finally {
    await db.close();
  }
});
