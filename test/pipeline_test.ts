/**
 * End to end on real components: events through fauxqs into PostgreSQL, read back through the API.
 */
import assert from "node:assert/strict";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { createApp, type PipelineTotals } from "../api/mod.ts";
import { createConsumer, decodeMessage, flushEvents } from "../consumer/mod.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  metaOf,
  type SentMeta,
} from "../producer/mod.ts";
import { encodeEvent, packBody } from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig, testDatabaseUrl } from "./harness.ts";
import { startTestPipeline } from "./pipeline_support.ts";

const { embedded } = await testDatabaseUrl();

async function totals(app: ReturnType<typeof createApp>): Promise<PipelineTotals> {
  const res = await app.request("/v1/pipeline/totals");
  assert.equal(res.status, 200);
  return await res.json();
}

Deno.test("events flow producer → SQS → consumer → PostgreSQL and the API totals equal the ledger", async () => {
  const { db, q, consumer } = await startTestPipeline("w1");
  try {
    const ledger = createLedger();
    const sender = createEventSender<SentMeta>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 8192, // small, so the run spans many messages and batches
      lingerMs: 10,
      maxInflightBatches: 4,
      onAck: (m) => ledger.acked(m),
      onFail: (m) => ledger.failed(m),
    });
    const gen = createGenerator({ seed: 42, users: 50, products: 20 });
    const now = Date.now();
    const sent = [];
    for (let i = 0; i < 2000; i++) {
      const e = gen.next(now - 60_000 + i * 10);
      sent.push(e);
      await sender.send(e, metaOf("unique", e));
      if (i % 100 === 0) await sender.send({ ...e, eventId: "bogus" }, metaOf("invalid", null));
      if (i % 50 === 0) await sender.send(sent[i >> 1], metaOf("duplicate", sent[i >> 1]!));
    }
    await sender.flush();
    const expected = ledger.totals();
    assert.equal(expected.unique, 2000);
    assert.equal(expected.failed, 0);
    const app = createApp({ sql: db.sql });
    assert.ok(
      await eventually(async () => {
        const t = await totals(app);
        return t.stored + t.rejected + t.duplicates >= expected.accepted;
      }),
      "consumer did not catch up",
    );
    const t = await totals(app);
    assert.equal(t.stored, expected.unique);
    assert.deepEqual(t.byType, expected.byType);
    assert.equal(t.revenue, expected.revenue);
    assert.equal(t.rejected, expected.invalid);
    assert.equal(t.duplicates, expected.duplicates);
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from events`;
    assert.equal(count?.n, 2000);
    const rejects = await db.sql<{ reason: string }[]>`select reason from rejects`;
    assert.ok(rejects.every((r) => /eventId/.test(r.reason)));
  } finally {
    await consumer.stop();
    await q.close();
    await db.close();
  }
});

Deno.test({
  name: "a message held by two consumers at once and redelivered is counted once",
  ignore: embedded, // PGlite cannot run two transactions at once
  async fn() {
    const db = await createTestDb();
    const q = await createTestSqs();
    try {
      const gen = createGenerator({ seed: 7, users: 10, products: 5 });
      const events = Array.from({ length: 300 }, (_, i) => gen.next(Date.now() - i * 1000));
      const body = packBody(events.map(encodeEvent));
      await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: body }));
      // Receive the same message twice: the first receipt's visibility is zero, so a second
      // consumer gets it while the first still holds it.
      const receive = async () => {
        const out = await q.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: q.queueUrl,
            VisibilityTimeout: 0,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ["All"],
          }),
        );
        assert.equal(out.Messages?.length, 1);
        return out.Messages![0]!;
      };
      const a = await receive();
      const b = await receive();
      assert.equal(a.MessageId, b.MessageId);
      assert.notEqual(a.ReceiptHandle, b.ReceiptHandle);
      const window = { nowMs: Date.now(), lateHorizonMs: 86_400_000, futureSkewMs: 300_000 };
      const da = decodeMessage(a, window);
      const db2 = decodeMessage(b, window);
      const other = db.connect(2);
      const [ra, rb] = await Promise.all([
        flushEvents({ events: da.events, rejects: [], messages: 1, workerId: "a" }, {
          sql: db.sql,
        }),
        flushEvents({ events: db2.events, rejects: [], messages: 1, workerId: "b" }, {
          sql: other,
        }),
      ]);
      assert.equal(ra.stored + rb.stored, 300);
      assert.equal(ra.duplicates + rb.duplicates, 300);

      // And the same body sent twice more, consumed by two consumer processes on one queue.
      for (let i = 0; i < 2; i++) {
        await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: body }));
      }
      const config = testConfig();
      const c1 = createConsumer({
        sql: db.sql,
        sqs: q.sqs,
        queueUrl: q.queueUrl,
        config,
        workerId: "c1",
      });
      const c2 = createConsumer({
        sql: other,
        sqs: q.sqs,
        queueUrl: q.queueUrl,
        config,
        workerId: "c2",
      });
      c1.start();
      c2.start();
      const app = createApp({ sql: db.sql });
      // 300 duplicates from the two receipts above, then three more deliveries of 300 each: the
      // first message (never deleted) and the two re-sends.
      const done = await eventually(async () => (await totals(app)).duplicates >= 1200);
      await Promise.all([c1.stop(), c2.stop()]);
      assert.ok(done, "deliveries were not all processed");
      const t = await totals(app);
      assert.equal(t.stored, 300);
      assert.equal(t.duplicates, 1200);
      const [agg] = await db.sql<{ events: number }[]>`
        select sum(events)::int as events from agg_minute`;
      assert.equal(agg?.events, 300);
    } finally {
      await q.close();
      await db.close();
    }
  },
});

Deno.test("stored events keep their optional fields as a JSON object", async () => {
  const db = await createTestDb();
  try {
    const gen = createGenerator({ seed: 3, users: 5, products: 5 });
    const e = {
      ...gen.next(Date.now()),
      eventType: "search" as const,
      searchQuery: "rain 🌧 boots",
    };
    await flushEvents(
      {
        events: [{ event: e, timeMs: Date.parse(e.timestamp) }],
        rejects: [],
        messages: 1,
        workerId: "w",
      },
      { sql: db.sql },
    );
    const [row] = await db.sql<{ kind: string; q: string }[]>`
      select jsonb_typeof(attrs) as kind, attrs->>'searchQuery' as q from events`;
    assert.equal(row?.kind, "object");
    assert.equal(row?.q, "rain 🌧 boots");
  } finally {
    await db.close();
  }
});
