/** `GET /v1/sessions/{id}`: one server-side session (the consumer's sessions stage writes them). */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { HTTPException } from "hono/http-exception";
import type { SessionRow } from "../../../shared/mod.ts";
import { type AnalyticsDeps, readRoutes } from "./_read_routes.ts";

export const Session = z.object({
  sessionId: z.string(),
  userId: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  durationS: z.number(),
  events: z.number(),
  pageViews: z.number(),
  purchases: z.number(),
  converted: z.boolean(),
  entryPage: z.string().nullable(),
  exitPage: z.string().nullable(),
  deviceType: z.string(),
  country: z.string(),
  clientSessionId: z.string(),
  closed: z.boolean(),
}).openapi("Session");

/** A stored session as the API shows it. */
export function session(s: SessionRow): z.infer<typeof Session> {
  return {
    sessionId: s.session_id,
    userId: s.user_id,
    startedAt: s.started_at.toISOString(),
    endedAt: s.last_at.toISOString(),
    durationS: (s.last_at.getTime() - s.started_at.getTime()) / 1000,
    events: s.events,
    pageViews: s.page_views,
    purchases: s.purchases,
    converted: s.converted,
    entryPage: s.entry_page,
    exitPage: s.exit_page,
    deviceType: s.device_type,
    country: s.country,
    clientSessionId: s.client_session_id,
    closed: s.closed,
  };
}

/** The session route, to mount at `/v1/sessions`. */
export function sessionRoutes<E extends Env>(deps: AnalyticsDeps): OpenAPIHono<E> {
  const { sql } = deps;
  const { app, get } = readRoutes<E>(deps.cache);
  get({
    path: "/{id}",
    summary: "One server-side session",
    params: z.object({ id: z.uuid() }),
    body: Session,
    bodyDescription: "The session",
    notFound: true,
  }, async ({ param: { id } }) => {
    const [s] = await sql<SessionRow[]>`select * from sessions where session_id = ${id}`;
    if (!s) throw new HTTPException(404, { message: `No session "${id}"` });
    return session(s);
  });
  return app;
}
