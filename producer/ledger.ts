/**
 * What SQS acknowledged, by kind of event sent. Compared with `GET /v1/pipeline/totals`, it proves
 * nothing was lost or counted twice.
 */
import { type EventType, revenueCents } from "../shared/mod.ts";

/** Why an event was sent: a new valid event, a deliberate re-send, or deliberately invalid. */
export type SentKind = "unique" | "duplicate" | "invalid";

/** Per-event metadata the sender hands back on acknowledgement. */
export interface SentMeta {
  kind: SentKind;
  eventType: EventType | null;
  revenueCents: number;
}

/** The ledger file's shape. */
export interface LedgerTotals {
  accepted: number;
  unique: number;
  invalid: number;
  duplicates: number;
  failed: number;
  byType: Partial<Record<EventType, number>>;
  revenue: number;
}

export interface Ledger {
  /** Records events SQS acknowledged. */
  acked(metas: readonly SentMeta[]): void;
  /** Records events that could not be sent after all retries. */
  failed(metas: readonly SentMeta[]): void;
  totals(): LedgerTotals;
}

/** Metadata for an event about to be sent. */
export function metaOf(
  kind: SentKind,
  e: { eventType: EventType; price?: number; quantity?: number } | null,
): SentMeta {
  return {
    kind,
    eventType: e?.eventType ?? null,
    revenueCents: e && kind === "unique" ? revenueCents(e) : 0,
  };
}

export function createLedger(): Ledger {
  const t = { accepted: 0, unique: 0, invalid: 0, duplicates: 0, failed: 0 };
  const byType: Partial<Record<EventType, number>> = {};
  let cents = 0;
  return {
    acked(metas) {
      for (const m of metas) {
        t.accepted++;
        if (m.kind === "invalid") t.invalid++;
        else if (m.kind === "duplicate") t.duplicates++;
        else {
          t.unique++;
          if (m.eventType) byType[m.eventType] = (byType[m.eventType] ?? 0) + 1;
          cents += m.revenueCents;
        }
      }
    },
    failed(metas) {
      t.failed += metas.length;
    },
    totals: () => ({ ...t, byType: { ...byType }, revenue: cents / 100 }),
  };
}
