/**
 * Distinct users over a planned range from the per-day user bitmaps (consumer/user_sets.ts,
 * migration 0042), exact: each day's part of the range that is one stored span ([0, 24), a prefix
 * [0, h) or a suffix [h, 24) of clean hours) is read as a bitmap; the rest (minutes of a marked
 * hour, a day part that is no prefix or suffix, a day whose sets are not written yet) as presence
 * rows, whose users are mapped to their ordinals. The answer is the popcount of the OR of both,
 * plus the users of those rows that have no ordinal yet (first seen after the last roll-up: they
 * are in no bitmap). Scopes: all users ('*', '*'), or each country/region.
 */
import type { Sql } from "../../../shared/mod.ts";
import { type Fragment, maskHours, type Piece } from "./_planner.ts";

const DAY_MS = 86_400_000;
const FULL = 0xffffff;

/** The stored span a day's 24-bit hour mask is, or null (then its presence rows are read). */
export function spanOfMask(mask: number): [number, number] | null {
  if (mask === FULL) return [0, 24];
  if ((mask & (mask + 1)) === 0) return [0, 32 - Math.clz32(mask)]; // 0b0…01…1: a prefix
  const low = 31 - Math.clz32(mask & -mask);
  if (mask === (FULL & ~((1 << low) - 1))) return [low, 24]; // 1…10…0: a suffix
  return null;
}

const POP = Uint8Array.from({ length: 256 }, (_, i) => {
  let n = 0;
  for (let x = i; x; x &= x - 1) n++;
  return n;
});

/** A growable bitmap of ordinals. */
class Bits {
  bytes = new Uint8Array(0);
  private grow(n: number) {
    if (n <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(n, this.bytes.length * 2));
    next.set(this.bytes);
    this.bytes = next;
  }
  or(b: Uint8Array) {
    this.grow(b.length);
    const a = this.bytes;
    for (let i = 0; i < b.length; i++) a[i]! |= b[i]!;
  }
  add(ordinal: number) {
    this.grow((ordinal >> 3) + 1);
    this.bytes[ordinal >> 3]! |= 1 << (ordinal & 7);
  }
  count() {
    let n = 0;
    for (const b of this.bytes) n += POP[b]!;
    return n;
  }
}

export interface UserCountOptions {
  /** Count per country/region (geo) instead of all users. */
  byRegion: boolean;
  /** Only this country (geo's filter). */
  country: string | null;
}

/** Key of a scope in the result: '*' or `${country}\0${region}`. */
export const scopeKey = (country: string, region: string) =>
  country === "*" ? "*" : `${country}\0${region}`;

/**
 * Distinct users of the range `pieces` cover (a "day" plan), per scope. Must run in the planner's
 * snapshot (`withPlan`), which decided which hours are clean.
 */
export async function countUsers(
  sql: Sql,
  pieces: readonly Piece[],
  options: UserCountOptions,
): Promise<Map<string, number>> {
  // What each day part wants: a stored span, or presence rows.
  const wanted: { bucket: Date; from: number; to: number; mask: number | null }[] = [];
  const minutes: Piece[] = [];
  for (const p of maskHours(pieces)) {
    if ("mask" in p) {
      const span = spanOfMask(p.mask);
      if (span) wanted.push({ bucket: p.day, from: span[0], to: span[1], mask: p.mask });
      else wanted.push({ bucket: p.day, from: -1, to: -1, mask: p.mask });
    } else if (p.grain === "day") {
      for (let t = p.from.getTime(); t < p.to.getTime(); t += DAY_MS) {
        wanted.push({ bucket: new Date(t), from: 0, to: 24, mask: null });
      }
    } else minutes.push(p);
  }
  const spans = wanted.filter((w) => w.from >= 0);
  const country = options.country;
  const sets = spans.length === 0 ? [] : await sql<
    {
      bucket: Date;
      from_hour: number;
      to_hour: number;
      country: string;
      region: string;
      bits: Uint8Array | null;
    }[]
  >`
    select s.bucket, s.from_hour, s.to_hour, s.country, s.region,
           case when (s.country = '*') = ${!options.byRegion} then s.bits end as bits
    from unnest(${spans.map((w) => w.bucket.toISOString())}::timestamptz[],
                ${spans.map((w) => w.from)}::int[], ${spans.map((w) => w.to)}::int[])
           as w(bucket, from_hour, to_hour)
    join user_set_day s using (bucket, from_hour, to_hour)
    where (s.country = '*' and s.region = '*')
       or (${options.byRegion} and (${country}::text is null or s.country = ${country}))`;
  const found = new Set<string>();
  const acc = new Map<string, Bits>();
  const bitsOf = (key: string) => {
    let b = acc.get(key);
    if (!b) acc.set(key, b = new Bits());
    return b;
  };
  for (const s of sets) {
    if (s.country === "*") found.add(`${s.bucket.getTime()}/${s.from_hour}/${s.to_hour}`);
    if (s.bits !== null && s.bits.length > 0) bitsOf(scopeKey(s.country, s.region)).or(s.bits);
  }

  // Presence rows for the rest.
  const arms: Fragment[] = [];
  const cols = options.byRegion ? sql`country, region, user_id` : sql`user_id`;
  const where = options.byRegion && country !== null ? sql`and country = ${country}` : sql``;
  for (const w of wanted) {
    if (w.from >= 0 && found.has(`${w.bucket.getTime()}/${w.from}/${w.to}`)) continue;
    arms.push(
      w.mask === null
        ? sql`select ${cols} from active_user_day where bucket = ${w.bucket} ${where}`
        : sql`select ${cols} from active_user_day
            where bucket = ${w.bucket} and hours & ${w.mask} <> 0 ${where}`,
    );
  }
  for (const p of minutes) {
    arms.push(sql`select ${cols} from active_user_minute
      where bucket >= ${p.from} and bucket < ${p.to} ${where}`);
  }
  const unknown = new Map<string, number>();
  if (arms.length > 0) {
    const rows = arms.reduce((a, b) => sql`${a} union all ${b}`);
    const scope = options.byRegion
      ? sql`country, region`
      : sql`'*'::text as country, '*'::text as region`;
    const found = await sql<
      { country: string; region: string; ordinals: number[] | null; unknown: number }[]
    >`
      select x.country, x.region,
             array_agg(o.ordinal) filter (where o.ordinal is not null) as ordinals,
             count(*) filter (where o.ordinal is null)::int as unknown
      from (select distinct ${scope}, user_id from (${rows}) r) x
      left join user_ordinal o
        on o.country = x.country and o.region = x.region and o.user_id = x.user_id
      group by 1, 2`;
    for (const r of found) {
      const key = scopeKey(r.country, r.region);
      if (r.ordinals) {
        const b = bitsOf(key);
        for (const o of r.ordinals) b.add(o);
      }
      if (r.unknown > 0) unknown.set(key, r.unknown);
    }
  }
  const out = new Map<string, number>();
  for (const [key, b] of acc) out.set(key, b.count());
  for (const [key, n] of unknown) out.set(key, (out.get(key) ?? 0) + n);
  return out;
}
