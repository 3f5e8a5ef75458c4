/**
 * Running totals and roll-up marks kept by the core flush: `pipeline_totals` equals what the
 * minute tables and reject rows say, through duplicates, rejects and a rebuild; `rollup_dirty`
 * marks every hour a flush touched.
 */
import assert from "node:assert/strict";
import { flushEvents, rebuildAggregates } from "../consumer/mod.ts";
import type { Sql } from "../shared/mod.ts";
import { accepted, flushAll, seededEvents, segmentOf } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const HOUR = 3_600_000;

async function totalsByKind(sql: Sql): Promise<Record<string, [number, number, number]>> {
  const rows = await sql<{ kind: string; n: number; units: number; cents: number }[]>`
    select kind, sum(n)::bigint as n, sum(units)::bigint as units,
           sum(revenue_cents)::bigint as cents
    from pipeline_totals group by kind having sum(n) <> 0 order by kind`;
  return Object.fromEntries(rows.map((r) => [r.kind, [r.n, r.units, r.cents]]));
}

async function recount(sql: Sql): Promise<Record<string, [number, number, number]>> {
  const rows = await sql<{ kind: string; n: number; units: number; cents: number }[]>`
    select event_type as kind, sum(events)::bigint as n, sum(units)::bigint as units,
           sum(revenue_cents)::bigint as cents
    from agg_minute group by 1
    union all
    select case kind when 'invalid' then 'rejected' else kind end, count(*), 0, 0
    from rejects group by 1
    order by 1`;
  return Object.fromEntries(rows.map((r) => [r.kind, [r.n, r.units, r.cents]]));
}

Deno.test("pipeline_totals follow the minute tables through duplicates, rejects and a rebuild", async () => {
  const db = await createTestDb();
  try {
    const start = Date.parse("2026-11-02T10:30:00Z");
    const { events } = seededEvents(1_200, start, 2 * HOUR);
    await flushAll(db.sql, events, { stages: [] });
    // A redelivery of 300 of them (duplicates) with two invalid neighbours.
    const reject = (i: number) => ({
      messageId: "m-1",
      index: i,
      key: crypto.randomUUID(),
      kind: "invalid" as const,
      reason: "eventType: invalid",
      eventId: null,
      eventType: null,
      payload: `{"n":${i}}`,
    });
    const r = await flushEvents(
      {
        events: accepted(events.slice(0, 300)),
        rejects: [reject(0), reject(1)],
        messages: 1,
        workerId: "other-worker",
      },
      { sql: db.sql, segmentOf },
    );
    assert.equal(r.duplicates, 300);
    assert.equal(r.stored, 0);

    const expected = await recount(db.sql);
    assert.equal(expected.rejected?.[0], 2);
    assert.deepEqual(await totalsByKind(db.sql), { ...expected, duplicates: [300, 0, 0] });
    assert.ok(
      Object.values(expected).reduce((a, [n]) => a + n, 0) >= 1_202,
      "every event is counted",
    );

    // Marks: every hour with events, nothing else.
    const hours = await db.sql<{ hour: Date }[]>`select distinct hour from rollup_dirty order by 1`;
    assert.deepEqual(
      hours.map((h) => h.hour.getTime()),
      [start - (start % HOUR), start - (start % HOUR) + HOUR, start - (start % HOUR) + 2 * HOUR],
    );

    // A rebuild after a "fix" that drops some raw rows moves the totals by exactly that.
    await db.sql`delete from events where event_time < ${new Date(start + HOUR)}`;
    await rebuildAggregates({ from: start - HOUR, to: start + 3 * HOUR }, { sql: db.sql });
    assert.deepEqual(await totalsByKind(db.sql), {
      ...(await recount(db.sql)),
      duplicates: [300, 0, 0],
    });
  } finally {
    await db.close();
  }
});
