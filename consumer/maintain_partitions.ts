/**
 * Partitions of the raw-event tables: creates the daily partitions for the coming days through
 * every `ensure_*_partitions(from date, to date)` function of the schema (today
 * `ensure_event_partitions`; the dedupe table's comes with it), and drops the `events` partitions
 * older than the retention (default 7 days, seed 002). Rows of other tables age out by their
 * retention rules (retention_rules.ts, run_maintenance.ts).
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
}

const DAY_MS = 86_400_000;
const PARTITION = /^events_p(\d{4})(\d{2})(\d{2})$/;
const GENERATION = /^event_ids_g(\d+)$/;
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
  const ensure = await sql<{ name: string }[]>`
    select p.proname as name from pg_proc p
    where p.pronamespace = current_schema()::regnamespace
      and p.proname like 'ensure\\_%\\_partitions' and p.pronargs = 2
      and p.proargtypes[0] = 'date'::regtype and p.proargtypes[1] = 'date'::regtype
    order by p.proname`;
  let created = 0;
  for (const { name } of ensure) {
    const [c] = await sql<{ created: number | null }[]>`
      select ${sql(name)}(${day(oldestKept)}::date, ${
      day(today + (options.futureDays ?? 3) * DAY_MS)
    }::date) as created`;
    created += Number(c?.created ?? 0);
  }
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
  // The dedupe horizon (event_ids): generations of 7 days of the database clock, the current and
  // the previous one kept (7 to 14 days, at least the raw retention), the next one made ahead.
  const [g] = await sql<{ made: number; gen: number }[]>`
    select ensure_dedupe_generations() as made, dedupe_generation(now()) as gen`;
  created += Number(g?.made ?? 0);
  const gens = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    where p.relname = 'event_ids' and p.relnamespace = current_schema()::regnamespace`;
  for (const { name } of gens) {
    const m = GENERATION.exec(name);
    if (!m || Number(m[1]) >= g!.gen - 1) continue;
    await sql.unsafe(`drop table if exists "${name}"`);
    dropped.push(name);
  }
  return { created, dropped: dropped.sort() };
}
