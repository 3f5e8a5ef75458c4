/**
 * The server client (producer/client/mod.ts) end to end: events sent through it go into fauxqs packed many
 * to a message, a consumer stores them in PostgreSQL, and they are read back; an invalid event is
 * refused in `send()` and never reaches the queue.
 */
import assert from "node:assert/strict";
import { createServerClient, InvalidEventError } from "../producer/client/mod.ts";
import { createConsumer } from "../consumer/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

Deno.test("events sent through the server client are packed into fauxqs, stored by a consumer and read back", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig(),
    workerId: "server-client-test",
  });
  consumer.start();
  // As another service would: its own SQS client, made from an endpoint (fauxqs here).
  const client = createServerClient({
    queueUrl: q.queueUrl,
    endpoint: q.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    lingerMs: 20,
  });
  try {
    const gen = createGenerator({ seed: 17, users: 30, products: 20 });
    const sent = new Map<string, string>();
    const start = Date.now() - 60_000;
    for (let i = 0; i < 500; i++) {
      const e = gen.next(start + i * 100);
      assert.equal(await client.send(e), e.eventId);
      sent.set(e.eventId, e.eventType);
    }
    await assert.rejects(
      () =>
        client.send({
          eventId: crypto.randomUUID(),
          eventType: "purchase",
          userId: "u-1",
          sessionId: "s-1",
          timestamp: new Date().toISOString(),
          deviceType: "desktop",
          location: { country: "GB", region: "England" },
          productId: "p-1",
          category: "home",
          price: -5,
          quantity: 1,
          orderId: "o-1",
        }),
      (err: unknown) =>
        err instanceof InvalidEventError && err.code === "ERR_INVALID_EVENT" &&
        /price/.test(err.message),
    );
    await client.flush();
    assert.equal(client.stats.ackedEvents, 500);
    assert.ok(
      client.stats.messages < 50,
      `events were packed: ${client.stats.messages} messages for 500 events`,
    );
    await client.close();

    let rows: { event_id: string; event_type: string }[] = [];
    const all = await eventually(
      async () => {
        rows = await db.sql`select event_id::text, event_type from events`;
        return rows.length >= sent.size;
      },
      60_000,
      100,
    );
    assert.ok(all, `stored ${rows.length} of ${sent.size}`);
    assert.equal(rows.length, sent.size);
    for (const r of rows) assert.equal(r.event_type, sent.get(r.event_id), r.event_id);
    const [rejects] = await db.sql<{ n: number }[]>`select count(*)::int as n from rejects`;
    assert.equal(rejects!.n, 0, "the invalid event never reached the queue");
  } finally {
    await client.close().catch(() => {});
    await consumer.stop();
    await q.close();
    await db.close();
  }
});
