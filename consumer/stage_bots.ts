/**
 * Bot-like users: a user with at least `botEventsPerMinute` events in one minute (summed over the
 * regions of `active_user_minute`, which the core flush keeps) is reported once per minute, as an
 * anomaly and an alert. Runs in the derived stage over each batch's user-minutes; the anomaly's
 * unique key (kind, series, bucket) makes the report exactly once whichever batch crosses first.
 * Inventory updates never count (consumer/core_counters.ts `countsAsShopper`).
 */
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { type AlertInput, cmp, insertAlerts, iso, minuteOf } from "./_analytics_util.ts";
import { countsAsShopper } from "./core_counters.ts";

export function botsStage(options: { botEventsPerMinute: number }): FlushStage {
  const threshold = options.botEventsPerMinute;
  return async (ctx: FlushContext) => {
    const keys = new Map<string, { bucket: number; userId: string }>();
    for (const { event: e, timeMs } of ctx.inserted) {
      if (!countsAsShopper(e)) continue;
      const bucket = minuteOf(timeMs);
      keys.set(`${bucket}|${e.userId}`, { bucket, userId: e.userId });
    }
    if (keys.size === 0) return;
    const k = [...keys.values()].sort((a, b) => a.bucket - b.bucket || cmp(a.userId, b.userId));
    const crossed = await ctx.tx<{ bucket: Date; user_id: string; events: number }[]>`
      select a.bucket, a.user_id, sum(a.events)::int as events
      from active_user_minute a
      join unnest(${k.map((r) => iso(r.bucket))}::timestamptz[], ${k.map((r) => r.userId)}::text[])
        as x(bucket, user_id) using (bucket, user_id)
      group by a.bucket, a.user_id
      having sum(a.events) >= ${threshold}`;
    await reportBots(ctx, crossed, threshold);
  };
}

/** A user is reported once per minute, by the flush that makes its count cross the threshold. */
async function reportBots(
  ctx: FlushContext,
  crossed: readonly { bucket: Date; user_id: string; events: number }[],
  threshold: number,
): Promise<void> {
  const bots = crossed.map((t) => ({
    bucket: t.bucket.getTime(),
    userId: t.user_id,
    events: t.events,
  }));
  if (bots.length === 0) return;
  bots.sort((a, b) => a.bucket - b.bucket || cmp(a.userId, b.userId));
  const reason = (b: (typeof bots)[number]) =>
    `user "${b.userId}" sent at least ${threshold} events within one minute (inhuman rate)`;
  const stored = await ctx.tx<{ series: string; bucket: Date }[]>`
    insert into anomalies (kind, series, bucket, value, reason)
    select 'bot_user', s, b, v, r from unnest(
      ${bots.map((b) => `user:${b.userId}`)}::text[], ${
    bots.map((b) => iso(b.bucket))
  }::timestamptz[],
      ${bots.map((b) => b.events)}::float8[], ${bots.map(reason)}::text[]) as x(s, b, v, r)
    on conflict (kind, series, bucket) do nothing
    returning series, bucket`;
  const alerts: AlertInput[] = stored.map((s) => ({
    kind: "anomaly",
    dedupeKey: `anomaly:bot_user:${s.series}:${s.bucket.toISOString()}`,
    severity: "warning",
    title: `Bot-like activity from ${s.series}`,
    details: { kind: "bot_user", series: s.series, bucket: s.bucket.toISOString() },
  }));
  await insertAlerts(ctx.tx, alerts);
}
