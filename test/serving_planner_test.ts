/**
 * The serving layer's promise: every analytics answer equals a recount from raw events whichever
 * table the planner reads (minute rows, rolled minutes, hour or day rollups), also while some hours
 * carry a mark newer than their rollup. Each grain is forced in turn and the answers compared.
 */
import assert from "node:assert/strict";
import { maskHours, type PlanOptions, planPieces } from "../api/routes/analytics/_planner.ts";
import { rollUp, rollUpDirty } from "../consumer/roll_up.ts";
import { backfillUserSets, buildUserSets, USER_SET_SPANS } from "../consumer/user_sets.ts";
import { spanOfMask } from "../api/routes/analytics/_user_sets.ts";
import type { Sql } from "../shared/mod.ts";
import { analyticsReader, flushAll, makeEvent, seededEvents } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

const H = 3_600_000;
const START = Date.UTC(2026, 10, 20, 3, 17);
const SPAN = 60 * H;
/** An hour that gets new events after the roll-up: its mark makes the planner read its minutes. */
const LATE = Date.UTC(2026, 10, 21, 12, 10);

/** Marks every hour holding minute rows, as the flush does for the hours it touches. */
async function markAll(sql: Sql) {
  await sql`
    insert into rollup_dirty (hour, batch_id)
    select distinct date_bin('1 hour', bucket, timestamptz 'epoch'), -1 from agg_minute_dims
    on conflict do nothing`;
}

const PLANS: Record<string, PlanOptions> = {
  "minute rows only": { maxGrain: "minute", rolledMinutes: false },
  "rolled minutes": { maxGrain: "minute" },
  "hours": { maxGrain: "hour" },
  "days without user bitmaps": { userSets: false },
  "days (the default)": {},
};

const RANGES = [
  "window=1d&from=2026-11-20T00:00:00Z&to=2026-11-23T00:00:00Z",
  "window=1h&from=2026-11-20T00:00:00Z&to=2026-11-22T18:00:00Z",
  "window=5m&from=2026-11-21T10:00:00Z&to=2026-11-21T16:00:00Z",
  "window=1m&from=2026-11-21T11:30:00Z&to=2026-11-21T12:30:00Z",
  // ragged: rounded to the bucket, so whole hours and days inside, minutes at the edges
  "window=1h&from=2026-11-20T05:40:00Z&to=2026-11-22T07:20:00Z",
  // a suffix of one day, a prefix of the next (user bitmaps of both), and the marked late hour
  "window=1h&from=2026-11-20T09:00:00Z&to=2026-11-21T13:00:00Z",
  // a part of one day that is neither a prefix nor a suffix: its presence rows
  "window=1h&from=2026-11-21T02:00:00Z&to=2026-11-21T09:00:00Z",
];
const FILTERS = ["", "&device=mobile", "&country=US", "&segment=loyal", "&category=books"];

function paths(): string[] {
  const out: string[] = [];
  for (const r of RANGES) {
    for (const f of FILTERS) {
      for (const e of ["traffic", "revenue", "funnel"]) out.push(`/v1/metrics/${e}?${r}${f}`);
      if (!f.includes("category")) out.push(`/v1/metrics/active-users?${r}${f}`);
    }
    out.push(`/v1/metrics/geo?${r}`, `/v1/metrics/geo?${r}&country=US`);
    out.push(`/v1/top/products?${r}&by=views&limit=20`, `/v1/top/products?${r}&category=books`);
    out.push(`/v1/top/categories?${r}`, `/v1/top/categories?${r}&by=views`);
  }
  return out;
}

Deno.test("planPieces() reads days, hours and minutes only where they are clean", () => {
  const day = Date.UTC(2026, 10, 20);
  const clean = new Set<number>();
  for (let h = day; h < day + 48 * H; h += H) clean.add(h);
  clean.delete(day + 30 * H); // marked since its roll-up
  const pieces = planPieces(day - 30 * 60_000, day + 48 * H, "day", clean).map((p) =>
    `${p.grain}${p.rolled ? "*" : ""} ${(p.from.getTime() - day) / 60_000}-${
      (p.to.getTime() - day) / 60_000
    }`
  );
  assert.deepEqual(pieces, [
    "minute -30-0", // before the first rolled hour
    "day 0-1440",
    "hour 1440-1800",
    "minute 1800-1860", // the marked hour
    "hour 1860-2880",
  ]);
  assert.deepEqual(
    planPieces(day, day + 2 * H, "day", clean, { maxGrain: "minute" }).map((p) => p.rolled),
    [true],
  );
});

Deno.test("maskHours() regroups hour pieces by UTC day as 24-bit masks", () => {
  const day = Date.UTC(2026, 10, 20);
  const piece = (grain: "hour" | "minute", a: number, b: number) => ({
    grain,
    from: new Date(day + a * H),
    to: new Date(day + b * H),
    rolled: false,
  });
  const out = maskHours([piece("hour", 21, 26), piece("minute", 26, 27), piece("hour", 27, 28)]);
  assert.deepEqual(out, [
    { day: new Date(day), mask: 0b111 << 21 },
    { day: new Date(day + 24 * H), mask: 0b11 },
    piece("minute", 26, 27),
    { day: new Date(day + 24 * H), mask: 1 << 3 },
  ]);
});

Deno.test("buildUserSets() sets ordinal i in every stored span that meets the user's hours", () => {
  // ordinal 0: hours 2 and 5; ordinal 9: hour 23; ordinal 3: hour 0.
  const sets = buildUserSets([
    { ordinal: 0, hours: (1 << 2) | (1 << 5) },
    { ordinal: 9, hours: 1 << 23 },
    { ordinal: 3, hours: 1 },
  ]);
  assert.equal(sets.length, USER_SET_SPANS.length);
  const members = (k: number) => {
    const out: number[] = [];
    sets[k]!.forEach((b, i) => {
      for (let j = 0; j < 8; j++) if (b & (1 << j)) out.push(i * 8 + j);
    });
    return out;
  };
  USER_SET_SPANS.forEach(([a, b], k) => {
    const expected = [
      [0, [2, 5]],
      [3, [0]],
      [9, [23]],
    ].filter(([, hs]) => (hs as number[]).some((h) => h >= a && h < b)).map(([o]) => o);
    assert.deepEqual(members(k), expected, `[${a}, ${b})`);
  });
  assert.equal(sets[1]!.length, 1, "trailing zero bytes are left out"); // [0, 1): ordinal 3 only
  // Hours unknown (mask 0): in the whole day's set only.
  const unknown = buildUserSets([{ ordinal: 2, hours: 0 }]);
  assert.deepEqual([...unknown[0]!], [0b100]);
  assert.ok(unknown.slice(1).every((s) => s.length === 0));
});

Deno.test("spanOfMask() finds the whole day, prefixes and suffixes, and nothing else", () => {
  assert.deepEqual(spanOfMask(0xffffff), [0, 24]);
  assert.deepEqual(spanOfMask(0b111), [0, 3]);
  assert.deepEqual(spanOfMask(0xffffff & ~0b1111), [4, 24]);
  assert.deepEqual(spanOfMask(1 << 23), [23, 24]);
  assert.equal(spanOfMask(0b110), null);
  assert.equal(spanOfMask(0xffffff & ~(1 << 12)), null);
});

Deno.test("analytics answers equal a recount from raw events whichever table the planner reads", async (t) => {
  const db = await createTestDb();
  try {
    const { events } = seededEvents(6000, START, SPAN, { users: 300, products: 60 });
    await flushAll(db.sql, events);
    await markAll(db.sql);
    const first = await rollUpDirty({ sql: db.sql });
    assert.ok(first.hours >= 60 && first.days >= 3 && !first.busy, JSON.stringify(first));
    const [rolled] = await db.sql<{ n: number }[]>`select count(*)::int as n from agg_dims_hour`;
    assert.ok(rolled!.n > 0);
    // New events in an hour already rolled: the flush marks it (here, as the flush would).
    const late = Array.from({ length: 40 }, (_, i) =>
      makeEvent({
        eventType: i % 2 ? "page_view" : "purchase",
        timestamp: new Date(LATE + i * 1000).toISOString(),
        userId: `u-late-${i % 7}`,
        deviceType: "mobile",
        category: "books",
      }));
    await flushAll(db.sql, late);
    await db.sql`insert into rollup_dirty (hour, batch_id)
      values (${new Date(LATE - (LATE % H))}, -2) on conflict do nothing`;

    const gets = Object.fromEntries(
      Object.entries(PLANS).map(([name, plan]) => [name, analyticsReader(db.sql, plan)]),
    );
    await t.step("every grain gives the same answers", async () => {
      for (const path of paths()) {
        const expected = await gets["minute rows only"]!(path);
        for (const name of Object.keys(PLANS).slice(1)) {
          assert.deepEqual(await gets[name]!(path), expected, `${name}: ${path}`);
        }
      }
    });

    await t.step("and they equal a recount of the raw events", async () => {
      const get = gets["days (the default)"]!;
      for (const r of RANGES) {
        const traffic = await get(`/v1/metrics/traffic?${r}`);
        const { from, to, window } = traffic.range;
        const iv = { "1m": "1 minute", "5m": "5 minutes", "1h": "1 hour", "1d": "1 day" }[
          window as string
        ]!;
        const raw = await db.sql<{ bucket: Date; event_type: string; n: number }[]>`
          select date_bin(${iv}::interval, event_time, timestamptz 'epoch') as bucket, event_type,
                 count(*)::int as n
          from events where event_time >= ${from} and event_time < ${to} group by 1, 2`;
        const got = new Map<string, number>();
        for (const b of traffic.buckets) {
          for (const [ty, n] of Object.entries(b.byType)) got.set(`${b.bucket}|${ty}`, n as number);
        }
        assert.equal(got.size, raw.length, r);
        for (const x of raw) {
          assert.equal(got.get(`${x.bucket.toISOString()}|${x.event_type}`), x.n, r);
        }
        const users = await get(`/v1/metrics/active-users?${r}`);
        const rawUsers = await db.sql<{ bucket: Date; n: number }[]>`
          select date_bin(${iv}::interval, event_time, timestamptz 'epoch') as bucket,
                 count(distinct user_id)::int as n
          from events where event_time >= ${from} and event_time < ${to}
            and event_type <> 'inventory_update' -- shoppers only: the stock system is no user
          group by 1 order by 1`;
        assert.deepEqual(
          users.buckets,
          rawUsers.map((x) => ({ bucket: x.bucket.toISOString(), users: x.n })),
          r,
        );
        const [all] = await db.sql<{ n: number }[]>`
          select count(distinct user_id)::int as n from events
          where event_time >= ${from} and event_time < ${to} and event_type <> 'inventory_update'`;
        assert.equal(users.distinctUsers, all!.n, r);
        const geo = await get(`/v1/metrics/geo?${r}`);
        const rawGeo = await db.sql<{ country: string; region: string; n: number; u: number }[]>`
          select country, region, count(*)::int as n,
                 count(distinct user_id) filter (where event_type <> 'inventory_update')::int as u
          from events where event_time >= ${from} and event_time < ${to} group by 1, 2`;
        assert.equal(geo.regions.length, rawGeo.length, r);
        for (const g of rawGeo) {
          const x = geo.regions.find((y: { country: string; region: string }) =>
            y.country === g.country && y.region === g.region
          );
          assert.equal(x?.events, g.n, `${r} ${g.country}/${g.region}`);
          assert.equal(x?.users, g.u, `${r} ${g.country}/${g.region}`);
        }
      }
    });

    await t.step(
      "days without user bitmaps are counted from presence rows until backfilled",
      async () => {
        const get = gets["days (the default)"]!;
        const users = paths().filter((p) => /active-users\?[^&]*&[^&]*&[^&]*$|geo/.test(p));
        const before = await Promise.all(users.map((p) => get(p)));
        const [sets] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from user_set_day where country = '*'`;
        assert.ok(sets!.n >= 3 * 47, `${sets!.n} all-user bitmaps`);
        await db.sql`delete from user_set_day`;
        for (const [i, p] of users.entries()) assert.deepEqual(await get(p), before[i], p);
        let days = 0;
        for (let n; (n = await backfillUserSets({ sql: db.sql }, { maxDays: 2 })) > 0;) days += n;
        assert.ok(days >= 3, `${days} days backfilled`);
        for (const [i, p] of users.entries()) assert.deepEqual(await get(p), before[i], p);
        // The bitmaps are what these answers read: spoilt ones change every one of them.
        await db.sql`update user_set_day set bits = bits || '\\xff'::bytea`;
        const spoilt = await Promise.all(users.map((p) => get(p)));
        for (const [i, p] of users.entries()) {
          // Ranges over more than a day; within one, its part is read from presence rows here.
          if ([0, 1, 4, 5].some((r) => p.includes(RANGES[r]!))) {
            assert.notDeepEqual(spoilt[i], before[i], p);
          } else assert.deepEqual(spoilt[i], before[i], p);
        }
        await db.sql`delete from user_set_day`;
        while (await backfillUserSets({ sql: db.sql }) > 0);
      },
    );

    await t.step(
      "a day with presence rows of unknown hours gets whole-day bitmaps only",
      async () => {
        // As rows rolled before migration 0041 may be (mask 0): the bitmaps agree with the presence
        // rows they replace, whichever part of the day is asked for.
        await db.sql`update active_user_day set hours = 0
        where bucket = '2026-11-22T00:00:00Z' and user_id in (
          select user_id from active_user_day where bucket = '2026-11-22T00:00:00Z'
          order by user_id limit 40)`;
        await db.sql`delete from user_set_day`;
        while (await backfillUserSets({ sql: db.sql }) > 0);
        const [spans] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from user_set_day
        where bucket = '2026-11-22T00:00:00Z' and country = '*'`;
        assert.equal(spans!.n, 1);
        const users = paths().filter((p) => /active-users\?[^&]*&[^&]*&[^&]*$|geo/.test(p));
        for (
          const p of [
            ...users,
            `/v1/metrics/geo?window=1d&from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z`,
          ]
        ) {
          assert.deepEqual(
            await gets["days (the default)"]!(p),
            await gets["days without user bitmaps"]!(p),
            p,
          );
        }
      },
    );

    await t.step("the roll-up clears the late mark and the answers stay", async () => {
      const path = `/v1/metrics/traffic?${RANGES[1]}&device=mobile`;
      const before = await gets["days (the default)"]!(path);
      const to = await rollUp({ sql: db.sql }, { before: new Date(START + SPAN) });
      assert.equal(to?.getTime(), Math.floor((START + SPAN) / H) * H);
      const [marks] = await db.sql<{ n: number }[]>`select count(*)::int as n from rollup_dirty`;
      assert.equal(marks!.n, 0);
      assert.deepEqual(await gets["days (the default)"]!(path), before);
    });
  } finally {
    await db.close();
  }
});
