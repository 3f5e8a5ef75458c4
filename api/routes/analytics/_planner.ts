/**
 * The query planner of the analytics reads (issue 15): splits a range into pieces, each read from
 * the narrowest table that answers it exactly. A day with no hour marked in `rollup_dirty` is read
 * from the day rollup, a clean hour from the hour rollup, and the minutes of a marked hour (or of
 * the ragged edges of the range) from the minute tables the flush keeps exact. The marks and the
 * data are read in one REPEATABLE READ snapshot, so an answer equals a recount of the minute rows
 * whichever tables it came from (consumer/roll_up.ts says why an unmarked hour is exact).
 */
import type { PendingQuery, Row } from "postgres";
import type { Sql } from "../../../shared/mod.ts";

/** A piece of SQL built with the tagged template, to splice into another. */
export type Fragment = PendingQuery<Row[]>;

export type Grain = "minute" | "hour" | "day";
const GRAIN_MS: Record<Grain, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const RANK: Record<Grain, number> = { minute: 0, hour: 1, day: 2 };

/** A half-open range read from one grain; `rolled` minutes come from a minute rollup (clean hour). */
export interface Piece {
  grain: Grain;
  from: Date;
  to: Date;
  rolled: boolean;
}

/** How far the planner may go (tests force each grain; the API uses the defaults). */
export interface PlanOptions {
  /** The coarsest grain the planner may read (default "day"). */
  maxGrain?: Grain;
  /** Whether clean hours' minutes may come from a minute rollup (default true). */
  rolledMinutes?: boolean;
  /**
   * Whether distinct users over day-grain plans may come from the per-day user bitmaps (migration
   * 0042; default true, used only when `maxGrain` is "day").
   */
  userSets?: boolean;
}

/** Whether a plan may read the per-day user bitmaps. */
export const userSetsAllowed = (o: PlanOptions = {}) =>
  o.userSets !== false && (o.maxGrain ?? "day") === "day";

/** A grain no coarser than both. */
export const finer = (a: Grain, b: Grain): Grain => (RANK[a] <= RANK[b] ? a : b);

/** The coarsest grain whose buckets divide a series bucket of `windowMs`. */
export function grainOfWindow(windowMs: number): Grain {
  if (windowMs % GRAIN_MS.day === 0) return "day";
  if (windowMs % GRAIN_MS.hour === 0) return "hour";
  return "minute";
}

/**
 * Splits [from, to) into pieces no coarser than `coarsest`, reading rollups only for `clean` hours
 * (hour starts in ms: rolled, and not marked since); adjacent pieces of one kind are merged.
 */
export function planPieces(
  fromMs: number,
  toMs: number,
  coarsest: Grain,
  clean: ReadonlySet<number>,
  options: PlanOptions = {},
): Piece[] {
  const dirty = { has: (h: number) => !clean.has(h) };
  const max = finer(coarsest, options.maxGrain ?? "day");
  const rolledOk = options.rolledMinutes ?? true;
  const H = GRAIN_MS.hour, D = GRAIN_MS.day;
  const cleanDay = (t: number) => {
    for (let h = t; h < t + D; h += H) if (dirty.has(h)) return false;
    return true;
  };
  const out: Piece[] = [];
  const push = (grain: Grain, a: number, b: number, rolled: boolean) => {
    const last = out[out.length - 1];
    if (last && last.grain === grain && last.rolled === rolled && last.to.getTime() === a) {
      last.to = new Date(b);
    } else out.push({ grain, from: new Date(a), to: new Date(b), rolled });
  };
  let t = fromMs;
  while (t < toMs) {
    if (max === "day" && t % D === 0 && t + D <= toMs && cleanDay(t)) {
      push("day", t, t + D, false);
      t += D;
    } else if (max !== "minute" && t % H === 0 && t + H <= toMs && !dirty.has(t)) {
      push("hour", t, t + H, false);
      t += H;
    } else {
      const hour = t - (t % H);
      const end = Math.min(hour + H, toMs);
      push("minute", t, end, rolledOk && !dirty.has(hour));
      t = end;
    }
  }
  return out;
}

/** The hours meeting [from, to) whose rollups are exact: rolled, and not marked since. */
export async function cleanHours(sql: Sql, from: Date, to: Date): Promise<Set<number>> {
  const start = new Date(from.getTime() - (from.getTime() % GRAIN_MS.hour));
  const rows = await sql<{ hour: Date }[]>`
    select r.hour from rollup_hours r
    where r.hour >= ${start} and r.hour < ${to}
      and not exists (select from rollup_dirty d where d.hour = r.hour)`;
  return new Set(rows.map((r) => r.hour.getTime()));
}

/**
 * Runs `read` with the pieces of [from, to) for each requested coarsest grain, in one read-only
 * REPEATABLE READ transaction (marks and rows from one snapshot; `set local` settings apply).
 */
export async function withPlan<T>(
  sql: Sql,
  range: { from: Date; to: Date },
  coarsest: readonly Grain[],
  options: PlanOptions,
  read: (tx: Sql, plans: Piece[][]) => Promise<T>,
): Promise<T> {
  const from = range.from.getTime(), to = range.to.getTime();
  return await sql.begin("isolation level repeatable read read only", async (tx) => {
    const clean = await cleanHours(tx as unknown as Sql, range.from, range.to);
    const plans = coarsest.map((g) => planPieces(from, to, g, clean, options));
    return await read(tx as unknown as Sql, plans);
  }) as T;
}

/**
 * Tables of one family by grain; `rolledMinute` is read for a clean hour's minutes when set. With
 * `dayHours`, the day table has an `hours` mask (bit h = hour h UTC, migration 0041) and clean hours
 * are read from their day's rows (`hours & mask <> 0`): one row per user and day, not per hour.
 */
export interface Family {
  minute: string;
  rolledMinute?: string;
  hour: string;
  day: string;
  dayHours?: boolean;
}

/** Hour pieces regrouped by UTC day, as (day start, 24-bit mask of the hours); the rest as is. */
export function maskHours(pieces: readonly Piece[]): (Piece | { day: Date; mask: number })[] {
  const H = GRAIN_MS.hour, D = GRAIN_MS.day;
  const out: (Piece | { day: Date; mask: number })[] = [];
  for (const p of pieces) {
    if (p.grain !== "hour") {
      out.push(p);
      continue;
    }
    for (let t = p.from.getTime(); t < p.to.getTime(); t += H) {
      const day = t - (t % D);
      const last = out[out.length - 1];
      const bit = 1 << ((t - day) / H);
      if (last && "mask" in last && last.day.getTime() === day) last.mask |= bit;
      else out.push({ day: new Date(day), mask: bit });
    }
  }
  return out;
}

/**
 * `select <cols> from <table of each piece> where bucket in piece <and>` joined by `union all`:
 * the rows of the whole range, each from the table its piece names.
 */
export function unionOf(
  sql: Sql,
  pieces: readonly Piece[],
  family: Family,
  cols: Fragment,
  and: Fragment = sql``,
): Fragment {
  const arms = (family.dayHours ? maskHours(pieces) : pieces).map((p) => {
    if ("mask" in p) {
      return sql`select ${cols} from ${sql(family.day)}
        where bucket = ${p.day} and hours & ${p.mask} <> 0 ${and}`;
    }
    const table = p.grain === "minute"
      ? (p.rolled && family.rolledMinute ? family.rolledMinute : family.minute)
      : family[p.grain];
    return sql`select ${cols} from ${sql(table)}
      where bucket >= ${p.from} and bucket < ${p.to} ${and}`;
  });
  if (arms.length === 0) return sql`select ${cols} from ${sql(family.minute)} where false`;
  return arms.reduce((acc, arm) => sql`${acc} union all ${arm}`);
}
