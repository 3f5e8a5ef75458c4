/**
 * The wall clock, injectable. Programs read `SCALESTREAM_CLOCK` through `loadConfig` and build one
 * clock that the consumer's event-time window, its flushes and maintenance all take `now` from;
 * library code never reads the system time for those decisions. The soak test
 * (`deno task soak`) runs days of event time in minutes this way.
 *
 * Spec: `<simulated start ISO>@<speed>x[@<real start ms>]`, e.g. `2026-01-01T00:00:00Z@2880x`:
 * time starts at the simulated instant and runs `speed` times faster than real time. Processes
 * given the same spec with the same real start agree on the time.
 */

/** Milliseconds since the epoch, like `Date.now`. */
export type Clock = () => number;

/** The system clock. */
export const systemClock: Clock = () => Date.now();

const SPEC = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z)@(\d+(?:\.\d+)?)x(?:@(\d+))?$/;

/** A clock from a spec (see the module comment); the system clock when the spec is undefined. */
export function createClock(spec: string | undefined, realNow: Clock = systemClock): Clock {
  if (spec === undefined) return realNow;
  const m = SPEC.exec(spec);
  const simStart = m ? Date.parse(m[1]!) : NaN;
  const speed = m ? Number(m[2]) : NaN;
  if (!m || Number.isNaN(simStart) || !(speed > 0)) {
    throw new RangeError(
      `Clock spec must look like "2026-01-01T00:00:00Z@2880x[@<real start ms>]", got "${spec}"`,
    );
  }
  const realStart = m[3] !== undefined ? Number(m[3]) : realNow();
  return () => simStart + Math.floor((realNow() - realStart) * speed);
}

/** The spec of an accelerated clock starting now, for handing to child processes. */
export function acceleratedClockSpec(
  simStartMs: number,
  speed: number,
  realStartMs: number,
): string {
  return `${new Date(simStartMs).toISOString()}@${speed}x@${realStartMs}`;
}
