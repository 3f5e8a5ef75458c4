/**
 * Seeded randomness for the simulator: a small, fast PRNG and the draws the behaviour model needs.
 * Everything random in a run comes from one of these, so the same seed gives the same events.
 */

/** A source of floats in [0, 1). */
export type Random = () => number;

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A version-4-shaped UUID from the PRNG, so seeded runs produce the same event ids. */
export function seededUuid(random: Random): string {
  const a = (random() * 4294967296) >>> 0;
  const b = (random() * 4294967296) >>> 0;
  const c = (random() * 4294967296) >>> 0;
  const d = (random() * 4294967296) >>> 0;
  const h = (n: number, shift: number) => HEX[(n >>> shift) & 255]!;
  return h(a, 24) + h(a, 16) + h(a, 8) + h(a, 0) + "-" + h(b, 24) + h(b, 16) + "-4" +
    HEX[(b >>> 8) & 15]!.slice(1) + h(b, 0) + "-" + HEX[0x80 | ((c >>> 24) & 0x3f)] + h(c, 16) +
    "-" + h(c, 8) + h(c, 0) + h(d, 24) + h(d, 16) + h(d, 8) + h(d, 0);
}

/** One element of a non-empty array, uniformly. */
export function pick<T>(random: Random, xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)]!;
}

/** An integer in [min, max], uniformly. */
export function intBetween(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** Exponentially distributed with the given mean (waiting times between independent arrivals). */
export function exponential(random: Random, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** Log-normally distributed with the given median: dwell times, prices, basket sizes. */
export function logNormal(random: Random, median: number, sigma: number): number {
  // Box–Muller; one of the pair is enough here.
  const u = 1 - random();
  const v = random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return median * Math.exp(sigma * z);
}

/**
 * Picks indexes by weight in O(log n): build once from the weights, then draw. Used for product
 * popularity (a long tail) and for choosing the next step of a session.
 */
export function createWeightedPicker(weights: readonly number[]): (random: Random) => number {
  const cumulative = new Float64Array(weights.length);
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    if (!(weights[i]! >= 0)) throw new RangeError(`Weight ${i} is "${weights[i]}", not >= 0`);
    sum += weights[i]!;
    cumulative[i] = sum;
  }
  if (sum <= 0) throw new RangeError("Weights must not all be zero");
  return (random) => {
    const r = random() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/**
 * A UUIDv7 (RFC 9562) from the PRNG: the event's time in milliseconds in the first 48 bits, so ids
 * sort by time (raw rows and their index stay in insertion order), then seeded random bits. Draws
 * as many numbers from `random` as {@linkcode seededUuid}, so a seeded run's other choices do not
 * move.
 */
export function seededUuidV7(random: Random, timeMs: number): string {
  const ms = Math.max(0, Math.floor(timeMs));
  const hi = Math.floor(ms / 65536) >>> 0; // top 32 of the 48 bits
  const lo = ms % 65536;
  const b = (random() * 4294967296) >>> 0;
  const c = (random() * 4294967296) >>> 0;
  const d = (random() * 4294967296) >>> 0;
  random();
  const h = (n: number, shift: number) => HEX[(n >>> shift) & 255]!;
  return h(hi, 24) + h(hi, 16) + h(hi, 8) + h(hi, 0) + "-" + h(lo, 8) + h(lo, 0) + "-7" +
    HEX[(b >>> 8) & 15]!.slice(1) + h(b, 0) + "-" + HEX[0x80 | ((c >>> 24) & 0x3f)] + h(c, 16) +
    "-" + h(c, 8) + h(c, 0) + h(d, 24) + h(d, 16) + h(d, 8) + h(d, 0);
}
