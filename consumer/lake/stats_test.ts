import assert from "node:assert/strict";
import { createRandom } from "../../producer/mod.ts";
import { compareProportions, sampleRatioMismatch, wilsonInterval, zCritical } from "./stats.ts";

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);

Deno.test("zCritical() gives the normal quantiles of common confidence levels", () => {
  close(zCritical(0.95), 1.959964, 1e-6, "95%");
  close(zCritical(0.99), 2.575829, 1e-6, "99%");
  assert.throws(() => zCritical(1), RangeError);
});

Deno.test("wilsonInterval() matches published values and stays inside [0, 1]", () => {
  const [lo, hi] = wilsonInterval({ successes: 10, trials: 100 });
  close(lo, 0.05523, 1e-4, "low");
  close(hi, 0.17437, 1e-4, "high");
  const [zlo, zhi] = wilsonInterval({ successes: 0, trials: 20 });
  assert.equal(zlo, 0);
  close(zhi, 0.16113, 1e-4, "zero successes, high");
  assert.deepEqual(wilsonInterval({ successes: 0, trials: 0 }), [0, 1]);
  assert.throws(() => wilsonInterval({ successes: 5, trials: 4 }), RangeError);
});

Deno.test("compareProportions() gives the pooled z-test and lift of a worked example", () => {
  const c = compareProportions({ successes: 200, trials: 1000 }, { successes: 250, trials: 1000 });
  close(c.difference, 0.05, 1e-12, "difference");
  close(c.z, 2.6774, 1e-3, "z");
  close(c.pValue, 0.00742, 1e-4, "p");
  close(c.relativeLift!, 0.25, 1e-12, "lift");
  const [lo, hi] = c.relativeLiftInterval!;
  assert.ok(lo > 0 && lo < 0.25 && hi > 0.25, `lift interval ${lo}..${hi}`);
  const [dlo, dhi] = c.differenceInterval;
  assert.ok(dlo > 0.01 && dlo < 0.05 && dhi > 0.05 && dhi < 0.09, `difference ${dlo}..${dhi}`);
  const none = compareProportions({ successes: 0, trials: 10 }, { successes: 0, trials: 10 });
  assert.equal(none.pValue, 1);
  assert.equal(none.relativeLift, null);
  assert.equal(none.relativeLiftInterval, null);
});

Deno.test("compareProportions() intervals cover the true lift about 95% of the time", () => {
  // Seeded, so the simulation is the same on every run.
  const random = createRandom(42);
  const p1 = 0.08;
  const lift = 0.25;
  const p2 = p1 * (1 + lift);
  const n = 3000;
  const runs = 1000;
  let liftCovered = 0;
  let diffCovered = 0;
  for (let r = 0; r < runs; r++) {
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      if (random() < p1) s1++;
      if (random() < p2) s2++;
    }
    const c = compareProportions({ successes: s1, trials: n }, { successes: s2, trials: n });
    const [lo, hi] = c.relativeLiftInterval!;
    if (lo <= lift && lift <= hi) liftCovered++;
    const [dlo, dhi] = c.differenceInterval;
    if (dlo <= p2 - p1 && p2 - p1 <= dhi) diffCovered++;
  }
  // Binomial(1000, 0.95) lies within ±2.2 points of 95% with probability > 99.8%.
  assert.ok(liftCovered / runs > 0.928 && liftCovered / runs < 0.972, `lift ${liftCovered}`);
  assert.ok(diffCovered / runs > 0.928 && diffCovered / runs < 0.972, `difference ${diffCovered}`);
});

Deno.test("sampleRatioMismatch() flags a skewed split and passes a fair one", () => {
  const fair = sampleRatioMismatch([5000, 5200]);
  close(fair.chiSquare, 3.9216, 1e-4, "chi-square");
  close(fair.pValue, 0.04767, 1e-4, "p");
  assert.equal(fair.degreesOfFreedom, 1);
  const skewed = sampleRatioMismatch([5000, 5600]);
  assert.ok(skewed.pValue < 1e-4);
  const intended = sampleRatioMismatch([6000, 4000], [0.6, 0.4]);
  assert.equal(intended.chiSquare, 0);
  assert.equal(intended.pValue, 1);
  const three = sampleRatioMismatch([100, 100, 130]);
  assert.equal(three.degreesOfFreedom, 2);
  assert.throws(() => sampleRatioMismatch([1]), RangeError);
});
