/**
 * Saturation. Over a step's measurement window, events can pile up in two places: in the queue
 * (the consumers are behind) or in the producer's sender, waiting for SQS to acknowledge them (the
 * send path — SQS, here fauxqs on the same cores — is behind). A step is sustained when neither
 * grows, the producer generated its target, and what was stored kept up with what was offered.
 * The knee is the highest sustained step before the first one that was not.
 */

/** Least-squares slope of y over x (units of y per unit of x); 0 with fewer than two points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

export type StepVerdict =
  | "sustained"
  | "consumers-behind"
  | "send-path-behind"
  | "producer-limited";

export interface StepEvidence {
  /** Target events/s. */
  offered: number;
  /** Events/s the producer generated and handed to its sender. */
  achieved: number;
  /** Events/s SQS acknowledged. */
  acked: number;
  /** Events/s stored. */
  stored: number;
  /** Queue backlog growth (events/s) and size at the window's end (events). */
  queueSlope: number;
  queueEnd: number;
  /** Events handed to the sender and not yet acknowledged: growth (events/s) and size at the end. */
  sendSlope: number;
  sendEnd: number;
}

/** Thresholds of the verdict; documented in docs/performance.md. */
export const SATURATION_RULE = {
  /** The producer must generate at least this share of the target. */
  minAccuracy: 0.95,
  /** Growth above this share of the offered rate counts as unbounded … */
  maxSlopeShare: 0.05,
  /** … when, at the end, more than this many seconds of traffic wait. */
  minBacklogS: 1,
  /** Stored below this share of the offered rate is falling behind, wherever the backlog is. */
  minStoredShare: 0.9,
} as const;

export function judgeStep(e: StepEvidence, rule = SATURATION_RULE): StepVerdict {
  const rate = Math.max(e.offered, 1);
  const grows = (slopePerS: number, end: number) =>
    slopePerS > rule.maxSlopeShare * rate && end > rule.minBacklogS * rate;
  if (grows(e.queueSlope, e.queueEnd)) return "consumers-behind";
  if (grows(e.sendSlope, e.sendEnd)) return "send-path-behind";
  if (e.achieved < rule.minAccuracy * e.offered) return "producer-limited";
  if (e.stored < rule.minStoredShare * e.offered) {
    return e.acked < rule.minStoredShare * e.offered ? "send-path-behind" : "consumers-behind";
  }
  return "sustained";
}

/** Highest offered rate of the sustained steps that precede the first unsustained one. */
export function knee(
  steps: readonly { offered: number; verdict: StepVerdict }[],
): { knee: number | null; saturatedAt: number | null } {
  let best: number | null = null;
  for (const s of steps) {
    if (s.verdict !== "sustained") return { knee: best, saturatedAt: s.offered };
    best = s.offered;
  }
  return { knee: best, saturatedAt: null };
}
