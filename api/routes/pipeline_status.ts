/**
 * `GET /v1/pipeline/status`: how the pipeline is doing right now — queue and DLQ depth (SQS
 * GetQueueAttributes), age of the oldest message (CloudWatch when configured, else estimated from
 * the consumers' lag, and the answer says which), in-flight work, consumer throughput, end-to-end
 * lag, rejects and late events. Consumers report through the `consumer_status` table; while it does
 * not exist (before its migration) `consumers` is simply empty.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { readQueueDepth, type Sql, type SQSClient } from "../../shared/mod.ts";
import { problemResponses } from "../problem.ts";

/** A consumer whose row was not updated for this long is reported but not counted. */
export const STALE_CONSUMER_MS = 30_000;

const QueueDepthSchema = z.object({
  visible: z.int().openapi({ description: "ApproximateNumberOfMessages" }),
  inFlight: z.int().openapi({ description: "ApproximateNumberOfMessagesNotVisible" }),
  delayed: z.int().openapi({ description: "ApproximateNumberOfMessagesDelayed" }),
});

const ConsumerSchema = z.object({
  workerId: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  stale: z.boolean(),
  inflightMessages: z.int(),
  inflightEvents: z.int(),
  lagMs: z.number().nullable(),
  eventsPerS: z.number(),
  stored: z.number(),
  duplicates: z.number(),
});

export const PipelineStatusSchema = z.object({
  time: z.string(),
  queue: QueueDepthSchema.nullable(),
  dlq: QueueDepthSchema.nullable(),
  oldestMessageAgeS: z.number().nullable(),
  oldestMessageAgeSource: z.enum(["cloudwatch", "consumer_lag_estimate", "unavailable"]).openapi({
    description: "SQS has no age attribute: CloudWatch's ApproximateAgeOfOldestMessage when " +
      "configured, else the largest lag a live consumer reported",
  }),
  inFlight: z.object({
    messages: z.int().nullable().openapi({ description: "Received, not yet deleted (SQS)" }),
    consumerEvents: z.int().openapi({ description: "Events held by live consumers" }),
  }),
  throughput: z.object({
    eventsPerS: z.number().openapi({ description: "Sum over live consumers" }),
    storedLastMinute: z.int().openapi({ description: "Stored during the last complete minute" }),
  }),
  endToEndLagMs: z.number().nullable().openapi({
    description: "Largest lag of a live consumer (now − SentTimestamp of its oldest message)",
  }),
  rejects: z.object({ invalid: z.int(), tooOld: z.int(), tooNew: z.int() }),
  lateEvents: z.int().openapi({
    description: "Events outside the accepted event-time range (too old + too new)",
  }),
  derived: z.object({
    lagMs: z.number().openapi({
      description: "Age of the oldest committed batch whose derived state (sessions, features, " +
        "fraud, inventory, orders) is not computed yet; 0 when none waits",
    }),
    pendingBatches: z.int(),
  }),
  consumers: z.array(ConsumerSchema),
  problems: z.array(z.string()).openapi({ description: "Sources that could not be read" }),
}).openapi("PipelineStatus");
export type PipelineStatus = z.infer<typeof PipelineStatusSchema>;

export const pipelineStatusRoute = createRoute({
  method: "get",
  path: "/v1/pipeline/status",
  tags: ["pipeline"],
  summary: "Queue depth, lag, throughput and rejects",
  security: [{ ApiKey: [] }],
  responses: {
    200: {
      description: "Current status",
      content: { "application/json": { schema: PipelineStatusSchema } },
    },
    ...problemResponses(401, 403, 429),
  },
});

export interface PipelineStatusDeps {
  sql: Sql;
  sqs?: SQSClient;
  queueUrl?: string;
  dlqUrl?: string;
  /** CloudWatch's ApproximateAgeOfOldestMessage in seconds, when configured. */
  oldestMessageAgeS?: () => Promise<number | null>;
  now?: () => number;
}

type QueueDepth = z.infer<typeof QueueDepthSchema>;

async function queueDepth(sqs: SQSClient, url: string): Promise<QueueDepth> {
  const d = await readQueueDepth(sqs, url, AbortSignal.timeout(3000));
  return { visible: d.visible, inFlight: d.notVisible, delayed: d.delayed };
}

interface ConsumerRow {
  worker_id: string;
  started_at: Date;
  updated_at: Date;
  inflight_messages: number;
  inflight_events: number;
  lag_ms: number | null;
  events_per_s: number;
  stored: number;
  duplicates: number;
}

async function readConsumers(sql: Sql): Promise<ConsumerRow[]> {
  const [t] = await sql<{ present: boolean }[]>`
    select to_regclass('consumer_status') is not null as present`;
  if (!t?.present) return [];
  return await sql<ConsumerRow[]>`
    select worker_id, started_at, updated_at, inflight_messages, inflight_events, lag_ms,
           events_per_s, stored, duplicates
    from consumer_status order by worker_id`;
}

/** Reads every source in parallel; a source that fails is named in `problems`, not fatal. */
export async function pipelineStatus(
  _input: Record<string, never>,
  deps: PipelineStatusDeps,
): Promise<PipelineStatus> {
  const { sql, sqs } = deps;
  const nowMs = (deps.now ?? Date.now)();
  const problems: string[] = [];
  const soft = <T>(what: string, p: Promise<T>, fallback: T): Promise<T> =>
    p.catch((err) => {
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return fallback;
    });
  const [queue, dlq, consumers, rejects, lastMinute, cloudAge, derived] = await Promise.all([
    sqs && deps.queueUrl ? soft("queue", queueDepth(sqs, deps.queueUrl), null) : null,
    sqs && deps.dlqUrl ? soft("dlq", queueDepth(sqs, deps.dlqUrl), null) : null,
    readConsumers(sql),
    sql<
      { kind: string; n: number }[]
    >`select kind, count(*)::bigint as n from rejects group by kind`,
    sql<{ stored: number }[]>`
      select coalesce(sum(stored), 0)::bigint as stored from ingest_stats
      where bucket = date_trunc('minute', now()) - interval '1 minute'`,
    deps.oldestMessageAgeS ? soft("cloudwatch", deps.oldestMessageAgeS(), null) : null,
    sql<{ lag_ms: number | null; n: number }[]>`
      select (extract(epoch from clock_timestamp() - min(created_at)) * 1000)::float8 as lag_ms,
             count(*)::int as n
      from core_batches`,
  ]);
  const out = consumers.map((r) => ({
    workerId: r.worker_id,
    startedAt: r.started_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    stale: nowMs - r.updated_at.getTime() > STALE_CONSUMER_MS,
    inflightMessages: r.inflight_messages,
    inflightEvents: r.inflight_events,
    lagMs: r.lag_ms,
    eventsPerS: r.events_per_s,
    stored: r.stored,
    duplicates: r.duplicates,
  }));
  const live = out.filter((c) => !c.stale);
  const lags = live.map((c) => c.lagMs).filter((l): l is number => l !== null);
  const lagMs = lags.length > 0 ? Math.max(...lags) : null;
  const kind = (k: string) => rejects.find((r) => r.kind === k)?.n ?? 0;
  let ageS: number | null = null;
  let source: PipelineStatus["oldestMessageAgeSource"] = "unavailable";
  if (cloudAge !== null) {
    ageS = cloudAge;
    source = "cloudwatch";
  } else if (lagMs !== null) {
    ageS = lagMs / 1000;
    source = "consumer_lag_estimate";
  }
  return {
    time: new Date(nowMs).toISOString(),
    queue,
    dlq,
    oldestMessageAgeS: ageS,
    oldestMessageAgeSource: source,
    inFlight: {
      messages: queue?.inFlight ?? null,
      consumerEvents: live.reduce((s, c) => s + c.inflightEvents, 0),
    },
    throughput: {
      eventsPerS: live.reduce((s, c) => s + c.eventsPerS, 0),
      storedLastMinute: lastMinute[0]?.stored ?? 0,
    },
    endToEndLagMs: lagMs,
    rejects: { invalid: kind("invalid"), tooOld: kind("too_old"), tooNew: kind("too_new") },
    lateEvents: kind("too_old") + kind("too_new"),
    derived: {
      lagMs: Math.max(0, Math.round(derived[0]?.lag_ms ?? 0)),
      pendingBatches: derived[0]?.n ?? 0,
    },
    consumers: out,
    problems,
  };
}
