/**
 * What the queue (or the API) acknowledged, by kind of event sent. Compared with
 * `GET /v1/pipeline/totals`, it proves nothing was lost or counted twice:
 *
 *   totals.stored == unique − tooOld − tooNew,  byType and revenue equal,
 *   totals.rejected == invalid,  totals.tooNew == tooNew,  totals.tooOld == tooOld,
 *   totals.duplicates >= duplicates (SQS may deliver a message more than once).
 */
import { type EventType, revenueCents } from "../shared/mod.ts";

/**
 * Why an event was sent: a new valid event, a deliberate re-send of one, a deliberately invalid
 * event, or a valid event deliberately stamped outside the consumer's event-time window.
 */
export type SentKind = "unique" | "duplicate" | "invalid" | "too_new" | "too_old";

/** Per-event metadata the sender hands back on acknowledgement. */
export interface SentMeta {
  kind: SentKind;
  eventType: EventType | null;
  revenueCents: number;
}

/** The ledger file's shape. */
export interface LedgerTotals {
  /** Every event acknowledged, including duplicates, invalid and out-of-window ones. */
  accepted: number;
  /** Distinct valid event ids acknowledged, out-of-window ones included. */
  unique: number;
  invalid: number;
  duplicates: number;
  /** Valid events stamped beyond `FUTURE_SKEW_S`; the consumer keeps them as `too_new` rejects. */
  tooNew: number;
  /** Valid events stamped before `LATE_HORIZON_S`; the consumer keeps them as `too_old` rejects. */
  tooOld: number;
  /** Events that could not be sent after all retries. Reconciliation holds only when this is 0. */
  failed: number;
  /** Events the HTTP ingestion API answered as rejected (`--target http` only). */
  rejectedByApi: number;
  /** Unique, in-window events by type. */
  byType: Partial<Record<EventType, number>>;
  /** Sum of price × quantity over unique, in-window purchases, 2 decimals. */
  revenue: number;
}

export interface Ledger {
  /** Records events the queue acknowledged. */
  acked(metas: readonly SentMeta[]): void;
  /** Records events that could not be sent after all retries. */
  failed(metas: readonly SentMeta[]): void;
  /** Records events the HTTP API refused one by one (answered in `errors`). */
  rejectedByApi(metas: readonly SentMeta[]): void;
  totals(): LedgerTotals;
}

/** Metadata for an event about to be sent. */
export function metaOf(
  kind: SentKind,
  e: { eventType: EventType; price?: number | undefined; quantity?: number | undefined } | null,
): SentMeta {
  return {
    kind,
    eventType: e?.eventType ?? null,
    revenueCents: e && kind === "unique" ? revenueCents(e) : 0,
  };
}

/** Totals of a ledger that recorded nothing: the one place the shape's zeros are written. */
export function emptyLedgerTotals(): LedgerTotals {
  return {
    accepted: 0,
    unique: 0,
    invalid: 0,
    duplicates: 0,
    tooNew: 0,
    tooOld: 0,
    failed: 0,
    rejectedByApi: 0,
    byType: {},
    revenue: 0,
  };
}

/** The counters of {@linkcode LedgerTotals} that ledgers add up. */
const COUNTS = [
  "accepted",
  "unique",
  "invalid",
  "duplicates",
  "tooNew",
  "tooOld",
  "failed",
  "rejectedByApi",
] as const satisfies readonly (keyof LedgerTotals)[];

/** Sums ledgers (several producers' totals files), revenue to the cent. */
export function sumLedgers(ledgers: readonly LedgerTotals[]): LedgerTotals {
  const sum = emptyLedgerTotals();
  let cents = 0;
  for (const l of ledgers) {
    for (const k of COUNTS) sum[k] += l[k] ?? 0;
    for (const [t, n] of Object.entries(l.byType) as [EventType, number | undefined][]) {
      sum.byType[t] = (sum.byType[t] ?? 0) + (n ?? 0);
    }
    cents += Math.round(l.revenue * 100);
  }
  sum.revenue = cents / 100;
  return sum;
}

export function createLedger(): Ledger {
  const { byType, revenue: _, ...t } = emptyLedgerTotals();
  let cents = 0;
  return {
    acked(metas) {
      for (const m of metas) {
        t.accepted++;
        switch (m.kind) {
          case "invalid":
            t.invalid++;
            break;
          case "duplicate":
            t.duplicates++;
            break;
          case "too_new":
            t.unique++;
            t.tooNew++;
            break;
          case "too_old":
            t.unique++;
            t.tooOld++;
            break;
          default:
            t.unique++;
            if (m.eventType) byType[m.eventType] = (byType[m.eventType] ?? 0) + 1;
            cents += m.revenueCents;
        }
      }
    },
    failed(metas) {
      t.failed += metas.length;
    },
    rejectedByApi(metas) {
      t.rejectedByApi += metas.length;
    },
    totals: () => ({ ...t, byType: { ...byType }, revenue: cents / 100 }),
  };
}
