/** `GET /v1/pipeline/totals`: what the pipeline has stored, in the shape the producer's ledger has. */
import { createRoute, z } from "@hono/zod-openapi";
import type { Sql } from "../../shared/mod.ts";
import { problemResponses } from "../problem.ts";

export const PipelineTotalsSchema = z.object({
  stored: z.number(),
  byType: z.record(z.string(), z.number()),
  revenue: z.number().openapi({ description: "Sum of purchase revenue in currency units" }),
  rejected: z.number(),
  duplicates: z.number(),
  tooOld: z.number(),
  tooNew: z.number(),
}).openapi("PipelineTotals");
export type PipelineTotals = z.infer<typeof PipelineTotalsSchema>;

export const pipelineTotalsRoute = createRoute({
  method: "get",
  path: "/v1/pipeline/totals",
  tags: ["pipeline"],
  summary: "Totals stored, in the shape of the producer's ledger",
  security: [{ ApiKey: [] }],
  responses: {
    200: {
      description: "Totals",
      content: { "application/json": { schema: PipelineTotalsSchema } },
    },
    ...problemResponses(401, 403, 429),
  },
});

/** Reads the totals from the aggregates and counters the consumers wrote, not from raw rows. */
export async function pipelineTotals(deps: { sql: Sql }): Promise<PipelineTotals> {
  const { sql } = deps;
  const [types, rejects, stats] = await Promise.all([
    sql<{ event_type: string; events: number; revenue_cents: number }[]>`
      select event_type, sum(events)::bigint as events, sum(revenue_cents)::bigint as revenue_cents
      from agg_minute group by event_type order by event_type`,
    sql<{ kind: string; n: number }[]>`
      select kind, count(*)::bigint as n from rejects group by kind`,
    sql<{ duplicates: number }[]>`
      select coalesce(sum(duplicates), 0)::bigint as duplicates from ingest_stats`,
  ]);
  const byType: Record<string, number> = {};
  let stored = 0;
  let cents = 0;
  for (const t of types) {
    byType[t.event_type] = t.events;
    stored += t.events;
    if (t.event_type === "purchase") cents += t.revenue_cents;
  }
  const kind = (k: string) => rejects.find((r) => r.kind === k)?.n ?? 0;
  return {
    stored,
    byType,
    revenue: cents / 100,
    rejected: kind("invalid"),
    duplicates: stats[0]?.duplicates ?? 0,
    tooOld: kind("too_old"),
    tooNew: kind("too_new"),
  };
}
