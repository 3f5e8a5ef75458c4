/**
 * Seeds and run counts of the fuzz suites (and the JSON junk they share). In CI (`CI=true`) every property runs with a fixed
 * seed, so a red run is a real regression and re-runs the same cases; locally the seed is random
 * unless `FUZZ_SEED` names one, and `FUZZ_RUNS` multiplies the runs (`FUZZ_RUNS=10` runs ten
 * times as many). The seed is printed with the suite's name, so any failure can be replayed:
 * `FUZZ_SEED=<seed> deno test -A test/fuzz_x_test.ts`.
 */
import fc from "fast-check";

/** Any JSON value (small depth) with `strings` as keys and strings, at most `max` per array/object. */
export function jsonJunk(strings: fc.Arbitrary<string>, max: number): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      strings,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("value"), { maxLength: max }),
      fc.dictionary(strings, tie("value"), { maxKeys: max }),
    ),
  })).value;
}

/** The seed used in CI for every property. */
export const CI_SEED = 20261130;

/**
 * fast-check parameters for one property: `runs` at the CI size (times `FUZZ_RUNS` locally),
 * with a seed as described in the module comment. `perRunMs` bounds one run: a hung run fails
 * instead of hanging the suite. Bound the shrinking of slow properties with `boundedShrink`.
 */
export function fuzzParams<T>(
  name: string,
  runs: number,
  options: { perRunMs?: number } = {},
): fc.Parameters<T> {
  const env = (k: string) => Deno.env.get(k);
  const ci = env("CI") === "true" || env("CI") === "1";
  const seedText = env("FUZZ_SEED");
  const seed = seedText !== undefined && seedText !== ""
    ? Number(seedText)
    : ci
    ? CI_SEED
    : (Math.random() * 2 ** 31) | 0;
  if (!Number.isInteger(seed)) throw new RangeError(`FUZZ_SEED "${seedText}" is not an integer`);
  const factor = ci ? 1 : Math.max(1, Number(env("FUZZ_RUNS") ?? 1) || 1);
  const numRuns = Math.max(1, Math.round(runs * factor));
  // Test output, not library logging: the seed is what a developer needs to replay a failure.
  console.log(`fuzz "${name}": seed ${seed}, ${numRuns} runs (FUZZ_SEED=${seed} to replay)`);
  return {
    seed,
    numRuns,
    ...(options.perRunMs !== undefined ? { timeout: options.perRunMs } : {}),
  };
}

/**
 * Wraps an async property so that shrinking a failure costs at most `budgetMs`: once a run has
 * failed and the budget is spent, every further run passes at once, so fast-check stops shrinking
 * and reports the smallest counterexample found so far. Whether the property fails never depends
 * on time, only how far its counterexample is shrunk.
 */
export function boundedShrink<Ts extends unknown[]>(
  predicate: (...args: Ts) => Promise<void>,
  budgetMs = 10_000,
): (...args: Ts) => Promise<void> {
  let failedAtMs: number | undefined;
  return async (...args: Ts) => {
    if (failedAtMs !== undefined && Date.now() - failedAtMs > budgetMs) return;
    try {
      await predicate(...args);
    } catch (err) {
      failedAtMs ??= Date.now();
      throw err;
    }
  };
}
