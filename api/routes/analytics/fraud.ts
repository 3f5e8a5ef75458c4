/** `GET /v1/fraud/alerts`: scored purchases at or above a risk score, with their reasons. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { Limit, money } from "./_common.ts";
import { type AnalyticsDeps, inSpan, readRoutes, Span } from "./_read_routes.ts";
import { UserId } from "./users.ts";

const FraudAlerts = z.object({
  alerts: z.array(z.object({
    eventId: z.string(),
    orderId: z.string(),
    userId: z.string(),
    eventTime: z.string(),
    amount: z.number(),
    country: z.string(),
    score: z.number(),
    reasons: z.array(z.string()),
    userMaxScore: z.number().nullable(),
  })),
}).openapi("FraudAlerts");

export interface FraudOptions {
  /** The default `minScore` (the consumers' alert threshold); 70 by default. */
  fraudAlertThreshold?: number;
}

/** The fraud route, to mount at `/v1/fraud`. */
export function fraudRoutes<E extends Env>(deps: AnalyticsDeps & FraudOptions): OpenAPIHono<E> {
  const { sql } = deps;
  const threshold = deps.fraudAlertThreshold ?? 70;
  const { app, get } = readRoutes<E>(deps.cache);
  get({
    path: "/alerts",
    summary: "Scored purchases at or above a risk score, newest first, with their reasons",
    query: z.object({
      minScore: z.coerce.number().int().min(0).max(100).optional(),
      ...Span.shape,
      userId: UserId.optional(),
      limit: Limit(500, 50),
    }),
    body: FraudAlerts,
    bodyDescription: "Fraud alerts",
    cached: true,
  }, async ({ query: q }) => {
    const min = q.minScore ?? threshold;
    const user = q.userId ?? null;
    const rows = await sql<
      {
        event_id: string;
        order_id: string;
        user_id: string;
        event_time: Date;
        amount_cents: number;
        country: string;
        score: number;
        reasons: string[];
        max_score: number | null;
      }[]
    >`
      select f.event_id, f.order_id, f.user_id, f.event_time, f.amount_cents, f.country, f.score,
             f.reasons, r.max_score
      from fraud_scores f left join user_risk r using (user_id)
      where f.score >= ${min} ${inSpan(sql, "f.event_time", q)}
        and (${user}::text is null or f.user_id = ${user})
      order by f.event_time desc, f.event_id limit ${q.limit}`;
    return {
      alerts: rows.map((x) => ({
        eventId: x.event_id,
        orderId: x.order_id,
        userId: x.user_id,
        eventTime: x.event_time.toISOString(),
        amount: money(x.amount_cents),
        country: x.country,
        score: x.score,
        reasons: x.reasons,
        userMaxScore: x.max_score,
      })),
    };
  });
  return app;
}
