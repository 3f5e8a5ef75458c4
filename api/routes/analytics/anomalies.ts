/** `GET /v1/anomalies`: what the anomaly stage detected, newest first, with its reasons. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { iso, Limit } from "./_common.ts";
import { type AnalyticsDeps, inSpan, readRoutes, Span } from "./_read_routes.ts";

const Anomalies = z.object({
  anomalies: z.array(z.object({
    anomalyId: z.number(),
    kind: z.string(),
    series: z.string(),
    bucket: z.string(),
    value: z.number(),
    baseline: z.number().nullable(),
    zScore: z.number().nullable(),
    reason: z.string(),
    detectedAt: z.string(),
  })),
}).openapi("Anomalies");

/** The anomaly route, to mount at `/v1/anomalies`. */
export function anomalyRoutes<E extends Env>(deps: AnalyticsDeps): OpenAPIHono<E> {
  const { sql } = deps;
  const { app, get } = readRoutes<E>(deps.cache);
  get({
    path: "/",
    summary: "Detected anomalies, newest first",
    query: z.object({
      kind: z.string().min(1).max(64).optional(),
      ...Span.shape,
      limit: Limit(500, 100),
    }),
    body: Anomalies,
    bodyDescription: "Anomalies with their reasons",
    cached: true,
  }, async ({ query: q }) => {
    const kind = q.kind ?? null;
    const rows = await sql<
      {
        anomaly_id: number;
        kind: string;
        series: string;
        bucket: Date;
        value: number;
        baseline: number | null;
        z_score: number | null;
        reason: string;
        detected_at: Date;
      }[]
    >`
      select * from anomalies
      where (${kind}::text is null or kind = ${kind}) ${inSpan(sql, "bucket", q)}
      order by bucket desc, anomaly_id desc limit ${q.limit}`;
    return {
      anomalies: rows.map((x) => ({
        anomalyId: x.anomaly_id,
        kind: x.kind,
        series: x.series,
        bucket: x.bucket.toISOString(),
        value: x.value,
        baseline: x.baseline,
        zScore: x.z_score,
        reason: x.reason,
        detectedAt: iso(x.detected_at)!,
      })),
    };
  });
  return app;
}
