/**
 * The core flush: one transaction, normally ONE statement, holding everything exactly-once rests
 * on (docs/exactly-once.md):
 * - the batch's event ids claimed in `event_ids` (one id is one event, whatever its timestamp,
 *   within the dedupe horizon), and the raw rows of the ids it claimed;
 * - rejects under their deterministic key (a re-sent invalid event is one reject);
 * - every windowed counter (minute tables, exact active users per region, running totals, roll-up
 *   marks) and the worker's ingestion counters;
 * - an outbox row naming the batch (`core_batches`), from which the derived stage computes
 *   sessions, features, fraud, inventory and orders (consumer/derived.ts).
 * The counters are computed in one client pass assuming every event is new, and applied only if
 * the statement finds that so; otherwise (a redelivery) a second statement applies the counters of
 * the events it did claim. Messages are deleted only after the transaction commits.
 */
import type { Event, Sql, Tx } from "../shared/mod.ts";
import type { AcceptedEvent, RejectRow } from "./decode_message.ts";
import { cmp, computeCounters, type CoreCounters } from "./core_counters.ts";
import { column, pgArray } from "./_pg_array.ts";

export { type AggRow, preAggregate } from "./core_counters.ts";

/** What a step running inside a transaction over a batch's new events gets. */
export interface FlushContext {
  tx: Tx;
  /** Events inserted by this batch (never duplicates), with their event times. */
  inserted: readonly AcceptedEvent[];
  /** Segment of each user, from enrichment; "unknown" when not known. */
  segmentOf: (userId: string) => string;
  nowMs: number;
}

/** A step over a batch's new events inside a transaction (the derived stages; test hooks). */
export type FlushStage = (ctx: FlushContext) => Promise<void>;

export interface FlushInput {
  events: readonly AcceptedEvent[];
  rejects: readonly RejectRow[];
  messages: number;
  workerId: string;
}

export interface FlushDeps {
  sql: Sql;
  /**
   * Steps run inside the core transaction after its statement, consuming the batch's outbox row
   * (fault injection in tests, benches, inline derivation). Consumers pass none: derived state
   * comes off the outbox in its own transaction (consumer/derived.ts).
   */
  stages?: readonly FlushStage[];
  segmentOf?: (userId: string) => string;
  now?: () => number;
  /**
   * Runs first in the flush's transaction, before its statement (tests that hold a flush open
   * without holding any row lock).
   */
  inTransaction?: (tx: Tx) => Promise<void>;
  /** The clock of the dedupe generation (tests of the generation boundary); default the database's. */
  dedupeClock?: () => number;
}

export interface FlushResult {
  received: number;
  stored: number;
  duplicates: number;
  rejected: number;
  outOfRange: number;
  inserted: AcceptedEvent[];
  /** The batch id (the transaction id) of the stored events; the outbox row's key. */
  batchId: number;
  /** The segment the flush stored with each user of `inserted`. */
  segmentOf: (userId: string) => string;
}

const MINUTE_MS = 60_000;

/** Writes one batch atomically; see the module comment for what "exactly once" rests on. */
export async function flushEvents(input: FlushInput, deps: FlushDeps): Promise<FlushResult> {
  const now = deps.now ?? Date.now;
  const segmentOf = memoize(deps.segmentOf ?? (() => "unknown"));
  const unique = uniqueById(input.events);
  const rejects = uniqueByKey(input.rejects);
  const counters = computeCounters(unique, segmentOf);
  return await deps.sql.begin(async (tx) => {
    await deps.inTransaction?.(tx);
    const nowMs = now();
    const core = await coreStatement(tx, {
      input,
      unique,
      rejects,
      counters,
      segmentOf,
      nowMs,
      dedupeAt: deps.dedupeClock?.() ?? null,
    });
    let inserted = unique;
    if (!core.applied) {
      const fresh = new Set(core.freshIds ?? []);
      inserted = unique.filter((e) => fresh.has(e.event.eventId));
      if (inserted.length > 0) {
        await counterStatement(tx, computeCounters(inserted, segmentOf), input.workerId);
      }
    }
    if (deps.stages !== undefined && deps.stages.length > 0) {
      // Steps run here derive the batch in the core transaction: its outbox row goes with them.
      await tx`delete from core_batches where batch_id = ${core.batchId}`;
      for (const stage of deps.stages) await stage({ tx, inserted, segmentOf, nowMs });
    }
    return {
      received: input.events.length + input.rejects.length,
      stored: inserted.length,
      duplicates: input.events.length - inserted.length,
      rejected: core.rejected,
      outOfRange: core.outOfRange,
      inserted,
      batchId: core.batchId,
      segmentOf,
    };
  });
}

/** Per-flush cache of a user's segment. */
function memoize(segmentOf: (userId: string) => string): (userId: string) => string {
  const seen = new Map<string, string>();
  return (userId) => {
    let s = seen.get(userId);
    if (s === undefined) seen.set(userId, s = segmentOf(userId));
    return s;
  };
}

/** First occurrence of each event id, sorted by id so concurrent flushes claim ids in one order. */
function uniqueById(events: readonly AcceptedEvent[]): AcceptedEvent[] {
  const seen = new Set<string>();
  const out: AcceptedEvent[] = [];
  for (const e of events) {
    if (seen.has(e.event.eventId)) continue;
    seen.add(e.event.eventId);
    out.push(e);
  }
  return out.sort((a, b) => cmp(a.event.eventId, b.event.eventId));
}

/** First occurrence of each reject key, sorted by key. */
function uniqueByKey(rejects: readonly RejectRow[]): RejectRow[] {
  const seen = new Set<string>();
  const out: RejectRow[] = [];
  for (const r of rejects) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    out.push(r);
  }
  return out.sort((a, b) => cmp(a.key, b.key));
}

/** Event fields without a column of their own, stored as one JSON object in `attrs`. */
const ATTR_FIELDS = [
  "pageUrl",
  "referrer",
  "userAgent",
  "searchQuery",
  "rating",
  "stock",
  "properties",
  "schemaVersion",
] as const;

function attrsOf(e: Event): string | null {
  let attrs: Record<string, unknown> | null = null;
  const fields = e as unknown as Record<string, unknown>;
  for (const f of ATTR_FIELDS) {
    if (fields[f] !== undefined) (attrs ??= {})[f] = fields[f];
  }
  return attrs === null ? null : JSON.stringify(attrs);
}

interface CoreStatementInput {
  input: FlushInput;
  unique: readonly AcceptedEvent[];
  rejects: readonly RejectRow[];
  counters: CoreCounters;
  segmentOf: (userId: string) => string;
  nowMs: number;
  dedupeAt: number | null;
}

interface CoreStatementResult {
  batchId: number;
  /** The counters were applied (every event and every reject was new). */
  applied: boolean;
  /** The ids claimed, when not every event was new. */
  freshIds: string[] | null;
  rejected: number;
  outOfRange: number;
}

/**
 * The one statement. Data-modifying CTEs all run; the counter CTEs are gated on `ok` (every event
 * and every reject new) so a redelivery adds nothing here and is counted by `counterStatement`.
 */
async function coreStatement(tx: Tx, s: CoreStatementInput): Promise<CoreStatementResult> {
  const { unique: ev, rejects: rj, counters: c, input } = s;
  const n = ev.length;
  const rows = ev.map((a) => a.event);
  const statsBucket = new Date(s.nowMs - (s.nowMs % MINUTE_MS)).toISOString();
  const shard = totalsShard(input.workerId);
  const [row] = await tx<
    {
      batch_id: string;
      fresh: number;
      ok: boolean;
      ids: string[] | null;
      rejected: number;
      out_of_range: number;
    }[]
  >`
    with g as (
      select gen, t - to_timestamp(gen::float8 * 604800) < interval '10 minutes' as overlap
      from (select dedupe_generation(t) as gen, t
            from (select coalesce(to_timestamp(${s.dedupeAt}::float8 / 1000), now()) as t) c) c),
    b as (select pg_current_xact_id()::text::bigint as batch_id),
    x as (
      select * from unnest(
        ${column(rows, (e) => e.eventId)}::uuid[],
        ${pgArray(ev.map((a) => a.timeMs))}::float8[],
        ${column(rows, (e) => e.eventType)}::text[], ${column(rows, (e) => e.userId)}::text[],
        ${column(rows, (e) => e.sessionId)}::text[], ${column(rows, (e) => e.productId)}::text[],
        ${column(rows, (e) => e.category)}::text[],
        ${column(rows, (e) => e.price === undefined ? null : Math.round(e.price * 100))}::bigint[],
        ${column(rows, (e) => e.quantity)}::int[], ${column(rows, (e) => e.deviceType)}::text[],
        ${column(rows, (e) => e.location.country)}::text[],
        ${column(rows, (e) => e.location.region)}::text[],
        ${column(rows, (e) => e.orderId)}::text[], ${column(rows, (e) => e.ipAddress)}::text[],
        ${pgArray(rows.map(attrsOf))}::text[],
        ${column(rows, (e) => s.segmentOf(e.userId))}::text[])
        as x(id, ms, ty, u, se, p, c, pr, q, d, co, r, o, ip, a, sg)),
    prev as (
      insert into event_ids (gen, event_id, event_time, batch_id)
      select g.gen - 1, x.id, to_timestamp(x.ms / 1000), b.batch_id from x, g, b where g.overlap
      on conflict do nothing
      returning event_id),
    cur as (
      insert into event_ids (gen, event_id, event_time, batch_id)
      select g.gen, x.id, to_timestamp(x.ms / 1000), b.batch_id from x, g, b
      where not exists (select 1 from event_ids p where p.gen = g.gen - 1 and p.event_id = x.id)
      on conflict do nothing
      returning event_id),
    fresh as (
      select event_id from cur
      where not (select overlap from g) or event_id in (select event_id from prev)),
    raw as (
      insert into events (event_id, event_time, event_type, user_id, session_id, product_id,
                          category, price_cents, quantity, device_type, country, region, order_id,
                          ip_address, attrs, segment)
      select id, to_timestamp(ms / 1000), ty, u, se, p, c, pr, q, d, co, r, o, ip, a::jsonb, sg
      from x where id in (select event_id from fresh)),
    rej as (
      insert into rejects (reject_key, message_id, event_index, kind, reason, event_id, event_type,
                           payload)
      select * from unnest(
        ${column(rj, (r) => r.key)}::uuid[], ${column(rj, (r) => r.messageId)}::text[],
        ${column(rj, (r) => r.index)}::int[], ${column(rj, (r) => r.kind)}::text[],
        ${column(rj, (r) => r.reason)}::text[], ${column(rj, (r) => r.eventId)}::text[],
        ${column(rj, (r) => r.eventType)}::text[], ${column(rj, (r) => r.payload)}::text[])
      on conflict do nothing
      returning kind),
    k as (
      select (select count(*) from fresh)::int as fresh,
             (select count(*) from rej where kind = 'invalid')::int as rejected,
             (select count(*) from rej where kind <> 'invalid')::int as out_of_range,
             (select count(*) from rej)::int as rejects),
    ok as (select k.fresh = ${n} and k.rejects = ${rj.length} as ok from k),
    ${counterCtes(tx, c, shard, tx`(select ok from ok)`)},
    rt as (
      insert into pipeline_totals (shard, kind, n)
      select ${shard}, kind, count(*) from (
        select case kind when 'invalid' then 'rejected' else kind end as kind from rej) r
      group by kind order by kind
      on conflict (shard, kind) do update set n = pipeline_totals.n + excluded.n),
    dup as (
      insert into pipeline_totals (shard, kind, n)
      select ${shard}, 'duplicates', ${input.events.length} - k.fresh from k
      where k.fresh < ${input.events.length}
      on conflict (shard, kind) do update set n = pipeline_totals.n + excluded.n),
    marks as (
      insert into rollup_dirty (hour, batch_id)
      select to_timestamp(h / 1000), b.batch_id
      from unnest(${pgArray(c.hours)}::float8[]) as h, b
      where exists (select 1 from fresh)),
    outbox as (
      insert into core_batches (batch_id, events)
      select b.batch_id, k.fresh from b, k where k.fresh > 0),
    stats as (
      insert into ingest_stats (bucket, worker_id, flushes, messages, received, stored,
                                duplicates, rejected, out_of_range)
      select ${statsBucket}, ${input.workerId}, 1, ${input.messages},
             ${input.events.length + input.rejects.length}, k.fresh,
             ${input.events.length} - k.fresh, k.rejected, k.out_of_range
      from k
      on conflict (bucket, worker_id) do update set
        flushes = ingest_stats.flushes + 1,
        messages = ingest_stats.messages + excluded.messages,
        received = ingest_stats.received + excluded.received,
        stored = ingest_stats.stored + excluded.stored,
        duplicates = ingest_stats.duplicates + excluded.duplicates,
        rejected = ingest_stats.rejected + excluded.rejected,
        out_of_range = ingest_stats.out_of_range + excluded.out_of_range)
    select b.batch_id::text, k.fresh, ok.ok, k.rejected, k.out_of_range,
           case when not ok.ok then array(select event_id::text from fresh) end as ids
    from b, k, ok`;
  return {
    batchId: Number(row!.batch_id),
    applied: row!.ok,
    freshIds: row!.ids,
    rejected: row!.rejected,
    outOfRange: row!.out_of_range,
  };
}

/** The counters alone, for the events a redelivered batch did claim. */
async function counterStatement(tx: Tx, c: CoreCounters, workerId: string): Promise<void> {
  await tx`
    with ${counterCtes(tx, c, totalsShard(workerId), tx`true`)}
    select 1`;
}

/**
 * The counter upserts as CTEs (`gate` a boolean SQL expression): minute tables, active users, and
 * the running totals per event type. Each writes its rows in key order.
 */
function counterCtes(tx: Tx, c: CoreCounters, shard: number, gate: ReturnType<Tx>) {
  const ts = (ms: number) => ms;
  const { minute: m, dims: d, geo: g, products: p, users: u, totals: t } = c;
  return tx`
    am as (
      insert into agg_minute (bucket, event_type, category, device_type, segment, events, units,
                              revenue_cents)
      select to_timestamp(b / 1000), ty, ca, de, sg, ev, un, rv from unnest(
        ${column(m, (r) => ts(r.bucket))}::float8[], ${column(m, (r) => r.eventType)}::text[],
        ${column(m, (r) => r.category)}::text[], ${column(m, (r) => r.device)}::text[],
        ${column(m, (r) => r.segment)}::text[], ${column(m, (r) => r.events)}::bigint[],
        ${column(m, (r) => r.units)}::bigint[], ${column(m, (r) => r.revenueCents)}::bigint[])
        as x(b, ty, ca, de, sg, ev, un, rv)
      where ${gate}
      on conflict (bucket, event_type, category, device_type, segment) do update set
        events = agg_minute.events + excluded.events,
        units = agg_minute.units + excluded.units,
        revenue_cents = agg_minute.revenue_cents + excluded.revenue_cents),
    ad as (
      insert into agg_minute_dims (bucket, event_type, category, device_type, country, segment,
                                   events, units, revenue_cents)
      select to_timestamp(b / 1000), ty, ca, de, co, sg, ev, un, rv from unnest(
        ${column(d, (r) => ts(r.bucket))}::float8[], ${column(d, (r) => r.eventType)}::text[],
        ${column(d, (r) => r.category)}::text[], ${column(d, (r) => r.device)}::text[],
        ${column(d, (r) => r.country)}::text[], ${column(d, (r) => r.segment)}::text[],
        ${column(d, (r) => r.events)}::bigint[], ${column(d, (r) => r.units)}::bigint[],
        ${column(d, (r) => r.revenueCents)}::bigint[])
        as x(b, ty, ca, de, co, sg, ev, un, rv)
      where ${gate}
      on conflict (bucket, event_type, category, device_type, country, segment) do update set
        events = agg_minute_dims.events + excluded.events,
        units = agg_minute_dims.units + excluded.units,
        revenue_cents = agg_minute_dims.revenue_cents + excluded.revenue_cents),
    ag as (
      insert into agg_geo_minute (bucket, country, region, events, purchases, revenue_cents)
      select to_timestamp(b / 1000), co, re, ev, pu, rv from unnest(
        ${column(g, (r) => ts(r.bucket))}::float8[], ${column(g, (r) => r.country)}::text[],
        ${column(g, (r) => r.region)}::text[], ${column(g, (r) => r.events)}::bigint[],
        ${column(g, (r) => r.purchases)}::bigint[], ${column(g, (r) => r.revenueCents)}::bigint[])
        as x(b, co, re, ev, pu, rv)
      where ${gate}
      on conflict (bucket, country, region) do update set
        events = agg_geo_minute.events + excluded.events,
        purchases = agg_geo_minute.purchases + excluded.purchases,
        revenue_cents = agg_geo_minute.revenue_cents + excluded.revenue_cents),
    ap as (
      insert into agg_product_minute (bucket, product_id, category, views, carts, purchases, units,
                                      revenue_cents)
      select to_timestamp(b / 1000), pi, ca, vi, cr, pu, un, rv from unnest(
        ${column(p, (r) => ts(r.bucket))}::float8[], ${column(p, (r) => r.productId)}::text[],
        ${column(p, (r) => r.category)}::text[], ${column(p, (r) => r.views)}::bigint[],
        ${column(p, (r) => r.carts)}::bigint[], ${column(p, (r) => r.purchases)}::bigint[],
        ${column(p, (r) => r.units)}::bigint[], ${column(p, (r) => r.revenueCents)}::bigint[])
        as x(b, pi, ca, vi, cr, pu, un, rv)
      where ${gate}
      on conflict (bucket, product_id) do update set
        views = agg_product_minute.views + excluded.views,
        carts = agg_product_minute.carts + excluded.carts,
        purchases = agg_product_minute.purchases + excluded.purchases,
        units = agg_product_minute.units + excluded.units,
        revenue_cents = agg_product_minute.revenue_cents + excluded.revenue_cents),
    au as (
      insert into active_user_minute (bucket, user_id, country, region, device_type, segment,
                                      events)
      select to_timestamp(b / 1000), ui, co, re, de, sg, ev from unnest(
        ${column(u, (r) => ts(r.bucket))}::float8[], ${column(u, (r) => r.userId)}::text[],
        ${column(u, (r) => r.country)}::text[], ${column(u, (r) => r.region)}::text[],
        ${column(u, (r) => r.device)}::text[], ${column(u, (r) => r.segment)}::text[],
        ${column(u, (r) => r.events)}::int[])
        as x(b, ui, co, re, de, sg, ev)
      where ${gate}
      on conflict (bucket, user_id, country, region) do update set
        events = active_user_minute.events + excluded.events),
    at as (
      insert into pipeline_totals (shard, kind, n, units, revenue_cents)
      select ${shard}, ki, n, un, rv from unnest(
        ${column(t, (r) => r.kind)}::text[], ${column(t, (r) => r.n)}::bigint[],
        ${column(t, (r) => r.units)}::bigint[], ${column(t, (r) => r.revenueCents)}::bigint[])
        as x(ki, n, un, rv)
      where ${gate}
      on conflict (shard, kind) do update set
        n = pipeline_totals.n + excluded.n,
        units = pipeline_totals.units + excluded.units,
        revenue_cents = pipeline_totals.revenue_cents + excluded.revenue_cents)`;
}

/** The shard of a worker's running totals: FNV-1a of its id, mod 64. */
export function totalsShard(workerId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < workerId.length; i++) {
    h = Math.imul(h ^ workerId.charCodeAt(i), 0x01000193);
  }
  return (h >>> 0) % 64;
}
