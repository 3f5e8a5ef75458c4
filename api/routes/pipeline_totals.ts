/** `GET /v1/pipeline/totals`: what the pipeline has stored, in the shape the producer's ledger has. */
import { createRoute, z } from "@hono/zod-openapi";
import { type PipelineTotals as Totals, pipelineTotals } from "../../shared/mod.ts";
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
export type PipelineTotals = Totals;

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

/** The running sums of the core flush (shared/pipeline_totals.ts): constant time. */
export { pipelineTotals };
