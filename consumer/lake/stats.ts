/**
 * The statistics of an A/B test on conversion rates: Wilson score intervals per variant,
 * Newcombe's interval for the difference, a log-ratio interval for the relative lift, the pooled
 * two-proportion z-test, and a chi-square goodness-of-fit test for sample-ratio mismatch. The
 * distributions come from stdlib-js; the formulas are the textbook ones, cited per function.
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import normalQuantile from "@stdlib/stats-base-dists-normal-quantile";
import chisquareCdf from "@stdlib/stats-base-dists-chisquare-cdf";

/** A closed interval [low, high]. */
export type Interval = [number, number];

/** Successes out of trials (converted users out of exposed users). */
export interface Proportion {
  successes: number;
  trials: number;
}

/** The two-sided critical value of the standard normal for `confidence` (1.96 for 0.95). */
export function zCritical(confidence: number): number {
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`Confidence must be in (0, 1), got "${confidence}"`);
  }
  return normalQuantile(1 - (1 - confidence) / 2, 0, 1);
}

function check({ successes, trials }: Proportion): void {
  if (!(Number.isInteger(successes) && Number.isInteger(trials) && successes >= 0)) {
    throw new RangeError(`Counts must be non-negative integers, got "${successes}/${trials}"`);
  }
  if (successes > trials) {
    throw new RangeError(`Successes "${successes}" exceed trials "${trials}"`);
  }
}

/**
 * Wilson's score interval (Wilson 1927): good coverage even for small counts and rates near 0
 * or 1, where the Wald interval fails. [0, 1] when there are no trials.
 */
export function wilsonInterval(p: Proportion, confidence = 0.95): Interval {
  check(p);
  const n = p.trials;
  if (n === 0) return [0, 1];
  const z = zCritical(confidence);
  const phat = p.successes / n;
  const z2 = z * z;
  const center = (phat + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((phat * (1 - phat)) / n + z2 / (4 * n * n));
  // At 0 and n successes the bounds are exactly 0 and 1; rounding would leave 1e-17 instead.
  return [
    p.successes === 0 ? 0 : Math.max(0, center - half),
    p.successes === n ? 1 : Math.min(1, center + half),
  ];
}

export interface Comparison {
  /** Treatment rate minus control rate. */
  difference: number;
  /** Newcombe's hybrid score interval of the difference (Newcombe 1998, method 10). */
  differenceInterval: Interval;
  /** Treatment rate / control rate − 1; null when the control rate is 0. */
  relativeLift: number | null;
  /**
   * Interval of the relative lift from the log of the rate ratio (Katz et al. 1978); null when a
   * variant has no conversions.
   */
  relativeLiftInterval: Interval | null;
  /** Pooled two-proportion z statistic. */
  z: number;
  /** Two-sided p-value of the z-test; 1 when the pooled rate is 0 or 1. */
  pValue: number;
}

/** Compares `treatment` with `control`. */
export function compareProportions(
  control: Proportion,
  treatment: Proportion,
  confidence = 0.95,
): Comparison {
  check(control);
  check(treatment);
  if (control.trials === 0 || treatment.trials === 0) {
    throw new RangeError("Both variants need at least one trial");
  }
  const zc = zCritical(confidence);
  const p1 = control.successes / control.trials;
  const p2 = treatment.successes / treatment.trials;
  const [l1, u1] = wilsonInterval(control, confidence);
  const [l2, u2] = wilsonInterval(treatment, confidence);
  const difference = p2 - p1;
  const differenceInterval: Interval = [
    difference - Math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
    difference + Math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
  ];
  let relativeLiftInterval: Interval | null = null;
  if (control.successes > 0 && treatment.successes > 0) {
    const logRatio = Math.log(p2 / p1);
    const se = Math.sqrt(
      1 / treatment.successes - 1 / treatment.trials + 1 / control.successes - 1 / control.trials,
    );
    relativeLiftInterval = [Math.exp(logRatio - zc * se) - 1, Math.exp(logRatio + zc * se) - 1];
  }
  const pooled = (control.successes + treatment.successes) / (control.trials + treatment.trials);
  const se0 = Math.sqrt(pooled * (1 - pooled) * (1 / control.trials + 1 / treatment.trials));
  const z = se0 > 0 ? difference / se0 : 0;
  const pValue = se0 > 0 ? 2 * (1 - normalCdf(Math.abs(z), 0, 1)) : 1;
  return {
    difference,
    differenceInterval,
    relativeLift: p1 > 0 ? p2 / p1 - 1 : null,
    relativeLiftInterval,
    z,
    pValue,
  };
}

export interface RatioTest {
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
}

/**
 * Sample-ratio mismatch: Pearson's chi-square goodness of fit of the users per variant against
 * the intended allocation (`shares`, default equal). A tiny p-value means assignment or logging
 * is broken and the experiment's comparisons cannot be trusted.
 */
export function sampleRatioMismatch(
  counts: readonly number[],
  shares?: readonly number[],
): RatioTest {
  if (counts.length < 2) throw new RangeError("A ratio test needs at least two variants");
  const weights = shares ?? counts.map(() => 1);
  if (weights.length !== counts.length || weights.some((w) => !(w > 0))) {
    throw new RangeError("Shares must be positive, one per variant");
  }
  const total = counts.reduce((s, c) => s + c, 0);
  const weightSum = weights.reduce((s, w) => s + w, 0);
  let chiSquare = 0;
  for (let i = 0; i < counts.length; i++) {
    const expected = (total * weights[i]!) / weightSum;
    if (expected > 0) chiSquare += (counts[i]! - expected) ** 2 / expected;
  }
  const degreesOfFreedom = counts.length - 1;
  const pValue = total > 0 ? 1 - chisquareCdf(chiSquare, degreesOfFreedom) : 1;
  return { chiSquare, degreesOfFreedom, pValue };
}
