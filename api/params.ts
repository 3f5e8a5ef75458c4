/**
 * Request parameters every route shares, validated before any query runs: a parameter PostgreSQL
 * cannot hold must be a 400 problem, never a 500 from the database.
 *
 * - `Datetime`: ISO 8601 with an offset, between 1970-01-01 and 9999-12-31 (UTC). PostgreSQL has
 *   no year 0 and JavaScript writes years past 9999 as `+010000-…`, which it cannot parse; ranges
 *   computed from a bound (`from = to − 60 buckets`) stay inside what timestamptz holds.
 * - `rejectUnsafeParams()`: NUL (`%00`) anywhere in the path or query string is refused for every
 *   route at once (PostgreSQL text cannot hold U+0000), so no route can forget it.
 */
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { ApiProblem } from "./problem.ts";

/** Earliest and latest instants a datetime parameter may name. */
export const MIN_DATETIME_MS = Date.UTC(1970, 0, 1);
export const MAX_DATETIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** An ISO 8601 datetime parameter within [1970-01-01, 9999-12-31] UTC. */
export const Datetime = z.iso.datetime({ offset: true }).refine((s) => {
  const ms = Date.parse(s);
  return ms >= MIN_DATETIME_MS && ms <= MAX_DATETIME_MS;
}, { message: "Must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z" });

/** Answers 400 for NUL in the path or query string; see the module comment. */
export function rejectUnsafeParams(): MiddlewareHandler {
  return async (c, next) => {
    const url = c.req.url;
    const at = url.indexOf("/", url.indexOf("//") + 2);
    const target = at < 0 ? "" : url.slice(at);
    if (/%00/i.test(target) || target.includes("\u0000")) {
      throw new ApiProblem(
        400,
        "The path or query holds NUL (%00), which no parameter may contain",
      );
    }
    await next();
  };
}
