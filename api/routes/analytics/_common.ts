/** Query parameters, range resolution and the validation hook shared by the analytics routes. */
import { z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { DEVICE_DIMENSIONS } from "../../../shared/mod.ts";
import { Datetime } from "../../params.ts";

export const WINDOW_MS = {
  "1m": 60_000,
  "5m": 300_000,
  "1h": 3_600_000,
  "1d": 86_400_000,
} as const;
export type WindowName = keyof typeof WINDOW_MS;
/** Most buckets one series response holds; larger ranges need a coarser window. */
export const MAX_BUCKETS = 1440;

/** Bounded to what timestamptz holds (api/params.ts). */
const datetime = Datetime;

export const RangeQuery = z.object({
  window: z.enum(["1m", "5m", "1h", "1d"]).default("1m").openapi({
    description: "Bucket width (UTC buckets); read from minute, hour or day rollups, whichever " +
      "is the narrowest that answers exactly",
  }),
  from: datetime.optional().openapi({
    description: "Start (inclusive, event time), rounded down to the bucket; default 60 buckets " +
      "before `to`",
  }),
  to: datetime.optional().openapi({
    description: "End (exclusive, event time), rounded up to the bucket; default now",
  }),
});

export const Filters = z.object({
  category: z.string().min(1).max(64).optional(),
  device: z.enum(DEVICE_DIMENSIONS).optional(),
  country: z.string().regex(/^[A-Z]{2}$/, "Country must be an ISO 3166-1 alpha-2 code").optional(),
  segment: z.string().min(1).max(32).optional(),
});

export const SeriesQuery = RangeQuery.extend(Filters.shape);

export const Limit = (max: number, dflt: number) =>
  z.coerce.number().int().min(1).max(max).default(dflt).openapi({ description: `At most ${max}` });

export interface Range {
  from: Date;
  to: Date;
  windowMs: number;
  /** The bucket width as an SQL interval literal. */
  interval: string;
}

/**
 * Resolves `from`/`to`/`window` and bounds the number of buckets asked for (400 when the span
 * asked covers more than `MAX_BUCKETS`; the aligned answer may hold one more). The range is aligned to the bucket (`from` down, `to` up), so
 * every bucket of an answer is whole, the planner can read whole hours and days, and the response
 * cache keys on a few distinct ranges.
 */
export function resolveRange(
  q: { window: WindowName; from?: string | undefined; to?: string | undefined },
  nowMs = Date.now(),
): Range {
  const windowMs = WINDOW_MS[q.window];
  const up = (t: number) => Math.ceil(t / windowMs) * windowMs;
  const down = (t: number) => Math.floor(t / windowMs) * windowMs;
  const rawTo = q.to !== undefined ? Date.parse(q.to) : nowMs;
  const to = up(rawTo);
  const from = q.from !== undefined ? down(Date.parse(q.from)) : to - 60 * windowMs;
  if (!(from < to)) throw new HTTPException(400, { message: `"from" must be before "to"` });
  // The limit applies to the span asked for, not to the aligned range: aligning both ends adds one
  // bucket to a span that is not on a bucket boundary (the last 24 hours asked at 30 s past a
  // minute hold 1,441 minutes), and a client must not be refused for its clock. So an answer holds
  // at most MAX_BUCKETS + 1 buckets.
  const asked = q.from !== undefined ? rawTo - Date.parse(q.from) : to - from;
  const buckets = Math.ceil(asked / windowMs);
  if (buckets > MAX_BUCKETS) {
    throw new HTTPException(400, {
      message:
        `Range spans ${buckets} buckets of ${q.window}; at most ${MAX_BUCKETS} (use a wider window)`,
    });
  }
  return {
    from: new Date(from),
    to: new Date(to),
    windowMs,
    interval: `${windowMs / 1000} seconds`,
  };
}

/** The validation hook of every analytics route: a bad parameter is a 400 problem response. */
// deno-lint-ignore no-explicit-any
export const badRequest = (result: { success: boolean; error?: any }): undefined => {
  if (!result.success) {
    const issues = (result.error?.issues ?? []) as { path: PropertyKey[]; message: string }[];
    const detail = issues.slice(0, 5).map((i) => `${i.path.join(".") || "(query)"}: ${i.message}`)
      .join("; ");
    throw new HTTPException(400, { message: `Invalid request: ${detail}` });
  }
  return undefined;
};

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string(),
}).openapi("Problem");

export const errors = {
  400: {
    description: "Invalid parameters",
    content: { "application/problem+json": { schema: Problem } },
  },
} as const;

export const iso = (d: Date | null) => (d === null ? null : d.toISOString());
export const ratio = (
  a: number,
  b: number,
) => (b > 0 ? Math.round((a / b) * 10_000) / 10_000 : null);
export const money = (cents: number) => Math.round(cents) / 100;
