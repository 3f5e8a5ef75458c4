/**
 * One flush = one transaction: raw events in with one statement (`unnest … on conflict do nothing
 * returning`), aggregates incremented only from the rows that statement actually inserted, rejects
 * and counters recorded, and every extra stage run on the same inserted rows. Either all of it
 * commits or none of it does, which is what makes redelivery harmless.
 */
import { type Event, revenueCents, type Sql, type Tx } from "../shared/mod.ts";
import type { AcceptedEvent, RejectRow } from "./decode_message.ts";

/** Work a flush hands to later stages (analytics), in the same transaction. */
export interface FlushContext {
  tx: Tx;
  /** Events inserted by this flush (never duplicates), with their event times. */
  inserted: readonly AcceptedEvent[];
  /** Segment of each user, from enrichment; "unknown" when not known. */
  segmentOf: (userId: string) => string;
  nowMs: number;
}

/** A step that runs inside every flush transaction on the newly inserted events. */
export type FlushStage = (ctx: FlushContext) => Promise<void>;

export interface FlushInput {
  events: readonly AcceptedEvent[];
  rejects: readonly RejectRow[];
  messages: number;
  workerId: string;
}

export interface FlushDeps {
  sql: Sql;
  stages?: readonly FlushStage[];
  segmentOf?: (userId: string) => string;
  now?: () => number;
}

export interface FlushResult {
  received: number;
  stored: number;
  duplicates: number;
  rejected: number;
  outOfRange: number;
  inserted: AcceptedEvent[];
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** Writes one batch atomically; see the module comment for what "exactly once" rests on. */
export async function flushEvents(input: FlushInput, deps: FlushDeps): Promise<FlushResult> {
  const now = deps.now ?? Date.now;
  const segmentOf = memoize(deps.segmentOf ?? (() => "unknown"));
  const unique = uniqueById(input.events);
  return await deps.sql.begin(async (tx) => {
    const nowMs = now();
    const insertedIds = unique.length > 0 ? await insertEvents(tx, unique) : null;
    const inserted = insertedIds === null
      ? unique
      : unique.filter((e) => insertedIds.has(e.event.eventId));
    const rejectedRows = input.rejects.length > 0 ? await insertRejects(tx, input.rejects) : [];
    const rejectKinds = new Map<string, number>();
    for (const r of rejectedRows) rejectKinds.set(r.kind, (rejectKinds.get(r.kind) ?? 0) + 1);
    const rejected = rejectKinds.get("invalid") ?? 0;
    const outOfRange = rejectedRows.length - rejected;
    for (const stage of deps.stages ?? []) await stage({ tx, inserted, segmentOf, nowMs });
    // The rows every concurrent flush of the same minute shares come last: a flush holds their
    // locks only from here to its commit, so the others wait for that short tail, not its stages.
    if (inserted.length > 0) await upsertAggregates(tx, inserted, segmentOf);
    const result: FlushResult = {
      received: input.events.length + input.rejects.length,
      stored: inserted.length,
      duplicates: input.events.length - inserted.length,
      rejected,
      outOfRange,
      inserted,
    };
    await recordStats(tx, input, result, nowMs);
    await recordTotals(tx, input.workerId, inserted, rejectKinds, result.duplicates);
    return result;
  });
}

/** Per-flush cache of a user's segment: every stage asks for the same few thousand users. */
function memoize(segmentOf: (userId: string) => string): (userId: string) => string {
  const seen = new Map<string, string>();
  return (userId) => {
    let s = seen.get(userId);
    if (s === undefined) seen.set(userId, s = segmentOf(userId));
    return s;
  };
}

/** First occurrence of each event id, sorted by id so concurrent flushes lock rows in one order. */
function uniqueById(events: readonly AcceptedEvent[]): AcceptedEvent[] {
  const seen = new Set<string>();
  const out: AcceptedEvent[] = [];
  for (const e of events) {
    if (seen.has(e.event.eventId)) continue;
    seen.add(e.event.eventId);
    out.push(e);
  }
  return out.sort((a, b) => a.event.eventId < b.event.eventId ? -1 : 1);
}

const ATTR_FIELDS = [
  "pageUrl",
  "referrer",
  "userAgent",
  "searchQuery",
  "rating",
  "stock",
  "properties",
  "schemaVersion",
] as const satisfies readonly (keyof Event)[];

function attrsOf(e: Event): string | null {
  let attrs: Record<string, unknown> | null = null;
  for (const f of ATTR_FIELDS) {
    if (e[f] !== undefined) (attrs ??= {})[f] = e[f];
  }
  return attrs === null ? null : JSON.stringify(attrs);
}

/** The ids this statement inserted, or null when it inserted every one of `events`. */
async function insertEvents(
  tx: Tx,
  events: readonly AcceptedEvent[],
): Promise<Set<string> | null> {
  const n = events.length;
  const ids = new Array<string>(n), times = new Array<string>(n), types = new Array<string>(n);
  const users = new Array<string>(n), sessions = new Array<string>(n);
  const products = new Array<string | null>(n), categories = new Array<string | null>(n);
  const prices = new Array<number | null>(n), quantities = new Array<number | null>(n);
  const devices = new Array<string>(n), countries = new Array<string>(n);
  const regions = new Array<string>(n), orders = new Array<string | null>(n);
  const ips = new Array<string | null>(n), attrs = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const { event: e, timeMs } = events[i]!;
    ids[i] = e.eventId;
    times[i] = new Date(timeMs).toISOString();
    types[i] = e.eventType;
    users[i] = e.userId;
    sessions[i] = e.sessionId;
    products[i] = e.productId ?? null;
    categories[i] = e.category ?? null;
    prices[i] = e.price === undefined ? null : Math.round(e.price * 100);
    quantities[i] = e.quantity ?? null;
    devices[i] = e.deviceType;
    countries[i] = e.location.country;
    regions[i] = e.location.region;
    orders[i] = e.orderId ?? null;
    ips[i] = e.ipAddress ?? null;
    attrs[i] = attrsOf(e);
  }
  const [row] = await tx<{ n: number; ids: string[] | null }[]>`
    with ins as (
      insert into events (event_id, event_time, event_type, user_id, session_id, product_id, category,
                          price_cents, quantity, device_type, country, region, order_id, ip_address, attrs)
      select id, t, ty, u, se, p, c, pr, q, d, co, r, o, ip, a::jsonb from unnest(
        ${ids}::uuid[], ${times}::timestamptz[], ${types}::text[], ${users}::text[],
        ${sessions}::text[], ${products}::text[], ${categories}::text[], ${prices}::bigint[],
        ${quantities}::int[], ${devices}::text[], ${countries}::text[], ${regions}::text[],
        ${orders}::text[], ${ips}::text[], ${attrs}::text[]) -- text, then jsonb: a jsonb[] parameter
                                                            -- would be JSON-encoded a second time
        as x(id, t, ty, u, se, p, c, pr, q, d, co, r, o, ip, a)
      on conflict do nothing
      returning event_id)
    -- The ids only when some event was already stored: usually all are new, and one row is cheaper.
    select count(*)::int as n, case when count(*) < ${n} then array_agg(event_id) end as ids
    from ins`;
  if (row!.n === n) return null;
  return new Set(row!.ids ?? []);
}

/** One row of `agg_minute` as pre-aggregated in memory for one flush. */
export interface AggRow {
  bucket: number;
  eventType: string;
  category: string;
  device: string;
  segment: string;
  events: number;
  units: number;
  revenueCents: number;
}

/** One row per aggregate key, sorted by key (the order every flush locks rows in). */
export function preAggregate(
  inserted: readonly AcceptedEvent[],
  segmentOf: (userId: string) => string,
): AggRow[] {
  const rows = new Map<string, AggRow>();
  for (const { event: e, timeMs } of inserted) {
    const bucket = timeMs - (timeMs % MINUTE_MS);
    const category = e.category ?? "";
    const segment = segmentOf(e.userId);
    const key = `${bucket}|${e.eventType}|${category}|${e.deviceType}|${segment}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = {
        bucket,
        eventType: e.eventType,
        category,
        device: e.deviceType,
        segment,
        events: 0,
        units: 0,
        revenueCents: 0,
      };
      rows.set(key, row);
    }
    row.events++;
    row.units += e.quantity ?? 0;
    row.revenueCents += revenueCents(e);
  }
  return [...rows.values()].sort(compareAgg);
}

/** Upserts the pre-aggregated rows with keys sorted (deadlock-free). */
async function upsertAggregates(
  tx: Tx,
  inserted: readonly AcceptedEvent[],
  segmentOf: (userId: string) => string,
): Promise<void> {
  const sorted = preAggregate(inserted, segmentOf);
  await tx`
    insert into agg_minute (bucket, event_type, category, device_type, segment, events, units,
                            revenue_cents)
    select * from unnest(
      ${sorted.map((r) => new Date(r.bucket).toISOString())}::timestamptz[],
      ${sorted.map((r) => r.eventType)}::text[], ${sorted.map((r) => r.category)}::text[],
      ${sorted.map((r) => r.device)}::text[], ${sorted.map((r) => r.segment)}::text[],
      ${sorted.map((r) => r.events)}::bigint[], ${sorted.map((r) => r.units)}::bigint[],
      ${sorted.map((r) => r.revenueCents)}::bigint[])
    on conflict (bucket, event_type, category, device_type, segment) do update set
      events = agg_minute.events + excluded.events,
      units = agg_minute.units + excluded.units,
      revenue_cents = agg_minute.revenue_cents + excluded.revenue_cents`;
}

function compareAgg(a: AggRow, b: AggRow): number {
  return a.bucket - b.bucket || cmp(a.eventType, b.eventType) || cmp(a.category, b.category) ||
    cmp(a.device, b.device) || cmp(a.segment, b.segment);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function insertRejects(
  tx: Tx,
  rejects: readonly RejectRow[],
): Promise<{ kind: string }[]> {
  const sorted = [...rejects].sort((a, b) => cmp(a.messageId, b.messageId) || a.index - b.index);
  return await tx<{ kind: string }[]>`
    insert into rejects (message_id, event_index, kind, reason, event_id, event_type, payload)
    select * from unnest(
      ${sorted.map((r) => r.messageId)}::text[], ${sorted.map((r) => r.index)}::int[],
      ${sorted.map((r) => r.kind)}::text[], ${sorted.map((r) => r.reason)}::text[],
      ${sorted.map((r) => r.eventId)}::text[], ${sorted.map((r) => r.eventType)}::text[],
      ${sorted.map((r) => r.payload)}::text[])
    on conflict do nothing
    returning kind`;
}

async function recordStats(
  tx: Tx,
  input: FlushInput,
  r: FlushResult,
  nowMs: number,
): Promise<void> {
  const bucket = new Date(nowMs - (nowMs % MINUTE_MS)).toISOString();
  await tx`
    insert into ingest_stats (bucket, worker_id, flushes, messages, received, stored, duplicates,
                              rejected, out_of_range)
    values (${bucket}, ${input.workerId}, 1, ${input.messages}, ${r.received}, ${r.stored},
            ${r.duplicates}, ${r.rejected}, ${r.outOfRange})
    on conflict (bucket, worker_id) do update set
      flushes = ingest_stats.flushes + 1,
      messages = ingest_stats.messages + excluded.messages,
      received = ingest_stats.received + excluded.received,
      stored = ingest_stats.stored + excluded.stored,
      duplicates = ingest_stats.duplicates + excluded.duplicates,
      rejected = ingest_stats.rejected + excluded.rejected,
      out_of_range = ingest_stats.out_of_range + excluded.out_of_range`;
}

/** The shard of a worker's running totals: FNV-1a of its id, mod 64. */
export function totalsShard(workerId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) {
    h = Math.imul(h ^ workerId.charCodeAt(i), 0x01000193);
  }
  return (h >>> 0) % 64;
}

/**
 * Adds this flush to the running totals (`pipeline_totals`, the worker's shard) and marks the
 * hours its new events touched for the roll-up job (`rollup_dirty`, insert-only), both in the
 * flush's transaction.
 */
async function recordTotals(
  tx: Tx,
  workerId: string,
  inserted: readonly AcceptedEvent[],
  rejectKinds: ReadonlyMap<string, number>,
  duplicates: number,
): Promise<void> {
  const byKind = new Map<string, { n: number; units: number; cents: number }>();
  const hours = new Set<number>();
  for (const { event: e, timeMs } of inserted) {
    let t = byKind.get(e.eventType);
    if (t === undefined) byKind.set(e.eventType, t = { n: 0, units: 0, cents: 0 });
    t.n++;
    t.units += e.quantity ?? 0;
    t.cents += revenueCents(e);
    hours.add(timeMs - (timeMs % HOUR_MS));
  }
  for (const [kind, n] of rejectKinds) {
    byKind.set(kind === "invalid" ? "rejected" : kind, { n, units: 0, cents: 0 });
  }
  if (duplicates > 0) byKind.set("duplicates", { n: duplicates, units: 0, cents: 0 });
  if (byKind.size === 0) return;
  const kinds = [...byKind.keys()].sort(cmp);
  const rows = kinds.map((k) => byKind.get(k)!);
  await tx`
    insert into pipeline_totals (shard, kind, n, units, revenue_cents)
    select ${totalsShard(workerId)}, * from unnest(
      ${kinds}::text[], ${rows.map((r) => r.n)}::bigint[], ${rows.map((r) => r.units)}::bigint[],
      ${rows.map((r) => r.cents)}::bigint[])
    on conflict (shard, kind) do update set
      n = pipeline_totals.n + excluded.n,
      units = pipeline_totals.units + excluded.units,
      revenue_cents = pipeline_totals.revenue_cents + excluded.revenue_cents`;
  if (hours.size > 0) {
    await tx`
      insert into rollup_dirty (hour, batch_id)
      select h, pg_current_xact_id()::text::bigint
      from unnest(${
      [...hours].sort((a, b) => a - b).map((h) => new Date(h).toISOString())
    }::timestamptz[]) as h`;
  }
}
