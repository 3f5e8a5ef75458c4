/**
 * Retention and partitions (`deno task maintain`): creates the daily raw-event partitions for the
 * coming days, drops those older than the retention (default 7 days, seed 002), and prunes the
 * short-lived analytics state (fraud counters, user-hour product sets) on the same horizon.
 */
import type { Sql } from "../shared/mod.ts";

export interface MaintainOptions {
  retentionDays: number;
  /** Days of future partitions to keep ready. */
  futureDays?: number;
  nowMs?: number;
}

export interface MaintainResult {
  created: number;
  dropped: string[];
  pruned: Record<string, number>;
}

const DAY_MS = 86_400_000;
const PARTITION = /^events_p(\d{4})(\d{2})(\d{2})$/;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Creates future partitions and drops expired ones; safe to run from several processes. */
export async function maintainPartitions(
  deps: { sql: Sql },
  options: MaintainOptions,
): Promise<MaintainResult> {
  const { sql } = deps;
  const nowMs = options.nowMs ?? Date.now();
  const today = nowMs - (nowMs % DAY_MS);
  const oldestKept = today - options.retentionDays * DAY_MS;
  const [c] = await sql<{ created: number }[]>`
    select ensure_event_partitions(${day(oldestKept)}::date, ${
    day(today + (options.futureDays ?? 3) * DAY_MS)
  }::date) as created`;
  const parts = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    where p.relname = 'events' and p.relnamespace = current_schema()::regnamespace`;
  const dropped: string[] = [];
  for (const { name } of parts) {
    const m = PARTITION.exec(name);
    if (!m) continue;
    const partDay = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    if (partDay >= oldestKept) continue;
    // The name matched a strict pattern, so it is safe as an identifier.
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('scalestream.ensure_event_partitions'))`;
      await tx.unsafe(`drop table if exists "${name}"`);
    });
    dropped.push(name);
  }
  const cutoff = new Date(oldestKept).toISOString();
  const pruned: Record<string, number> = {
    fraud_counters: (await sql`delete from fraud_counters where bucket < ${cutoff}`).count,
    user_hour_products: (await sql`delete from user_hour_products where hour < ${cutoff}`).count,
    events_default: (await sql`delete from events_default where event_time < ${cutoff}`).count,
  };
  return { created: c?.created ?? 0, dropped: dropped.sort(), pruned };
}
