/** `resolveRange()`: alignment to the bucket, and the bucket limit counted on the span asked for. */
import assert from "node:assert/strict";
import { HTTPException } from "hono/http-exception";
import { MAX_BUCKETS, resolveRange } from "../api/routes/analytics/_common.ts";

const refused = (q: Parameters<typeof resolveRange>[0]) =>
  assert.throws(() => resolveRange(q), (e) => e instanceof HTTPException && e.status === 400);

Deno.test("resolveRange() accepts the last 24 hours at 1m from any second: the aligned answer may hold one more bucket", () => {
  // 24 hours starting 30 s into a minute: 1,440 minutes asked, 1,441 once aligned.
  const r = resolveRange({
    window: "1m",
    from: "2026-11-20T00:00:30Z",
    to: "2026-11-21T00:00:30Z",
  });
  assert.equal((r.to.getTime() - r.from.getTime()) / r.windowMs, MAX_BUCKETS + 1);
  // 1,440 days of 1d asked from midday: 1,441 days once aligned.
  resolveRange({ window: "1d", from: "2020-01-01T12:00:00Z", to: "2023-12-11T12:00:00Z" });
});

Deno.test("resolveRange() refuses a span asked that covers more buckets than the limit", () => {
  // 1,440 minutes and 1 second asked.
  refused({ window: "1m", from: "2026-11-20T00:00:00Z", to: "2026-11-21T00:00:01Z" });
  refused({ window: "1d", from: "2020-01-01T00:00:00Z", to: "2023-12-11T00:00:01Z" });
});

Deno.test("resolveRange() accepts exactly the limit once aligned, and says how many buckets it spans", () => {
  const r = resolveRange({
    window: "1m",
    from: "2026-11-20T00:00:00Z",
    to: "2026-11-21T00:00:00Z",
  });
  assert.equal((r.to.getTime() - r.from.getTime()) / r.windowMs, MAX_BUCKETS);
  const unaligned = resolveRange({
    window: "1m",
    from: "2026-11-20T00:00:30Z",
    to: "2026-11-20T23:59:30Z",
  });
  assert.equal(unaligned.from.toISOString(), "2026-11-20T00:00:00.000Z");
  assert.equal(unaligned.to.toISOString(), "2026-11-21T00:00:00.000Z");
  assert.throws(
    () => resolveRange({ window: "1h", from: "2026-01-01T00:00:00Z", to: "2026-03-02T00:30:00Z" }),
    /Range spans 1441 buckets of 1h; at most 1440/,
  );
});
