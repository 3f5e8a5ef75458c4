/**
 * Server-side sessions. Per user, a session is a maximal run of events in event-time order whose
 * gaps are at most the inactivity timeout; the client's sessionId is kept for reference only.
 * Out-of-order arrival: a flush's events are cut into runs, then merged with every stored session
 * of the user within the timeout of a run; an event that bridges two stored sessions merges them
 * into the earlier one (the later one is deleted). Concurrent flushes must serialise per user:
 * with the features stage on (the default), it runs first and its sorted `user_features` upsert
 * holds a row lock on each of the flush's users until commit; only flushes sharing a user wait.
 * Without it (`lockUsers`), a transaction-scoped advisory lock per bucket of users (64 buckets,
 * sorted) is taken here, which serialises most concurrent flushes.
 */
import type { SessionRow, Sql, Tx } from "../shared/mod.ts";
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { cmp, iso } from "./_analytics_util.ts";

/**
 * Users map onto this many advisory locks (a power of two): few enough that a flush never strains
 * the shared lock table (max_locks_per_transaction), enough that unrelated users rarely wait.
 */
export const USER_LOCK_BUCKETS = 64;
const LOCK_SPACE = 0x5e55; // first key of the two-key advisory lock, reserved for user locks

/** Takes the per-user locks (bucketed, sorted) until the transaction ends. */
export async function lockUsers(tx: Tx, users: readonly string[]): Promise<void> {
  const buckets = USER_LOCK_BUCKETS - 1;
  await tx`
    select count(pg_advisory_xact_lock(${LOCK_SPACE}, k)) from (
      select distinct (hashtext(u) & ${buckets}) as k from unnest(${users}::text[]) u
      order by 1) t`;
}

export interface SessionsOptions {
  /** Inactivity that ends a session, in milliseconds (30 minutes by default). */
  timeoutMs: number;
  /**
   * Take the per-user (bucket) advisory locks here. Default true; `analyticsStages` turns it off
   * when the features stage runs before this one and already holds the users' row locks.
   */
  lockUsers?: boolean;
}

interface Piece {
  sessionId: string | null;
  userId: string;
  start: number;
  last: number;
  events: number;
  pageViews: number;
  purchases: number;
  entryPage: string | null;
  entryPageAt: number;
  exitPage: string | null;
  exitPageAt: number;
  device: string;
  country: string;
  clientSessionId: string;
}

/** The columns read back to merge with; `converted` and `closed` are derived again on write. */
type StoredSession = Omit<SessionRow, "converted" | "closed" | "closed_at">;

/** The stage maintaining `sessions`. */
export function sessionsStage(options: SessionsOptions): FlushStage {
  const timeout = options.timeoutMs;
  return async (ctx: FlushContext) => {
    const { tx, inserted, nowMs } = ctx;
    if (inserted.length === 0) return;
    const byUser = new Map<string, Piece[]>();
    const sorted = [...inserted].sort((a, b) => a.timeMs - b.timeMs);
    for (const { event: e, timeMs } of sorted) {
      let runs = byUser.get(e.userId);
      if (runs === undefined) byUser.set(e.userId, runs = []);
      let run = runs[runs.length - 1];
      if (run === undefined || timeMs - run.last > timeout) {
        run = {
          sessionId: null,
          userId: e.userId,
          start: timeMs,
          last: timeMs,
          events: 0,
          pageViews: 0,
          purchases: 0,
          entryPage: null,
          entryPageAt: Infinity,
          exitPage: null,
          exitPageAt: -Infinity,
          device: e.deviceType,
          country: e.location.country,
          clientSessionId: e.sessionId,
        };
        runs.push(run);
      }
      run.last = timeMs;
      run.events++;
      if (e.eventType === "purchase") run.purchases++;
      if (e.eventType === "page_view") {
        run.pageViews++;
        if (run.entryPage === null) {
          run.entryPage = e.pageUrl ?? null;
          run.entryPageAt = timeMs;
        }
        run.exitPage = e.pageUrl ?? null;
        run.exitPageAt = timeMs;
      }
    }
    const users = [...byUser.keys()].sort(cmp);
    const lo = users.map((u) => iso(byUser.get(u)![0]!.start - timeout));
    const hi = users.map((u) => iso(byUser.get(u)!.at(-1)!.last + timeout));
    if (options.lockUsers ?? true) await lockUsers(tx, users);
    const stored = await tx<StoredSession[]>`
      select s.session_id, s.user_id, s.started_at, s.last_at, s.events, s.page_views, s.purchases,
             s.entry_page, s.entry_page_at, s.exit_page, s.exit_page_at, s.device_type, s.country,
             s.client_session_id
      from unnest(${users}::text[], ${lo}::timestamptz[], ${hi}::timestamptz[]) as r(u, lo, hi)
      join sessions s on s.user_id = r.u and s.last_at >= r.lo and s.started_at <= r.hi`;
    for (const s of stored) byUser.get(s.user_id)!.push(fromRow(s));

    const upserts: Piece[] = [];
    const deletes: string[] = [];
    for (const pieces of byUser.values()) {
      pieces.sort((a, b) => a.start - b.start);
      let group: Piece[] = [];
      let groupLast = -Infinity;
      const close = () => {
        if (group.length > 0 && group.some((p) => p.sessionId === null)) {
          const merged = mergePieces(group);
          upserts.push(merged);
          for (const p of group) {
            if (p.sessionId !== null && p.sessionId !== merged.sessionId) deletes.push(p.sessionId);
          }
        }
        group = [];
      };
      for (const p of pieces) {
        if (group.length > 0 && p.start - groupLast > timeout) close();
        group.push(p);
        groupLast = Math.max(groupLast, p.last);
      }
      close();
    }
    if (deletes.length > 0) {
      await tx`delete from sessions where session_id = any(${deletes.sort(cmp)}::uuid[])`;
    }
    if (upserts.length === 0) return;
    const u = upserts.sort((a, b) => cmp(a.sessionId!, b.sessionId!));
    const closed = u.map((p) => String(nowMs - p.last > timeout));
    await tx`
      insert into sessions as s (session_id, user_id, started_at, last_at, events, page_views,
        purchases, converted, entry_page, entry_page_at, exit_page, exit_page_at, device_type,
        country, client_session_id, closed, closed_at)
      select id, usr, st, la, ev, pv, pu, pu > 0, ep, epa, xp, xpa, dv, co, cs, cl::bool,
             case when cl::bool then ${iso(nowMs)}::timestamptz end
      from unnest(${u.map((p) => p.sessionId!)}::uuid[], ${u.map((p) => p.userId)}::text[],
        ${u.map((p) => iso(p.start))}::timestamptz[], ${u.map((p) => iso(p.last))}::timestamptz[],
        ${u.map((p) => p.events)}::int[], ${u.map((p) => p.pageViews)}::int[],
        ${u.map((p) => p.purchases)}::int[], ${u.map((p) => p.entryPage)}::text[],
        ${u.map((p) => finite(p.entryPageAt))}::timestamptz[], ${u.map((p) => p.exitPage)}::text[],
        ${u.map((p) => finite(p.exitPageAt))}::timestamptz[], ${u.map((p) => p.device)}::text[],
        ${u.map((p) => p.country)}::text[], ${u.map((p) => p.clientSessionId)}::text[],
        ${closed}::text[]) as x(id, usr, st, la, ev, pv, pu, ep, epa, xp, xpa, dv, co, cs, cl)
      on conflict (session_id) do update set
        started_at = excluded.started_at, last_at = excluded.last_at, events = excluded.events,
        page_views = excluded.page_views, purchases = excluded.purchases,
        converted = excluded.converted, entry_page = excluded.entry_page,
        entry_page_at = excluded.entry_page_at, exit_page = excluded.exit_page,
        exit_page_at = excluded.exit_page_at, device_type = excluded.device_type,
        country = excluded.country, client_session_id = excluded.client_session_id,
        closed = excluded.closed, closed_at = coalesce(s.closed_at, excluded.closed_at)`;
  };
}

const finite = (ms: number) => Number.isFinite(ms) ? iso(ms) : null;

function fromRow(s: StoredSession): Piece {
  return {
    sessionId: s.session_id,
    userId: s.user_id,
    start: s.started_at.getTime(),
    last: s.last_at.getTime(),
    events: s.events,
    pageViews: s.page_views,
    purchases: s.purchases,
    entryPage: s.entry_page,
    entryPageAt: s.entry_page_at?.getTime() ?? Infinity,
    exitPage: s.exit_page,
    exitPageAt: s.exit_page_at?.getTime() ?? -Infinity,
    device: s.device_type,
    country: s.country,
    clientSessionId: s.client_session_id,
  };
}

/** Merges pieces sorted by start; keeps the id of the earliest stored session, else a new one. */
function mergePieces(group: Piece[]): Piece {
  const first = group[0]!;
  const out: Piece = {
    ...first,
    sessionId: group.find((p) => p.sessionId !== null)?.sessionId ?? crypto.randomUUID(),
    last: -Infinity,
    events: 0,
    pageViews: 0,
    purchases: 0,
    entryPage: null,
    entryPageAt: Infinity,
    exitPage: null,
    exitPageAt: -Infinity,
  };
  for (const p of group) {
    out.last = Math.max(out.last, p.last);
    out.events += p.events;
    out.pageViews += p.pageViews;
    out.purchases += p.purchases;
    if (p.entryPageAt < out.entryPageAt) {
      out.entryPage = p.entryPage;
      out.entryPageAt = p.entryPageAt;
    }
    if (p.exitPageAt >= out.exitPageAt) {
      out.exitPage = p.exitPage;
      out.exitPageAt = p.exitPageAt;
    }
  }
  return out;
}

/** Closes sessions whose last event is older than the timeout (run periodically). */
export async function sweepSessions(
  deps: { sql: Sql },
  options: SessionsOptions & { nowMs?: number },
): Promise<number> {
  const nowMs = options.nowMs ?? Date.now();
  const cutoff = iso(nowMs - options.timeoutMs);
  const rows = await deps.sql`
    update sessions set closed = true, closed_at = ${iso(nowMs)}
    where not closed and started_at < ${cutoff} and last_at < ${cutoff}
    returning 1`;
  return rows.length;
}
