/**
 * Saturation: a step is sustained when the producer reached its target and the backlog did not
 * grow over the step's measurement window. The knee is the highest sustained step below the first
 * one that was not.
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

export type StepVerdict = "sustained" | "backlog-growing" | "producer-limited";

export interface StepEvidence {
  /** Target events/s. */
  offered: number;
  /** Events/s the producer actually sent. */
  achieved: number;
  /** Backlog growth over the window, events/s (queue messages × events per message). */
  backlogSlope: number;
  /** Backlog at the end of the window, events. */
  backlogEnd: number;
}

/** Thresholds of the verdict; defaults documented in docs/performance.md. */
export const SATURATION_RULE = {
  /** The producer must send at least this share of the target. */
  minAccuracy: 0.95,
  /** Backlog growth above this share of the achieved rate counts as unbounded growth … */
  maxSlopeShare: 0.05,
  /** … when the backlog at the end also exceeds this many seconds of traffic. */
  minBacklogS: 1,
} as const;

export function judgeStep(e: StepEvidence, rule = SATURATION_RULE): StepVerdict {
  const growing = e.backlogSlope > rule.maxSlopeShare * Math.max(e.achieved, 1) &&
    e.backlogEnd > rule.minBacklogS * Math.max(e.achieved, 1);
  if (growing) return "backlog-growing";
  if (e.achieved < rule.minAccuracy * e.offered) return "producer-limited";
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
