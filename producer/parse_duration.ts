/** Parses "500ms", "30s", "2m", "1h" or a bare number of seconds into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new RangeError(`Invalid duration "${text}": use e.g. 500ms, 30s, 2m or 1h`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}
