/** Server-side sessions: the 30-minute split, out-of-order merges, and seeded runs checked exactly. */
import assert from "node:assert/strict";
import { sweepSessions } from "../consumer/stage_sessions.ts";
import type { Event, Sql } from "../shared/mod.ts";
import { flushAll, makeEvent, seededEvents } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const MIN = 60_000;
const TIMEOUT = 30 * MIN;

interface Expected {
  userId: string;
  start: number;
  last: number;
  events: number;
  pageViews: number;
  converted: boolean;
}

/** Sessions computed independently: sort each user's events, split where the gap exceeds 30 min. */
function expectedSessions(events: readonly Event[]): Expected[] {
  const out: Expected[] = [];
  const sorted = [...events].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  const open = new Map<string, Expected>();
  for (const e of sorted) {
    const t = Date.parse(e.timestamp);
    let s = open.get(e.userId);
    if (!s || t - s.last > TIMEOUT) {
      s = { userId: e.userId, start: t, last: t, events: 0, pageViews: 0, converted: false };
      open.set(e.userId, s);
      out.push(s);
    }
    s.last = t;
    s.events++;
    if (e.eventType === "page_view") s.pageViews++;
    if (e.eventType === "purchase") s.converted = true;
  }
  return out;
}

const key = (s: Expected) =>
  `${s.userId}|${s.start}|${s.last}|${s.events}|${s.pageViews}|${s.converted}`;

async function storedSessions(sql: Sql): Promise<Expected[]> {
  const rows = await sql<
    {
      user_id: string;
      started_at: Date;
      last_at: Date;
      events: number;
      page_views: number;
      converted: boolean;
    }[]
  >`select user_id, started_at, last_at, events, page_views, converted from sessions`;
  return rows.map((r) => ({
    userId: r.user_id,
    start: r.started_at.getTime(),
    last: r.last_at.getTime(),
    events: r.events,
    pageViews: r.page_views,
    converted: r.converted,
  }));
}

Deno.test("sessions split after 30 minutes of inactivity and merge when a late event bridges them", async () => {
  const db = await createTestDb();
  try {
    const t0 = Date.now() - 5 * 3_600_000;
    const at = (m: number, extraMs = 0) => new Date(t0 + m * MIN + extraMs).toISOString();
    const a = makeEvent({ eventType: "page_view", pageUrl: "/home", timestamp: at(0) });
    const b = makeEvent({ eventType: "page_view", pageUrl: "/c/books", timestamp: at(10) });
    // Exactly 30 minutes later still belongs to the session; 30 min + 1 ms starts a new one.
    const c = makeEvent({ eventType: "page_view", pageUrl: "/cart", timestamp: at(40) });
    const d = makeEvent({ eventType: "purchase", timestamp: at(70, 1) });
    await flushAll(db.sql, [a, b, c, d], { chunk: 1 });
    let sessions = await db.sql<
      {
        started_at: Date;
        events: number;
        entry_page: string;
        exit_page: string;
        converted: boolean;
        closed: boolean;
      }[]
    >`
      select started_at, events, entry_page, exit_page, converted, closed from sessions order by started_at`;
    assert.equal(sessions.length, 2);
    assert.deepEqual(
      sessions.map((s) => [s.events, s.entry_page, s.exit_page, s.converted, s.closed]),
      [
        [3, "/home", "/cart", false, true],
        [1, null, null, true, true],
      ],
    );
    // A late event at minute 55 is within 30 minutes of both: the two sessions become one.
    const bridge = makeEvent({ eventType: "page_view", pageUrl: "/late", timestamp: at(55) });
    await flushAll(db.sql, [bridge]);
    sessions = await db.sql`
      select started_at, events, entry_page, exit_page, converted, closed from sessions`;
    assert.equal(sessions.length, 1);
    assert.deepEqual(
      sessions.map((s) => [s.events, s.entry_page, s.exit_page, s.converted]),
      [[5, "/home", "/late", true]],
    );
    // Redelivering everything changes nothing.
    await flushAll(db.sql, [a, b, c, d, bridge]);
    const [n] = await db.sql<
      { n: number; e: number }[]
    >`select count(*)::int as n, sum(events)::int as e from sessions`;
    assert.deepEqual(n, { n: 1, e: 5 });
  } finally {
    await db.close();
  }
});

Deno.test("seeded sessions equal the independent 30-minute split for in-order and shuffled arrival", async () => {
  const start = Date.now() - 6 * 3_600_000;
  // 40 users over 4 hours: gaps around the timeout are common.
  const { events } = seededEvents(1200, start, 4 * 3_600_000, { seed: 5, users: 40 });
  const expected = expectedSessions(events).map(key).sort();
  for (const order of ["in-order", "shuffled"]) {
    const db = await createTestDb();
    try {
      const input = order === "in-order"
        ? events
        : events.map((e, i) => ({ e, k: (i * 104729) % events.length })).sort((a, b) => a.k - b.k)
          .map((x) => x.e);
      await flushAll(db.sql, input, { chunk: 97 });
      const got = (await storedSessions(db.sql)).map(key).sort();
      assert.deepEqual(got, expected, order);
    } finally {
      await db.close();
    }
  }
});

Deno.test("sweepSessions() closes sessions idle longer than the timeout", async () => {
  const db = await createTestDb();
  try {
    const now = Date.now();
    const recent = makeEvent({
      eventType: "page_view",
      userId: "u-a",
      timestamp: new Date(now - 10 * MIN).toISOString(),
    });
    await flushAll(db.sql, [recent], { nowMs: now });
    const [before] = await db.sql<{ closed: boolean }[]>`select closed from sessions`;
    assert.equal(before!.closed, false);
    assert.equal(await sweepSessions({ sql: db.sql }, { timeoutMs: TIMEOUT, nowMs: now }), 0);
    assert.equal(
      await sweepSessions({ sql: db.sql }, { timeoutMs: TIMEOUT, nowMs: now + 21 * MIN }),
      1,
    );
    const [after] = await db.sql<{ closed: boolean }[]>`select closed from sessions`;
    assert.equal(after!.closed, true);
  } finally {
    await db.close();
  }
});
