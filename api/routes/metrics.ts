/** `GET /metrics`: Prometheus text from `deps.metrics` (the monitoring module supplies it). */
import { createRoute, z } from "@hono/zod-openapi";
import { ApiProblem, problemResponses } from "../problem.ts";

export const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics",
  responses: {
    200: {
      description: "Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
    ...problemResponses(404),
  },
});

export async function metricsText(
  _input: Record<string, never>,
  deps: { metrics?: () => Promise<string> },
): Promise<string> {
  if (!deps.metrics) throw new ApiProblem(404, "Metrics are not configured in this process");
  return await deps.metrics();
}
