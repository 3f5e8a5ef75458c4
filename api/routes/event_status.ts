/**
 * `GET /v1/events/{eventId}`: where one event stands (seed 004's event status) — stored (with its
 * data, IP cut to its network and user agent left out), rejected by a consumer (with the reason),
 * or not seen (404). Events refused by `POST /v1/events` never reach the queue, so they are "not
 * seen" here; the POST answer already named their reason.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type RawEventRow, rowToEvent, type Sql } from "../../shared/mod.ts";
import { redactIp } from "../redact.ts";
import { ApiProblem, problemResponses } from "../problem.ts";

export const EventStatusSchema = z.object({
  eventId: z.string(),
  status: z.enum(["stored", "rejected"]),
  receivedAt: z.string().openapi({ description: "When a consumer stored or rejected it" }),
  event: z.record(z.string(), z.unknown()).optional().openapi({
    description: "The stored event in the contract's field names; ipAddress is replaced by " +
      "ipNetwork (/24 or /48) and userAgent is omitted",
  }),
  rejection: z.object({
    kind: z.enum(["invalid", "too_old", "too_new"]),
    reason: z.string(),
    eventType: z.string().nullable(),
    times: z.int().openapi({ description: "How many deliveries of it were rejected" }),
  }).optional(),
}).openapi("EventStatus");
export type EventStatus = z.infer<typeof EventStatusSchema>;

export const eventStatusRoute = createRoute({
  method: "get",
  path: "/v1/events/{eventId}",
  tags: ["events"],
  summary: "Status of one event",
  security: [{ ApiKey: [] }],
  request: {
    params: z.object({
      eventId: z.string().min(1).max(128).openapi({
        param: { name: "eventId", in: "path" },
        example: "3f1c2a4e-9b7d-4c1e-8f0a-2b3c4d5e6f70",
      }),
    }),
  },
  responses: {
    200: {
      description: "Stored or rejected",
      content: { "application/json": { schema: EventStatusSchema } },
    },
    ...problemResponses(400, 401, 403, 404, 429),
  },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type EventRow = RawEventRow & { received_at: Date };

/** Looks the event up in `events`, then in `rejects`; throws a 404 problem when neither has it. */
export async function eventStatus(
  input: { eventId: string },
  deps: { sql: Sql },
): Promise<EventStatus> {
  const { sql } = deps;
  if (UUID.test(input.eventId)) {
    // The id's claim (event_ids, current and previous dedupe generation) names its batch and
    // time: the raw row is then one partition and a few BRIN ranges away.
    const [row] = await sql<EventRow[]>`
      select e.* from event_ids i
      join events e on e.event_time = i.event_time and e.batch_id = i.batch_id
        and e.event_id = i.event_id
      where i.event_id = ${input.eventId}::uuid
        and i.gen in (dedupe_generation(now()), dedupe_generation(now()) - 1)
      order by e.received_at limit 1`;
    if (row) {
      return {
        eventId: row.event_id,
        status: "stored",
        receivedAt: row.received_at.toISOString(),
        event: storedEvent(row),
      };
    }
  }
  const rejects = await sql<
    {
      kind: "invalid" | "too_old" | "too_new";
      reason: string;
      event_type: string | null;
      received_at: Date;
      times: number;
    }[]
  >`
    select kind, reason, event_type, received_at, count(*) over ()::int as times
    from rejects where event_id = ${input.eventId}
    order by received_at desc limit 1`;
  const r = rejects[0];
  if (r) {
    return {
      eventId: input.eventId,
      status: "rejected",
      receivedAt: r.received_at.toISOString(),
      rejection: { kind: r.kind, reason: r.reason, eventType: r.event_type, times: r.times },
    };
  }
  throw new ApiProblem(404, `No event "${input.eventId}" has been stored or rejected`);
}

function storedEvent(row: EventRow): Record<string, unknown> {
  // The user agent is not shown, and the address only as its network.
  const { userAgent: _ua, ipAddress: _ip, ...e } = rowToEvent(row) as unknown as Record<
    string,
    unknown
  >;
  const network = redactIp(row.ip_address);
  if (network !== null) e.ipNetwork = network;
  return e;
}
