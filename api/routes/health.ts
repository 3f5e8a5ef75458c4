/**
 * `GET /health`: the process is up. `GET /ready`: its database answers and its queue answers
 * GetQueueAttributes (an API without a queue is ready when its database is; `queue` is then null).
 */
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { createRoute, z } from "@hono/zod-openapi";
import type { Sql, SQSClient } from "../../shared/mod.ts";

export const HealthSchema = z.object({ status: z.literal("ok") }).openapi("Health");
export const ReadySchema = z.object({
  status: z.enum(["ok", "unavailable"]),
  database: z.boolean(),
  queue: z.boolean().nullable(),
}).openapi("Ready");
export type Ready = z.infer<typeof ReadySchema>;

export const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["operations"],
  summary: "Liveness",
  responses: {
    200: { description: "Up", content: { "application/json": { schema: HealthSchema } } },
  },
});

export const readyRoute = createRoute({
  method: "get",
  path: "/ready",
  tags: ["operations"],
  summary: "Readiness: database and queue reachable",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: ReadySchema } } },
    503: { description: "Not ready", content: { "application/json": { schema: ReadySchema } } },
  },
});

export function health(): { status: "ok" } {
  return { status: "ok" };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function ready(
  deps: { sql: Sql; sqs?: SQSClient; queueUrl?: string; timeoutMs?: number },
): Promise<Ready> {
  const timeoutMs = deps.timeoutMs ?? 2000;
  const database = withTimeout(deps.sql`select 1`, timeoutMs).then(() => true, () => false);
  const { sqs, queueUrl } = deps;
  const queue = sqs && queueUrl
    ? sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
      { abortSignal: AbortSignal.timeout(timeoutMs) },
    ).then(() => true, () => false)
    : Promise.resolve(null);
  const [db, q] = await Promise.all([database, queue]);
  return { status: db && q !== false ? "ok" : "unavailable", database: db, queue: q };
}
