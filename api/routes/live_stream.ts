/**
 * `GET /v1/stream`: server-sent events. Every client subscribes to the app's shared pollers and
 * gets their frames (`event: metrics`, about once a second; `event: view`, the dashboard's default
 * view, every few seconds) and heartbeat comments. A client
 * that has not taken the previous frame yet skips the next one instead of queueing it, so a slow
 * reader costs no memory. Disconnecting unsubscribes; the last one out stops the poller.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { LivePoller } from "../live_poller.ts";
import { problemResponses } from "../problem.ts";

export const liveStreamRoute = createRoute({
  method: "get",
  path: "/v1/stream",
  tags: ["pipeline"],
  summary: "Live metrics as server-sent events",
  description: "`event: metrics` frames whose data is `{ time, status: PipelineStatus, totals: " +
    "PipelineTotals }`, at least once a second; `event: view` frames (every few seconds) holding " +
    "the dashboard's default view: the answers of the analytics reads for window 1m over the " +
    "last hour without filters, computed once for every subscriber; `: heartbeat` comment lines.",
  security: [{ ApiKey: [] }],
  responses: {
    200: {
      description: "An event stream",
      content: { "text/event-stream": { schema: z.string() } },
    },
    ...problemResponses(401, 403, 429),
  },
});

export function liveStream(
  c: Context,
  deps: { poller: LivePoller; view?: LivePoller },
): Response {
  return streamSSE(c, async (stream) => {
    await stream.write("retry: 3000\n: connected\n\n");
    const unsubscribe: (() => void)[] = [];
    await new Promise<void>((resolve) => {
      stream.onAbort(resolve);
      // One pending write per poller: a slow reader skips frames of a kind instead of queueing.
      const listenerOf = () => {
        let busy = false;
        return (frame: string | null) => {
          if (frame === null) return resolve();
          if (busy || stream.aborted || stream.closed) return;
          busy = true;
          stream.write(frame).then(() => busy = false, resolve);
        };
      };
      unsubscribe.push(deps.poller.subscribe(listenerOf()));
      if (deps.view) unsubscribe.push(deps.view.subscribe(listenerOf()));
    });
    for (const u of unsubscribe) u();
  });
}
