/**
 * Fraud scoring (seed 002 query 3): every purchase line gets a 0–100 risk score with the reasons
 * that produced it, in the flush that stores it; scores at or above the alert threshold write an
 * alert (and its outbox row) in the same transaction. Rules and weights:
 * - same IP: at least `ipOrders` purchases from the purchase's IP within the window → 40
 * - new user, high value: amount ≥ `highValueCents` and the user was first seen < 24 h before → 40
 * - unusual geography: purchase country differs from the user's home country → 30
 * - velocity: at least `velocityOrders` purchases by the user within the window → 30
 * Windows are whole event-time minutes ending with the purchase's minute. Needs `user_features`
 * (the features stage runs first in the same flush).
 */
import { revenueCents, type UserFeaturesRow } from "../shared/mod.ts";
import type { FlushContext, FlushStage } from "./flush_events.ts";
import { type AlertInput, cmp, insertAlerts, iso, MINUTE_MS, minuteOf } from "./_analytics_util.ts";

export interface FraudOptions {
  alertThreshold: number;
  highValueCents: number;
  windowMs: number;
  ipOrders: number;
  velocityOrders: number;
}

export const FRAUD_WEIGHTS = { sameIp: 40, newUserHighValue: 40, unusualGeo: 30, velocity: 30 };
const NEW_USER_MS = 24 * 3_600_000;

interface Purchase {
  eventId: string;
  orderId: string;
  userId: string;
  ip: string | null;
  timeMs: number;
  amount: number;
  country: string;
}

/** The stage writing `fraud_counters`, `fraud_scores`, `user_risk` and fraud alerts. */
export function fraudStage(options: FraudOptions): FlushStage {
  return async (ctx: FlushContext) => {
    const { tx, inserted, nowMs } = ctx;
    const purchases: Purchase[] = [];
    for (const { event: e, timeMs } of inserted) {
      if (e.eventType !== "purchase") continue;
      purchases.push({
        eventId: e.eventId,
        orderId: e.orderId ?? "",
        userId: e.userId,
        ip: e.ipAddress ?? null,
        timeMs,
        amount: revenueCents(e),
        country: e.location.country,
      });
    }
    if (purchases.length === 0) return;

    const counters = new Map<string, { kind: string; key: string; bucket: number; n: number }>();
    const count = (kind: string, key: string, bucket: number) => {
      const k = `${kind}|${key}|${bucket}`;
      const c = counters.get(k) ?? { kind, key, bucket, n: 0 };
      c.n++;
      counters.set(k, c);
    };
    for (const p of purchases) {
      const bucket = minuteOf(p.timeMs);
      if (p.ip !== null) count("ip", p.ip, bucket);
      count("user", p.userId, bucket);
    }
    const c = [...counters.values()].sort((a, b) =>
      cmp(a.kind, b.kind) || cmp(a.key, b.key) || a.bucket - b.bucket
    );
    await tx`
      insert into fraud_counters (kind, key, bucket, orders)
      select * from unnest(${c.map((x) => x.kind)}::text[], ${c.map((x) => x.key)}::text[],
        ${c.map((x) => iso(x.bucket))}::timestamptz[], ${c.map((x) => x.n)}::int[])
      on conflict (kind, key, bucket) do update set orders = fraud_counters.orders + excluded.orders`;

    const span = options.windowMs - MINUTE_MS;
    const [windowCounts, profiles] = await Promise.all([
      tx<{ i: number; ip_orders: number; user_orders: number }[]>`
        select x.i::int as i,
          coalesce((select sum(c.orders) from fraud_counters c
                    where c.kind = 'ip' and c.key = x.ip and c.bucket between x.lo and x.hi), 0)::int
            as ip_orders,
          coalesce((select sum(c.orders) from fraud_counters c
                    where c.kind = 'user' and c.key = x.usr and c.bucket between x.lo and x.hi), 0)::int
            as user_orders
        from unnest(${purchases.map((p) => p.ip ?? "")}::text[],
          ${purchases.map((p) => p.userId)}::text[],
          ${purchases.map((p) => iso(minuteOf(p.timeMs) - span))}::timestamptz[],
          ${purchases.map((p) => iso(minuteOf(p.timeMs)))}::timestamptz[])
          with ordinality as x(ip, usr, lo, hi, i)`,
      tx<Pick<UserFeaturesRow, "user_id" | "first_seen" | "home_country">[]>`
        select user_id, first_seen, home_country from user_features
        where user_id = any(${[...new Set(purchases.map((p) => p.userId))]}::text[])`,
    ]);
    const byIndex = new Map(windowCounts.map((w) => [w.i, w]));
    const profileOf = new Map(profiles.map((p) => [p.user_id, p]));
    const windowMin = Math.round(options.windowMs / MINUTE_MS);

    const scores = purchases.map((p, idx) => {
      const w = byIndex.get(idx + 1);
      const profile = profileOf.get(p.userId);
      const reasons: string[] = [];
      let score = 0;
      if (p.ip !== null && (w?.ip_orders ?? 0) >= options.ipOrders) {
        score += FRAUD_WEIGHTS.sameIp;
        reasons.push(`same_ip: ${w!.ip_orders} orders from one IP within ${windowMin} min`);
      }
      const firstSeen = profile?.first_seen.getTime() ?? p.timeMs;
      if (p.amount >= options.highValueCents && p.timeMs - firstSeen < NEW_USER_MS) {
        score += FRAUD_WEIGHTS.newUserHighValue;
        reasons.push(
          `new_user_high_value: ${(p.amount / 100).toFixed(2)} from a user first seen ${
            Math.round((p.timeMs - firstSeen) / 60_000)
          } min before`,
        );
      }
      if (profile !== undefined && profile.home_country !== p.country) {
        score += FRAUD_WEIGHTS.unusualGeo;
        reasons.push(`unusual_geo: purchase from ${p.country}, home ${profile.home_country}`);
      }
      if ((w?.user_orders ?? 0) >= options.velocityOrders) {
        score += FRAUD_WEIGHTS.velocity;
        reasons.push(`velocity: ${w!.user_orders} orders by the user within ${windowMin} min`);
      }
      return { ...p, score: Math.min(100, score), reasons };
    }).sort((a, b) => cmp(a.eventId, b.eventId));

    await tx`
      insert into fraud_scores (event_id, order_id, user_id, event_time, amount_cents, country,
                                score, reasons, scored_at)
      select e, o, u, t, a, c, s, string_to_array(r, chr(31)), ${iso(nowMs)}::timestamptz
      from unnest(${scores.map((s) => s.eventId)}::uuid[], ${scores.map((s) => s.orderId)}::text[],
        ${scores.map((s) => s.userId)}::text[], ${scores.map((s) => iso(s.timeMs))}::timestamptz[],
        ${scores.map((s) => s.amount)}::bigint[], ${scores.map((s) => s.country)}::text[],
        ${scores.map((s) => s.score)}::int[], ${
      scores.map((s) => s.reasons.join("\u001f"))
    }::text[])
        as x(e, o, u, t, a, c, s, r)
      on conflict (event_id) do nothing`;

    const risk = new Map<
      string,
      { n: number; flagged: number; max: number; last: number; t: number }
    >();
    for (const s of scores) {
      const r = risk.get(s.userId) ?? { n: 0, flagged: 0, max: 0, last: 0, t: -Infinity };
      r.n++;
      if (s.score >= options.alertThreshold) r.flagged++;
      r.max = Math.max(r.max, s.score);
      if (s.timeMs >= r.t) {
        r.t = s.timeMs;
        r.last = s.score;
      }
      risk.set(s.userId, r);
    }
    const users = [...risk.keys()].sort(cmp);
    await tx`
      insert into user_risk as r (user_id, scored_orders, flagged, max_score, last_score, updated_at)
      select * from unnest(${users}::text[], ${users.map((u) => risk.get(u)!.n)}::int[],
        ${users.map((u) => risk.get(u)!.flagged)}::int[], ${
      users.map((u) => risk.get(u)!.max)
    }::int[],
        ${users.map((u) => risk.get(u)!.last)}::int[], ${
      users.map(() => iso(nowMs))
    }::timestamptz[])
      on conflict (user_id) do update set
        scored_orders = r.scored_orders + excluded.scored_orders,
        flagged = r.flagged + excluded.flagged,
        max_score = greatest(r.max_score, excluded.max_score),
        last_score = excluded.last_score,
        updated_at = excluded.updated_at`;

    const alerts: AlertInput[] = scores.filter((s) => s.score >= options.alertThreshold).map((
      s,
    ) => ({
      kind: "fraud",
      dedupeKey: `fraud:order:${s.orderId}`,
      severity: s.score >= 90 ? "critical" : "warning",
      title: `Fraud risk ${s.score} on order ${s.orderId} by user ${s.userId}`,
      details: {
        orderId: s.orderId,
        eventId: s.eventId,
        userId: s.userId,
        score: s.score,
        amount: s.amount / 100,
        reasons: s.reasons,
        eventTime: iso(s.timeMs),
      },
    }));
    await insertAlerts(tx, alerts);
  };
}
