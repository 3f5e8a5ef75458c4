/**
 * A producer run's identity: every event it sends carries `properties.runId`, and the ledger
 * records the id with the event-time range of what it sent, so `deno task reconcile` compares the
 * ledger with that run's events only, however many runs share the database.
 */
import type { SentMeta } from "./ledger.ts";

/** What the ledger records about its run, for `reconcile` to find the run's rows. */
export interface RunScope {
  /** The value of `properties.runId` on every event of the run. */
  id: string;
  /** When the run started (ISO 8601); its rejects were received after this. */
  startedAt: string;
  /** The earliest and latest event time sent (ISO 8601), null before the first event. */
  eventTimeFrom: string | null;
  eventTimeTo: string | null;
}

type Next<T extends { event: unknown; meta: SentMeta }> = (timeMs: number) => T;

/**
 * Wraps an event source so every event it yields carries `properties.runId` (a copy: the source's
 * own objects, which it may send again as duplicates, stay untouched) and records the event-time
 * range. Values that are not objects, or whose `properties` is malformed, pass unchanged (so they
 * count for the run only where the database still shows the id).
 */
export function scopeRun<T extends { event: unknown; meta: SentMeta }>(
  next: Next<T>,
  id: string = crypto.randomUUID(),
): { next: Next<T>; scope(): RunScope } {
  const startedAt = new Date().toISOString();
  let from = Infinity;
  let to = -Infinity;
  return {
    next(timeMs) {
      const item = next(timeMs);
      const e = item.event;
      if (typeof e !== "object" || e === null || Array.isArray(e)) return item;
      const record = e as { properties?: unknown; timestamp?: unknown };
      const { properties = {} } = record;
      // A malformed `properties` is left as it is: tagging must not repair an invalid event.
      if (typeof properties !== "object" || properties === null || Array.isArray(properties)) {
        return item;
      }
      const t = typeof record.timestamp === "string" ? Date.parse(record.timestamp) : NaN;
      if (!Number.isNaN(t)) {
        from = Math.min(from, t);
        to = Math.max(to, t);
      }
      return { ...item, event: { ...record, properties: { ...properties, runId: id } } };
    },
    scope: () => ({
      id,
      startedAt,
      eventTimeFrom: Number.isFinite(from) ? new Date(from).toISOString() : null,
      eventTimeTo: Number.isFinite(to) ? new Date(to).toISOString() : null,
    }),
  };
}
