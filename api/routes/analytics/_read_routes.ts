/**
 * The one shape of every analytics read, so each resource's sub-app states only what differs: the
 * OpenAPI description (200 body, the 400 problem, a 404 where the read can miss), validated path
 * and query parameters (a bad one is a 400 problem through `badRequest`), the computation, and the
 * answer as JSON. A `cached` read is served through the response cache under its route pattern and
 * canonical query (ETag, `Cache-Control: max-age=1`, single flight); the others answer directly.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, Env } from "hono";
import { routePath } from "hono/route";
import type { Sql } from "../../../shared/mod.ts";
import { Datetime } from "../../params.ts";
import { respond, type ResponseCache } from "../../response_cache.ts";
import type { PlanOptions } from "./_planner.ts";
import { badRequest, errors } from "./_common.ts";

/** What every analytics sub-app is built from. */
export interface AnalyticsDeps {
  sql: Sql;
  /** Serves the cached reads (without one, they are computed per request, same headers). */
  cache?: ResponseCache;
  /** Planner limits (tests force each grain). */
  plan?: PlanOptions;
}

/** An optional span of time (`from` inclusive, `to` exclusive), bounded as timestamptz is. */
export const Span = z.object({ from: Datetime.optional(), to: Datetime.optional() });

/** `and <column> in [from, to)`, each bound only when given. */
export function inSpan(sql: Sql, column: string, span: z.infer<typeof Span>) {
  const from = span.from ?? null, to = span.to ?? null;
  return sql`
    and (${from}::timestamptz is null or ${sql(column)} >= ${from})
    and (${to}::timestamptz is null or ${sql(column)} < ${to})`;
}

const notFound = {
  404: {
    description: "Not found",
    content: { "application/problem+json": { schema: z.object({ detail: z.string() }) } },
  },
};

export interface ReadRoute<P, Q> {
  /** The path inside the resource's sub-app, OpenAPI style (`/{id}/sessions`). */
  path: string;
  summary: string;
  description?: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  /** The 200 body's schema and its description. */
  body: z.ZodType;
  bodyDescription: string;
  /** The read may throw a 404 `HTTPException`: documents the problem response. */
  notFound?: boolean;
  /** Serve through the response cache. */
  cached?: boolean;
  /** The query as the cache key and the computation see it (`from`/`to` resolved and rounded). */
  canonical?: (query: Q) => Q;
}

/** The parameters a read is computed from, validated. */
export interface ReadInput<P, Q> {
  param: P;
  query: Q;
}

/** A resource's sub-app and the one way to add a read route to it. */
export function readRoutes<E extends Env>(cache: ResponseCache | undefined): {
  app: OpenAPIHono<E>;
  get<P = Record<string, never>, Q = Record<string, never>>(
    route: ReadRoute<P, Q>,
    compute: (input: ReadInput<P, Q>) => Promise<unknown>,
  ): void;
} {
  const app = new OpenAPIHono<E>();
  const get = <P, Q>(
    route: ReadRoute<P, Q>,
    compute: (input: ReadInput<P, Q>) => Promise<unknown>,
  ) => {
    const request = {
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { query: route.query } : {}),
    };
    const responses = {
      200: {
        description: route.bodyDescription,
        content: { "application/json": { schema: route.body } },
      },
      ...errors,
      ...(route.notFound ? notFound : {}),
    };
    app.openapi(
      createRoute({
        method: "get",
        path: route.path,
        summary: route.summary,
        ...(route.description !== undefined ? { description: route.description } : {}),
        request: request as never,
        responses,
      }),
      (async (c: Context) => {
        const valid = (c.req as unknown as { valid(target: "param" | "query"): unknown }).valid;
        const param = (route.params ? valid.call(c.req, "param") : {}) as P;
        const raw = (route.query ? valid.call(c.req, "query") : {}) as Q;
        const query = route.canonical ? route.canonical(raw) : raw;
        if (!route.cached) return c.json(await compute({ param, query }) as never, 200);
        // The route pattern (`/v1/top/products`), as mounted: one cache entry per read and query.
        const key = query as Readonly<Record<string, unknown>>;
        return await respond(c, cache, routePath(c), key, () => compute({ param, query }));
      }) as never,
      badRequest,
    );
  };
  return { app, get };
}
