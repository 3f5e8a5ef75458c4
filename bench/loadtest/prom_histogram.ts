/**
 * Reading Prometheus text (as the consumers serve it at `/metrics`): histograms and counters,
 * summed over scrapes of several processes, differenced between two moments, and quantiles
 * interpolated inside the buckets (as PromQL's `histogram_quantile` does).
 */

/** Cumulative bucket counts by upper bound (`+Inf` as Infinity), plus sum and count. */
export interface Histogram {
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

export function emptyHistogram(): Histogram {
  return { buckets: new Map(), sum: 0, count: 0 };
}

/** The histogram `name` in a scrape (all label sets other than `le` summed). */
export function parseHistogram(text: string, name: string): Histogram {
  const h = emptyHistogram();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (rest.startsWith("_bucket{")) {
      const le = rest.match(/le="([^"]+)"/)?.[1];
      if (le === undefined) continue;
      const bound = le === "+Inf" ? Infinity : Number(le);
      h.buckets.set(bound, (h.buckets.get(bound) ?? 0) + value);
    } else if (rest.startsWith("_sum")) h.sum += value;
    else if (rest.startsWith("_count")) h.count += value;
  }
  return h;
}

/** The counter `name` summed by the value of one of its labels (e.g. `operation`). */
export function parseCounterBy(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{")) continue;
    const value = line.match(re)?.[1];
    if (value === undefined) continue;
    out[value] = (out[value] ?? 0) + (Number(line.slice(line.lastIndexOf(" ") + 1)) || 0);
  }
  return out;
}

/** Adds counters by label value. */
export function addBy(
  a: Record<string, number>,
  b: Record<string, number>,
): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Sum of the counter (or gauge) `name` over all its label sets. */
export function parseCounter(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const next = line[name.length];
    if (next !== " " && next !== "{") continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return total;
}

export function addHistograms(a: Histogram, b: Histogram): Histogram {
  const buckets = new Map(a.buckets);
  for (const [le, n] of b.buckets) buckets.set(le, (buckets.get(le) ?? 0) + n);
  return { buckets, sum: a.sum + b.sum, count: a.count + b.count };
}

/** `later − earlier` (observations made between two scrapes of the same processes). */
export function diffHistograms(later: Histogram, earlier: Histogram): Histogram {
  const buckets = new Map<number, number>();
  for (const [le, n] of later.buckets) buckets.set(le, n - (earlier.buckets.get(le) ?? 0));
  return { buckets, sum: later.sum - earlier.sum, count: later.count - earlier.count };
}

/**
 * The q-quantile (0 < q < 1), linearly interpolated inside its bucket; NaN without observations.
 * A quantile in the `+Inf` bucket is reported as the largest finite bound (a lower bound).
 */
export function histogramQuantile(h: Histogram, q: number): number {
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b);
  const total = bounds.length ? h.buckets.get(bounds.at(-1)!)! : 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const le of bounds) {
    const c = h.buckets.get(le)!;
    if (c >= rank) {
      if (le === Infinity) return prevBound;
      const inBucket = c - prevCount;
      return inBucket > 0 ? prevBound + (le - prevBound) * ((rank - prevCount) / inBucket) : le;
    }
    prevBound = le;
    prevCount = c;
  }
  return prevBound;
}
