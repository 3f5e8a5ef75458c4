/** Shared pieces of the consumer tests (and benchmarks): sending packed events and what the totals must then be. */
import assert from "node:assert/strict";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { pipelineTotals } from "../api/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import {
  encodeEvent,
  type Event,
  packBody,
  readQueueDepth,
  revenueCents,
  type Sql,
} from "../shared/mod.ts";

/** What `pipelineTotals` must report for these unique events. */
export interface Expected {
  stored: number;
  byType: Record<string, number>;
  revenue: number;
}

/** `n` valid events of the behaviour model, spread over the last few minutes. */
export function makeEvents(n: number, seed = 1): Event[] {
  const gen = createGenerator({ seed, users: 200, products: 50 });
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => gen.next(now - 120_000 + Math.floor(i * 60_000 / n)));
}

export function expectedOf(events: readonly Event[]): Expected {
  const byType: Record<string, number> = {};
  let cents = 0;
  for (const e of events) {
    byType[e.eventType] = (byType[e.eventType] ?? 0) + 1;
    cents += revenueCents(e);
  }
  return { stored: events.length, byType, revenue: cents / 100 };
}

/** Packs `perMessage` events per body and sends them, ten messages per batch. */
export async function sendPacked(
  sqs: SQSClient,
  queueUrl: string,
  values: readonly unknown[],
  perMessage: number,
): Promise<number> {
  const bodies: string[] = [];
  for (let i = 0; i < values.length; i += perMessage) {
    bodies.push(packBody(values.slice(i, i + perMessage).map(encodeEvent)));
  }
  await sendBodies(sqs, queueUrl, bodies);
  return bodies.length;
}

/** Sends raw bodies, ten per `SendMessageBatch`, failing the test on any refused entry. */
export async function sendBodies(sqs: SQSClient, queueUrl: string, bodies: readonly string[]) {
  for (let i = 0; i < bodies.length; i += 10) {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: String(j), MessageBody: b })),
      }),
    );
    assert.equal(out.Failed?.length ?? 0, 0, JSON.stringify(out.Failed));
  }
}

/** Asserts that the stored totals equal what was sent (counts by type and revenue). */
export async function assertTotals(sql: Sql, expected: Expected): Promise<void> {
  const t = await pipelineTotals({ sql });
  assert.equal(t.stored, expected.stored, "stored");
  assert.deepEqual(t.byType, expected.byType);
  assert.equal(t.revenue, expected.revenue, "revenue");
  const [raw] = await sql<{ n: number }[]>`select count(*)::int as n from events`;
  assert.equal(raw?.n, expected.stored, "raw events");
}

/** Whether the stored count reached `n`. */
export async function storedAtLeast(sql: Sql, n: number): Promise<boolean> {
  const t = await pipelineTotals({ sql });
  return t.stored >= n;
}

/** The number of messages in a queue, visible or in flight. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const depth = await readQueueDepth(sqs, queueUrl);
  return depth.visible + depth.notVisible;
}
