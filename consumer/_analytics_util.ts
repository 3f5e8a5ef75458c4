/** Small helpers shared by the analytics flush stages (internal). */
import type { Tx } from "../shared/mod.ts";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export const minuteOf = (ms: number) => ms - (ms % MINUTE_MS);
export const hourOf = (ms: number) => ms - (ms % HOUR_MS);
export const iso = (ms: number) => new Date(ms).toISOString();

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Gets or creates the row for `key` in a per-flush pre-aggregation map. */
export function upsertRow<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let row = map.get(key);
  if (row === undefined) {
    row = create();
    map.set(key, row);
  }
  return row;
}

/** What a stage records as an alert; `dedupeKey` makes repeats of one condition a single alert. */
export interface AlertInput {
  kind: "fraud" | "inventory" | "anomaly";
  dedupeKey: string;
  severity: "info" | "warning" | "critical";
  title: string;
  details: Record<string, unknown>;
}

/**
 * Writes alerts and their outbox rows in the caller's transaction (so an alert exists exactly when
 * its cause committed). A repeat of an existing dedupe key only bumps `repeats`.
 */
export async function insertAlerts(tx: Tx, alerts: readonly AlertInput[]): Promise<number> {
  if (alerts.length === 0) return 0;
  const byKey = new Map<string, AlertInput>();
  for (const a of alerts) byKey.set(a.dedupeKey, a);
  const sorted = [...byKey.values()].sort((a, b) => cmp(a.dedupeKey, b.dedupeKey));
  const rows = await tx<{ alert_id: number; kind: string; created: boolean }[]>`
    insert into alerts (kind, dedupe_key, severity, title, details)
    select k, d, s, t, j::jsonb from unnest(${sorted.map((a) => a.kind)}::text[], ${
    sorted.map((a) => a.dedupeKey)
  }::text[],
      ${sorted.map((a) => a.severity)}::text[], ${sorted.map((a) => a.title)}::text[],
      ${sorted.map((a) => JSON.stringify(a.details))}::text[]) as x(k, d, s, t, j)
    on conflict (dedupe_key) do update set repeats = alerts.repeats + 1
    returning alert_id, kind, (xmax = 0) as created`;
  const created = rows.filter((r) => r.created);
  if (created.length > 0) {
    await tx`
      insert into alert_outbox (alert_id, kind)
      select * from unnest(${created.map((r) => r.alert_id)}::bigint[], ${
      created.map((r) => r.kind)
    }::text[])`;
  }
  return created.length;
}

/** `iso` with a cache, for the few distinct minutes or hours of one flush (make one per flush). */
export function isoCache(): (ms: number) => string {
  const cache = new Map<number, string>();
  return (ms) => {
    let s = cache.get(ms);
    if (s === undefined) cache.set(ms, s = iso(ms));
    return s;
  };
}
