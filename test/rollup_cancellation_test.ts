/**
 * A cancellation that arrives hours after its purchase changes the cancellation columns at the
 * purchase's minute, in an hour the cancellation's own batch has no event in. The orders stage
 * marks that hour, so the roll-up rewrites its hour and day rollups and every grain agrees.
 */
import assert from "node:assert/strict";
import { rollUpDirty } from "../consumer/roll_up.ts";
import { analyticsReader, flushAll, makeEvent } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const H = 3_600_000;
const DAY = Date.UTC(2026, 10, 18);
const RANGE = "window=1d&from=2026-11-18T00:00:00Z&to=2026-11-19T00:00:00Z";

Deno.test("a late cancellation re-rolls its purchase's hour: day rollups equal the minute rows", async () => {
  const db = await createTestDb();
  try {
    const orderId = "o-late-cancel";
    const purchase = makeEvent({
      eventType: "purchase",
      timestamp: new Date(DAY + 10 * H + 5 * 60_000).toISOString(),
      userId: "u-buyer",
      orderId,
      price: 120,
      quantity: 2,
    });
    const other = makeEvent({
      eventType: "purchase",
      timestamp: new Date(DAY + 11 * H).toISOString(),
      userId: "u-other",
      price: 7,
    });
    await flushAll(db.sql, [purchase, other]);
    const first = await rollUpDirty({ sql: db.sql });
    assert.ok(first.hours >= 2 && first.days >= 1, JSON.stringify(first));

    const minutes = analyticsReader(db.sql, { maxGrain: "minute", rolledMinutes: false });
    const days = analyticsReader(db.sql, {});
    const path = `/v1/metrics/revenue?${RANGE}`;
    const before = await days(path);
    assert.deepEqual(before, await minutes(path));

    // Three hours later, in a batch of its own: no event of this batch is in the purchase's hour.
    await flushAll(db.sql, [
      makeEvent({
        eventType: "order_cancelled",
        timestamp: new Date(DAY + 13 * H + 20 * 60_000).toISOString(),
        userId: "u-buyer",
        orderId,
      }),
    ]);
    const [mark] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from rollup_dirty where hour = ${new Date(DAY + 10 * H)}`;
    assert.equal(mark!.n, 1, "the purchase's hour is marked for the roll-up");
    await rollUpDirty({ sql: db.sql });

    const after = await days(path);
    assert.deepEqual(after, await minutes(path), "day rollup = minute rows after the cancellation");
    assert.notDeepEqual(after, before, "the cancellation changed the answer");
  } finally {
    await db.close();
  }
});
