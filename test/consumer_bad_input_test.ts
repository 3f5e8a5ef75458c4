/**
 * Bad input never blocks good input: a poison message ends in the DLQ while its neighbours are
 * stored, invalid events end in rejects, a message that breaks the flush is isolated by bisection,
 * and the DLQ tools inspect and redrive through the same idempotent path.
 */
import assert from "node:assert/strict";
import { pipelineTotals } from "../api/mod.ts";
import { createConsumer, type FlushStage, inspectDlq, redriveDlq } from "../consumer/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendBodies,
  sendPacked,
} from "./consumer_support.ts";
import { encodeEvent, packBody } from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

Deno.test("a poison message ends in the DLQ while its neighbours are stored; invalid events go to rejects; redrive re-enters idempotently", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ maxReceiveCount: 1, visibilityTimeoutS: 5 });
  const config = testConfig({ visibilityTimeoutS: 5 });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "bad-input",
  });
  try {
    const events = makeEvents(300, 11);
    const invalid = [
      { ...events[0]!, eventId: "not-a-uuid" },
      { ...events[1]!, eventType: "teleport" },
      { hello: "world" },
    ];
    await sendPacked(q.sqs, q.queueUrl, events.slice(0, 150), 50);
    await sendBodies(q.sqs, q.queueUrl, ["not json at all {", "[1,"]);
    await sendPacked(q.sqs, q.queueUrl, [...events.slice(150), ...invalid], 51);
    consumer.start();
    assert.ok(
      await eventually(async () =>
        (await inspectDlq({ sqs: q.sqs, dlqUrl: q.dlqUrl, sample: 0 }))
          .approximateCount >= 2, 30_000),
      "poison messages did not reach the DLQ",
    );
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 300));
    await assertTotals(db.sql, expectedOf(events));
    const t = await pipelineTotals({ sql: db.sql });
    assert.equal(t.rejected, 3);
    const reasons = await db.sql<{ reason: string; payload: string }[]>`
      select reason, payload from rejects order by event_index`;
    assert.ok(reasons.some((r) => r.payload.includes("teleport")));
    assert.ok(consumer.stats.poison >= 2);

    const report = await inspectDlq({ sqs: q.sqs, dlqUrl: q.dlqUrl, sample: 5, bodyChars: 8 });
    assert.equal(report.approximateCount, 2);
    assert.equal(report.samples.length, 2);
    assert.ok(report.samples.some((s) => s.body.startsWith("not json")));
    assert.ok(report.samples.every((s) => s.receiveCount >= 1 && s.bytes > 0));
    assert.ok(report.oldestSentAt !== null);

    // A valid message that ended up in the DLQ (twice) goes back and is stored once.
    const extra = makeEvents(40, 12);
    const body = packBody(extra.map(encodeEvent));
    await sendBodies(q.sqs, q.dlqUrl, [body, body]);
    const result = await redriveDlq({
      sqs: q.sqs,
      dlqUrl: q.dlqUrl,
      queueUrl: q.queueUrl,
      ratePerS: 50,
    });
    assert.equal(result.moved, 4);
    assert.equal(result.failed, 0);
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 340));
    // ... and the poison comes back to the DLQ by itself.
    assert.ok(
      await eventually(async () =>
        (await inspectDlq({ sqs: q.sqs, dlqUrl: q.dlqUrl, sample: 0 }))
          .approximateCount >= 2, 30_000),
    );
    assert.ok(
      await eventually(async () => (await pipelineTotals({ sql: db.sql })).duplicates >= 40),
    );
    await consumer.stop();
    await assertTotals(db.sql, expectedOf([...events, ...extra]));
    assert.equal((await pipelineTotals({ sql: db.sql })).duplicates, 40);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test("a message that makes the flush fail for good is isolated by bisection; the rest is stored", async () => {
  const db = await createTestDb();
  const q = await createTestSqs({ maxReceiveCount: 1, visibilityTimeoutS: 5 });
  const events = makeEvents(160, 21);
  const bad = events[90]!.eventId; // in the fifth message of twenty events
  let failures = 0;
  const breaksOnBad: FlushStage = ({ inserted }) => {
    if (inserted.some((e) => e.event.eventId === bad)) {
      failures++;
      return Promise.reject(new Error(`Stage cannot handle event "${bad}"`));
    }
    return Promise.resolve();
  };
  // One big flush for all eight messages, so the failure has to be narrowed down.
  const config = testConfig({ visibilityTimeoutS: 5, flushMaxMs: 1500, flushMaxEvents: 1000 });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "bisect",
    stages: [breaksOnBad],
  });
  try {
    await sendPacked(q.sqs, q.queueUrl, events, 20);
    consumer.start();
    assert.ok(await eventually(async () => (await pipelineTotals({ sql: db.sql })).stored >= 140));
    assert.ok(
      await eventually(
        async () =>
          (await inspectDlq({ sqs: q.sqs, dlqUrl: q.dlqUrl, sample: 0 })).approximateCount === 1,
        30_000,
      ),
    );
    await consumer.stop();
    assert.equal(await queueDepth(q.sqs, q.queueUrl), 0);
    await assertTotals(db.sql, expectedOf(events.filter((_, i) => i < 80 || i >= 100)));
    assert.ok(failures >= 1);
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});
