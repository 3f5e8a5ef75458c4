/**
 * Per-day user sets (migration 0042, issue 15): distinct users over a week without hashing a
 * presence row per user and day. Each user gets a dense ordinal per scope (all users, and each
 * country/region), and each UTC day gets, per scope, a bitmap of its users for the whole day, every
 * prefix [0, h) and every suffix [h, 24) of its hours. A range at hour boundaries is then, per day,
 * one bitmap (first day: a suffix, middle days: whole, last day: a prefix), and the API ORs ≤ 8
 * bitmaps for a week instead of counting ~160,000 rows.
 *
 * The sets are written from a day's presence rows (`active_user_day`, whose `hours` mask says in
 * which hours of the day the user was present) in the transaction that rewrites those rows (the
 * roll-up), so they are exactly as current as the day's presence rows; the planner reads a span only
 * when all its hours are clean, as it does with the masks. Days rolled before this migration get
 * theirs from `backfillUserSets()` (newest first); until then the API counts their presence rows.
 *
 * Size: a bitmap has one bit per ordinal up to the highest ordinal present that day, so a day costs
 * 47 × (users ever seen / 8) bytes per scope at most (20,000 shoppers: 2.5 KB a bitmap, 117 KB a
 * day; 1 M shoppers: 125 KB a bitmap) and a week's answer reads 8 of them per scope.
 */
import { Buffer } from "node:buffer";
import type { Sql } from "../shared/mod.ts";

const DAY_MS = 86_400_000;

/** The hour spans stored per day: [0, 24), [0, h) and [h, 24) for h = 1..23. */
export const USER_SET_SPANS: readonly (readonly [number, number])[] = [
  [0, 24],
  ...Array.from({ length: 23 }, (_, i) => [0, i + 1] as const),
  ...Array.from({ length: 23 }, (_, i) => [i + 1, 24] as const),
];

/** A presence row reduced to what the sets need: a user's ordinal and the hours it was present. */
export interface PresenceBits {
  ordinal: number;
  /**
   * Bit h = present in hour h (UTC) of the day; 0 = present, hours unknown (a day rolled before
   * migration 0041 whose hour rows were pruned before its masks were filled).
   */
  hours: number;
}

/**
 * The 47 bitmaps of one day and scope, in `USER_SET_SPANS` order, trailing zero bytes left out.
 * Bit i (byte i >> 3, bit i & 7) is ordinal i.
 */
export function buildUserSets(rows: readonly PresenceBits[]): Uint8Array[] {
  let max = -1;
  for (const r of rows) if (r.ordinal > max) max = r.ordinal;
  const n = (max >> 3) + 1;
  const sets = USER_SET_SPANS.map(() => new Uint8Array(max < 0 ? 0 : n));
  const len = new Int32Array(sets.length);
  for (const { ordinal, hours } of rows) {
    const byte = ordinal >> 3, bit = 1 << (ordinal & 7);
    const low = 31 - Math.clz32(hours & -hours), high = 31 - Math.clz32(hours);
    const set = (k: number) => {
      sets[k]![byte]! |= bit;
      if (byte >= len[k]!) len[k] = byte + 1;
    };
    set(0);
    if (hours === 0) continue; // in the whole day only (writeUserSets then keeps that one)
    for (let b = low + 1; b <= 23; b++) set(b); // [0, b) holds the user when low < b
    for (let a = 1; a <= Math.min(high, 23); a++) set(23 + a); // [a, 24) when high >= a
  }
  return sets.map((s, k) => s.subarray(0, len[k]));
}

/**
 * Gives every user present on `days` an ordinal in each scope it lacks one in, then rewrites
 * those days' sets from their `active_user_day` rows. Runs inside the caller's transaction, which
 * holds the roll-up lock (ordinals are assigned by one writer at a time).
 */
export async function writeUserSets(tx: Sql, days: readonly Date[]): Promise<number> {
  if (days.length === 0) return 0;
  const d = days.map((x) => x.toISOString());
  // New users get the next ordinals of their scope. `materialized`: each scope's highest ordinal is
  // read once, before any insert (inlined, it ran once per new user: 40 s for a week's 40,000).
  const added = await tx`
    with s as (
      select c.country, c.region, c.user_id from (
        select distinct country, region, user_id from active_user_day
        where bucket = any(${d}::timestamptz[])
        union
        select distinct '*', '*', user_id from active_user_day
        where bucket = any(${d}::timestamptz[])) c
      where not exists (
        select from user_ordinal o
        where o.country = c.country and o.region = c.region and o.user_id = c.user_id)),
    tops as materialized (
      select k.country, k.region,
             (select max(o.ordinal) from user_ordinal o
              where o.country = k.country and o.region = k.region) as top
      from (select distinct country, region from s) k)
    insert into user_ordinal (country, region, user_id, ordinal)
    select s.country, s.region, s.user_id,
           coalesce(t.top, -1) + row_number() over (partition by s.country, s.region
                                                     order by s.user_id)
    from s join tops t using (country, region)`;
  // Many new users (a first backfill, a burst of new shoppers) would leave the planner estimating
  // the dictionary from stale statistics, and joining it by nested loop below.
  if (added.count > 1000) await tx`analyze user_ordinal`;
  const rows = await tx<
    { bucket: Date; country: string; region: string; ordinal: number; hours: number }[]
  >`
    select x.bucket, x.country, x.region, o.ordinal, x.hours
    from (
      select bucket, country, region, user_id, bit_or(hours) as hours from active_user_day
      where bucket = any(${d}::timestamptz[]) group by 1, 2, 3, 4
      union all
      select bucket, '*', '*', user_id, bit_or(hours) from active_user_day
      where bucket = any(${d}::timestamptz[]) group by 1, 4) x
    join user_ordinal o using (country, region, user_id)
    order by 1, 2, 3`;
  const groups = new Map<
    string,
    { bucket: Date; country: string; region: string; rows: PresenceBits[] }
  >();
  for (const day of days) {
    groups.set(`${day.getTime()}\0*\0*`, { bucket: day, country: "*", region: "*", rows: [] });
  }
  for (const r of rows) {
    const key = `${r.bucket.getTime()}\0${r.country}\0${r.region}`;
    let g = groups.get(key);
    if (!g) {
      groups.set(key, g = { bucket: r.bucket, country: r.country, region: r.region, rows: [] });
    }
    g.rows.push({ ordinal: r.ordinal, hours: r.hours });
  }
  const out: {
    bucket: Date;
    country: string;
    region: string;
    from_hour: number;
    to_hour: number;
    bits: Buffer;
  }[] = [];
  // A day with a user of unknown hours gets its whole-day sets only: its prefixes and suffixes are
  // then read from presence rows, as the masks were before.
  const unknownHours = new Set(
    (await tx<{ bucket: Date }[]>`
      select distinct bucket from active_user_day
      where bucket = any(${d}::timestamptz[]) and hours = 0`).map((r) => r.bucket.getTime()),
  );
  for (const g of groups.values()) {
    const all = g.country === "*";
    const wholeOnly = unknownHours.has(g.bucket.getTime());
    buildUserSets(g.rows).forEach((bits, k) => {
      if (k > 0 && wholeOnly) return;
      // Scope '*' keeps empty sets too: its rows say the day's sets exist.
      if (bits.length === 0 && !all) return;
      const [from_hour, to_hour] = USER_SET_SPANS[k]!;
      out.push({
        bucket: g.bucket,
        country: g.country,
        region: g.region,
        from_hour,
        to_hour,
        bits: Buffer.from(bits.buffer, bits.byteOffset, bits.length),
      });
    });
  }
  await tx`delete from user_set_day where bucket = any(${d}::timestamptz[])`;
  for (let i = 0; i < out.length; i += 5000) {
    await tx`insert into user_set_day ${
      tx(out.slice(i, i + 5000), "bucket", "country", "region", "from_hour", "to_hour", "bits")
    }`;
  }
  return out.length;
}

/**
 * Writes the sets of up to `maxDays` rolled days that have none (newest first), under the roll-up
 * lock; resolves to the number of days written (0 when none is missing or a roll-up holds the lock).
 */
export async function backfillUserSets(
  deps: { sql: Sql },
  options: { maxDays?: number } = {},
): Promise<number> {
  const maxDays = options.maxDays ?? 7;
  return await deps.sql.begin("isolation level repeatable read", async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`
      select pg_try_advisory_xact_lock(hashtext(current_schema() || '.scalestream.rollup')) as ok`;
    if (!lock?.ok) return 0;
    const missing = await tx<{ day: Date }[]>`
      select r.hour as day from rollup_hours r
      where r.hour = date_bin('1 day', r.hour, timestamptz 'epoch')
        and not exists (
          select from user_set_day s
          where s.bucket = r.hour and s.from_hour = 0 and s.to_hour = 24 and s.country = '*'
            and s.region = '*')
      order by 1 desc limit ${maxDays}`;
    const days = missing.map((m) => new Date(Math.floor(m.day.getTime() / DAY_MS) * DAY_MS));
    await writeUserSets(tx as unknown as Sql, days);
    return days.length;
  }) as number;
}
