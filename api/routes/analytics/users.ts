/**
 * `GET /v1/users/{id}/{sessions,features,recommendations}`: a user's sessions, real-time features
 * and product recommendations.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { HTTPException } from "hono/http-exception";
import type { SessionRow, Sql, UserFeaturesRow } from "../../../shared/mod.ts";
import { Limit, money } from "./_common.ts";
import { type AnalyticsDeps, readRoutes } from "./_read_routes.ts";
import { Session, session } from "./sessions.ts";

export const UserId = z.string().min(1).max(128);

const Features = z.object({
  userId: z.string(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  recencyS: z.number(),
  events: z.number(),
  purchases: z.number(),
  monetary: z.number(),
  homeCountry: z.string(),
  segment: z.string(),
  lastDevice: z.string(),
  categoryAffinity: z.record(z.string(), z.number()),
  devices: z.record(z.string(), z.number()),
  hoursUtc: z.record(z.string(), z.number()),
}).openapi("UserFeatures");

const Recommendations = z.object({
  userId: z.string(),
  recommendations: z.array(z.object({
    productId: z.string(),
    score: z.number(),
    source: z.enum(["co_purchase", "co_view", "trending"]),
  })),
}).openapi("Recommendations");

/** The per-user routes, to mount at `/v1/users`. */
export function userRoutes<E extends Env>(deps: AnalyticsDeps): OpenAPIHono<E> {
  const { sql } = deps;
  const { app, get } = readRoutes<E>(deps.cache);
  const params = z.object({ id: UserId });

  get({
    path: "/{id}/sessions",
    summary: "A user's sessions, newest first",
    params,
    query: z.object({ limit: Limit(100, 20) }),
    body: z.object({ sessions: z.array(Session) }),
    bodyDescription: "Sessions",
  }, async ({ param: { id }, query: { limit } }) => {
    const rows = await sql<SessionRow[]>`
      select * from sessions where user_id = ${id} order by last_at desc limit ${limit}`;
    return { sessions: rows.map(session) };
  });

  get({
    path: "/{id}/features",
    summary: "The user's real-time features",
    params,
    body: Features,
    bodyDescription: "Features",
    notFound: true,
  }, async ({ param: { id } }) => {
    const [f] = await sql<UserFeaturesRow[]>`select * from user_features where user_id = ${id}`;
    if (!f) throw new HTTPException(404, { message: `No features for user "${id}"` });
    return {
      userId: id,
      firstSeen: f.first_seen.toISOString(),
      lastSeen: f.last_seen.toISOString(),
      recencyS: Math.max(0, Math.round((Date.now() - f.last_seen.getTime()) / 1000)),
      events: f.events,
      purchases: f.purchases,
      monetary: money(f.monetary_cents),
      homeCountry: f.home_country,
      segment: f.segment,
      lastDevice: f.last_device,
      categoryAffinity: f.categories,
      devices: f.devices,
      hoursUtc: f.hours,
    };
  });

  get({
    path: "/{id}/recommendations",
    summary: "Products for a user: co-purchased, then co-viewed with what they saw, then trending",
    description: "Never includes a product the user bought (within the stored history).",
    params,
    query: z.object({ limit: Limit(50, 10) }),
    body: Recommendations,
    bodyDescription: "Recommendations",
  }, async ({ param: { id }, query: { limit } }) => ({
    userId: id,
    recommendations: await recommend(sql, id, limit),
  }));

  return app;
}

/**
 * Candidates from item_pairs of the user's 20 most recent products (last 7 days of hours), scored
 * co_purchases × 3 + co_views; filled with products trending in the last hour. Excludes bought ones.
 */
export async function recommend(
  sql: Sql,
  userId: string,
  limit: number,
): Promise<{ productId: string; score: number; source: "co_purchase" | "co_view" | "trending" }[]> {
  const rows = await sql<
    { product_id: string; score: number; source: "co_purchase" | "co_view" | "trending" }[]
  >`
    with recent as (
      select product_id, max(hour) as hour from user_hour_products
      where user_id = ${userId} and hour > now() - interval '7 days'
      group by product_id order by max(hour) desc limit 20),
    bought as (
      select product_id from user_hour_products where user_id = ${userId} and kind = 'purchase'),
    pairs as (
      select p.product_b as product_id, sum(p.co_purchases * 3 + p.co_views)::float8 as score,
             case when sum(p.co_purchases) > 0 then 'co_purchase' else 'co_view' end as source
      from recent r join item_pairs p on p.product_a = r.product_id
      where p.product_b not in (select product_id from bought)
      group by p.product_b
      order by 2 desc, 1 limit ${limit}),
    trending as (
      select product_id, (sum(views) + sum(carts) * 2 + sum(purchases) * 5)::float8 as score,
             'trending' as source
      from agg_product_minute
      where bucket >= date_trunc('minute', now()) - interval '1 hour'
        and product_id not in (select product_id from bought)
        and product_id not in (select product_id from pairs)
      group by product_id order by 2 desc, 1 limit ${limit})
    (select product_id, score, source, 0 as rank from pairs
     union all
     select product_id, score, source, 1 from trending)
    order by rank, score desc, product_id limit ${limit}`;
  return rows.map((r) => ({ productId: r.product_id, score: r.score, source: r.source }));
}
