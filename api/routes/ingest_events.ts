/**
 * `POST /v1/events`: one event or an array of up to 500 (1 MiB at most). Each is mapped from seed
 * 003's snake_case aliases, validated with the shared schema and, when valid, enqueued; invalid
 * ones are reported by index and never enqueued. 202 means SQS acknowledged every accepted event.
 */
import { z } from "@hono/zod-openapi";
import {
  decodeEvent,
  decodeUtf8,
  type EventContract,
  parseEventBatch,
  PoisonMessageError,
} from "../../shared/mod.ts";
import type { EventIngestor } from "../event_ingestor.ts";
import { ApiProblem, problemResponses } from "../problem.ts";

export const MAX_EVENTS_PER_REQUEST = 500;
export const MAX_BODY_BYTES = 1_048_576;

export const IngestResultSchema = z.object({
  accepted: z.int().openapi({ description: "Events enqueued (SQS acknowledged them)" }),
  rejected: z.int().openapi({ description: "Events refused; see errors" }),
  errors: z.array(z.object({
    index: z.int().openapi({ description: "Position in the request (0 for a single event)" }),
    reason: z.string(),
  })),
  eventIds: z.array(z.string().nullable()).openapi({
    description: "Each event's id in request order: the eventId sent, or the one derived from " +
      "the event's content when none was sent (find it with GET /v1/events/{id}); null for a " +
      "refused event",
  }),
}).openapi("IngestResult");
export type IngestResult = z.infer<typeof IngestResultSchema>;

/** The OpenAPI description of the route (documented by hand: validation is per event, below). */
export const ingestEventsDoc = {
  method: "post" as const,
  path: "/v1/events",
  tags: ["ingestion"],
  summary: "Ingest one event or a batch",
  description:
    `Accepts one event or an array of at most ${MAX_EVENTS_PER_REQUEST} events (body at most 1 MiB). ` +
    "Each event is validated on its own against the Event schema (docs/event-contract.md): " +
    "eventType, userId and timestamp are required, and price and quantity on a purchase; " +
    "snake_case names (user_id, event_type, custom_properties, …), top-level country/region and " +
    "event type names such as `click` are accepted as aliases; unknown fields are kept in " +
    "properties. An event without eventId gets one derived from its content, so an exact retry " +
    "is still stored once. With EVENT_CONTRACT=strict every field of the strict schema is " +
    "required. Answers 202 once SQS acknowledged every valid event; " +
    "invalid events are listed by index and not enqueued. Scope: ingest.",
  security: [{ ApiKey: [] }],
  request: {
    query: z.object({
      key: z.string().optional().openapi({
        description: "A publishable key (spk_…) for browsers, which cannot set headers on " +
          "sendBeacon; accepted on this route only, from the key's listed origins",
      }),
    }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: {
            oneOf: [
              { $ref: "#/components/schemas/Event" },
              {
                type: "array" as const,
                maxItems: MAX_EVENTS_PER_REQUEST,
                items: { $ref: "#/components/schemas/Event" },
              },
            ],
          },
        },
      },
    },
  },
  responses: {
    202: {
      description: "Valid events are in the queue",
      content: { "application/json": { schema: IngestResultSchema } },
    },
    ...problemResponses(400, 401, 403, 413, 415, 429, 503),
  },
};

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The body's untrusted event values, through the shared decode path: the content type must be
 * JSON (415 otherwise), the bytes UTF-8 (a 400 naming the problem, never U+FFFD), the text one
 * event or an array of events (400).
 */
export function parseIngestBody(bytes: Uint8Array, contentType: string | undefined): unknown[] {
  if (!JSON_TYPE.test(contentType ?? "")) {
    throw new ApiProblem(
      415,
      `The body must be application/json, not "${(contentType ?? "(none)").slice(0, 100)}"`,
    );
  }
  const charset = /;\s*charset\s*=\s*"?([\w-]+)/i.exec(contentType ?? "")?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new ApiProblem(415, `The body must be UTF-8, not charset "${charset.slice(0, 40)}"`);
  }
  try {
    return parseEventBatch(decodeUtf8(bytes));
  } catch (err) {
    if (err instanceof PoisonMessageError) throw new ApiProblem(400, err.message);
    throw err;
  }
}

/** Validates and enqueues the events of one request body. */
export async function ingestEvents(
  input: { items: readonly unknown[] },
  deps: { ingestor: EventIngestor | undefined; contract?: EventContract },
): Promise<IngestResult> {
  if (!deps.ingestor) {
    throw new ApiProblem(503, "Ingestion is not configured: this API has no queue");
  }
  const items = input.items;
  if (items.length > MAX_EVENTS_PER_REQUEST) {
    throw new ApiProblem(
      413,
      `A request may carry at most ${MAX_EVENTS_PER_REQUEST} events; this one has ${items.length}`,
    );
  }
  const errors: { index: number; reason: string }[] = [];
  const eventIds: (string | null)[] = items.map(() => null);
  const batch = deps.ingestor.begin();
  for (const [index, item] of items.entries()) {
    const v = decodeEvent(item, deps.contract);
    if (!v.ok) {
      errors.push({ index, reason: v.reason });
      continue;
    }
    try {
      await batch.add(v.event);
      eventIds[index] = v.event.eventId;
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      errors.push({ index, reason: err.message });
    }
  }
  const { enqueued, failed } = await batch.commit();
  if (failed > 0) {
    throw new ApiProblem(
      503,
      `The queue did not accept ${failed} of ${
        enqueued + failed
      } events; retry the request (event ids make a retry harmless)`,
      { headers: { "retry-after": "5" }, extensions: { enqueued, failed } },
    );
  }
  return { accepted: enqueued, rejected: errors.length, errors, eventIds };
}
