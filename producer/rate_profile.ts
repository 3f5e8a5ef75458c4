/**
 * Target rate over time. A profile is a base shape and any number of flash sales, joined by `+`:
 *
 * - `steady` (or `steady:N`): the `--rate` (or N) events/s throughout;
 * - `ramp:FROM-TO:DUR`: linear from FROM to TO events/s over DUR, then TO;
 * - `diurnal[:PERIOD]`: a day's traffic curve compressed into PERIOD (default 24h), starting at
 *   midnight: a trough of 20 % of `--rate` around 04:00, the peak at `--rate` around 20:00;
 * - `flash:MULTx@START:DUR`: the rate times MULT from START for DUR (a flash sale), e.g.
 *   `steady+flash:5x@20s:10s`.
 */
import { parseDuration } from "./parse_duration.ts";

/** Target events per second at `elapsedMs` since the start. */
export type RateProfile = (elapsedMs: number) => number;

/** Parses a profile; throws a `RangeError` that names the bad part. */
export function parseRateProfile(text: string, baseRate: number): RateProfile {
  const [head = "steady", ...mods] = text.trim().split("+").map((s) => s.trim());
  const base = parseBase(head, baseRate);
  const flashes = mods.map(parseFlash);
  return (elapsedMs) => {
    let rate = base(elapsedMs);
    for (const f of flashes) {
      if (elapsedMs >= f.startMs && elapsedMs < f.startMs + f.durationMs) rate *= f.multiplier;
    }
    return rate;
  };
}

function parseBase(part: string, baseRate: number): RateProfile {
  const [name, ...args] = part.split(":");
  switch (name) {
    case "steady": {
      const rate = args[0] === undefined ? baseRate : positive(args[0], part);
      return () => rate;
    }
    case "ramp": {
      const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(args[0] ?? "");
      if (!m || args[1] === undefined || args.length > 2) {
        throw new RangeError(
          `Invalid profile "${part}": use ramp:FROM-TO:DURATION, e.g. ramp:1000-20000:60s`,
        );
      }
      const from = positive(m[1]!, part);
      const to = positive(m[2]!, part);
      const durationMs = duration(args[1], part);
      return (t) => (t >= durationMs ? to : from + ((to - from) * t) / durationMs);
    }
    case "diurnal": {
      const periodMs = args[0] === undefined ? 86_400_000 : duration(args[0], part);
      return (t) => baseRate * diurnalFactor(((t % periodMs) / periodMs) * 24);
    }
    default:
      throw new RangeError(
        `Unknown profile "${part}": use steady, ramp:…, diurnal[:PERIOD] and +flash:…`,
      );
  }
}

/** Share of the peak rate at an hour of the day: 0.2 at 04:00, 1 at 20:00, smooth in between. */
export function diurnalFactor(hour: number): number {
  // Two half-cosines: rising 04:00→20:00 (16 h), falling 20:00→04:00 (8 h).
  const h = ((hour % 24) + 24) % 24;
  const sinceTrough = (h - 4 + 24) % 24;
  const phase = sinceTrough < 16 ? sinceTrough / 16 : 1 - (sinceTrough - 16) / 8;
  return 0.2 + 0.8 * (1 - Math.cos(Math.PI * phase)) / 2;
}

function parseFlash(part: string): { multiplier: number; startMs: number; durationMs: number } {
  const m = /^flash:(\d+(?:\.\d+)?)x@([^:]+):(.+)$/.exec(part);
  if (!m) {
    throw new RangeError(
      `Invalid flash sale "${part}": use flash:MULTx@START:DURATION, e.g. flash:5x@20s:10s`,
    );
  }
  return {
    multiplier: positive(m[1]!, part),
    startMs: duration(m[2]!, part),
    durationMs: duration(m[3]!, part),
  };
}

function positive(text: string, part: string): number {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new RangeError(`Invalid number "${text}" in profile "${part}"`);
  }
  return n;
}

function duration(text: string, part: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new RangeError(
      `Invalid duration "${text}" in profile "${part}": use e.g. 500ms, 30s, 2m or 1h`,
    );
  }
}
