/**
 * Pipeline status, readiness, the metrics and middleware hooks, and the server-sent-event stream,
 * on a real PostgreSQL schema and a real fauxqs queue.
 */
import assert from "node:assert/strict";
import { SendMessageBatchCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { createApp, createLivePoller, type PipelineStatus, pipelineStatus } from "../api/mod.ts";
import { createTestDb, createTestSqs, eventually } from "./harness.ts";

const db = await createTestDb();
globalThis.addEventListener("unload", () => void db.close());

/** Reads SSE frames from a response until `count` `event: metrics` frames arrived. */
async function readFrames(res: Response, count: number) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const frames: { id: string; data: unknown }[] = [];
  while (frames.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      if (!block.includes("event: metrics")) continue;
      const id = /^id: (.*)$/m.exec(block)?.[1] ?? "";
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      frames.push({ id, data });
    }
  }
  return { frames, reader, rest: () => text };
}

Deno.test("GET /v1/pipeline/status reflects a backlog in the queue and the DLQ, and tolerates a missing consumer_status table", async () => {
  const q = await createTestSqs();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl, dlqUrl: q.dlqUrl });
  try {
    for (let b = 0; b < 3; b++) {
      await q.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: q.queueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: "[]" })),
        }),
      );
    }
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.dlqUrl, MessageBody: "poison" }));
    await q.sqs.send(
      new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "[]", DelaySeconds: 60 }),
    );
    const res = await app.request("/v1/pipeline/status");
    assert.equal(res.status, 200);
    const s: PipelineStatus = await res.json();
    assert.deepEqual(s.queue, { visible: 30, inFlight: 0, delayed: 1 });
    assert.deepEqual(s.dlq, { visible: 1, inFlight: 0, delayed: 0 });
    assert.equal(s.inFlight.messages, 0);
    assert.deepEqual(s.problems, []);
    const [t] = await db.sql<{ present: boolean }[]>`
      select to_regclass('consumer_status') is not null as present`;
    if (!t?.present) {
      assert.deepEqual(s.consumers, []);
      assert.equal(s.oldestMessageAgeSource, "unavailable");
      assert.equal(s.oldestMessageAgeS, null);
    }
  } finally {
    await app.close();
    await q.close();
  }
});

Deno.test("pipeline status sums live consumers, ignores stale ones, and labels the age estimate", async () => {
  // The consumer module's migration creates this table; the same contract is created here only if
  // it is not there yet.
  await db.sql`
    create table if not exists consumer_status (
      worker_id text primary key, started_at timestamptz not null, updated_at timestamptz not null,
      inflight_messages int not null default 0, inflight_events int not null default 0,
      lag_ms bigint, events_per_s double precision not null default 0,
      stored bigint not null default 0, duplicates bigint not null default 0)`;
  await db.sql`
    insert into consumer_status (worker_id, started_at, updated_at, inflight_messages,
      inflight_events, lag_ms, events_per_s, stored, duplicates)
    values ('live-a', now(), now(), 3, 300, 4000, 1000.5, 10, 1),
           ('live-b', now(), now(), 1, 100, 2500, 500, 20, 0),
           ('gone', now() - interval '1 hour', now() - interval '1 hour', 9, 900, 99000, 9, 1, 1)
    on conflict (worker_id) do update set updated_at = excluded.updated_at,
      inflight_events = excluded.inflight_events, lag_ms = excluded.lag_ms,
      events_per_s = excluded.events_per_s`;
  try {
    const s = await pipelineStatus({}, { sql: db.sql });
    const mine = s.consumers.filter((c) => ["live-a", "live-b", "gone"].includes(c.workerId));
    assert.equal(mine.length, 3);
    assert.equal(mine.find((c) => c.workerId === "gone")?.stale, true);
    assert.equal(s.endToEndLagMs, 4000);
    assert.equal(s.oldestMessageAgeS, 4);
    assert.equal(s.oldestMessageAgeSource, "consumer_lag_estimate");
    assert.ok(s.throughput.eventsPerS >= 1500.5 && s.throughput.eventsPerS < 1509);
    assert.ok(s.inFlight.consumerEvents >= 400 && s.inFlight.consumerEvents < 900);
    const cloud = await pipelineStatus({}, {
      sql: db.sql,
      oldestMessageAgeS: () => Promise.resolve(42),
    });
    assert.equal(cloud.oldestMessageAgeS, 42);
    assert.equal(cloud.oldestMessageAgeSource, "cloudwatch");
  } finally {
    await db.sql`delete from consumer_status where worker_id in ('live-a', 'live-b', 'gone')`;
  }
});

Deno.test("GET /ready needs the database and the queue; /metrics and extra middleware come from deps", async () => {
  const q = await createTestSqs();
  const seen: string[] = [];
  const app = createApp({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    metrics: () => Promise.resolve("# TYPE up gauge\nup 1\n"),
    middleware: [async (c, next) => {
      await next();
      seen.push(`${c.req.method} ${c.req.path} ${c.res.status}`);
    }],
  });
  try {
    const ok = await app.request("/ready");
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { status: "ok", database: true, queue: true });
    const metrics = await app.request("/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(await metrics.text(), "# TYPE up gauge\nup 1\n");
    assert.deepEqual(seen, ["GET /ready 200", "GET /metrics 200"]);

    await q.close(); // the queue goes away
    const down = await app.request("/ready");
    assert.equal(down.status, 503);
    assert.deepEqual(await down.json(), { status: "unavailable", database: true, queue: false });
  } finally {
    await app.close();
    await q.close().catch(() => {});
  }
  const noMetrics = createApp({ sql: db.sql });
  const r = await noMetrics.request("/metrics");
  assert.equal(r.status, 404);
  await r.body?.cancel();
  await noMetrics.close();
});

Deno.test("GET /v1/stream delivers live snapshots of real pipeline data", async () => {
  const q = await createTestSqs();
  const app = createApp({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    dlqUrl: q.dlqUrl,
    streamIntervalMs: 100,
  });
  try {
    await q.sqs.send(new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: "[]" }));
    const res = await app.request("/v1/stream");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const { frames, reader } = await readFrames(res, 2);
    await reader.cancel();
    assert.equal(frames.length, 2);
    assert.notEqual(frames[0]!.id, frames[1]!.id);
    const snap = frames[1]!.data as {
      status: PipelineStatus;
      totals: { stored: number };
    };
    assert.equal(snap.status.queue?.visible, 1);
    assert.equal(typeof snap.totals.stored, "number");
  } finally {
    await app.close();
    await q.close();
  }
});

Deno.test("one shared poller feeds every stream client and stops when the last one leaves", async () => {
  // Reads wait for the test to release them, so what is counted does not depend on timing.
  let reads = 0;
  let release: (() => void) | undefined;
  const live = createLivePoller({
    intervalMs: 10,
    read: () => {
      const n = ++reads;
      return new Promise((resolve) => release = () => resolve({ n }));
    },
  });
  const app = createApp({ sql: db.sql, live });
  try {
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => app.request("/v1/stream")),
    );
    const received = clients.map(() => [] as unknown[]);
    const readers = clients.map((res, i) => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      void (async () => {
        let text = "";
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: "", done: true }));
          if (done) return;
          text += value;
          const cut = text.lastIndexOf("\n\n");
          if (cut < 0) continue;
          const whole = text.slice(0, cut);
          text = text.slice(cut + 2);
          // The snapshots only: `event: view` frames (the default view) have a poller of their own.
          for (const block of whole.split("\n\n")) {
            const m = /^data: (.*)$/m.exec(block);
            if (m && block.includes("event: metrics")) received[i]!.push(JSON.parse(m[1]!));
          }
        }
      })();
      return reader;
    });
    assert.ok(await eventually(() => live.subscribers === 20 && release !== undefined, 5000));
    release!();
    assert.ok(await eventually(() => received.every((r) => r.length === 1), 5000));
    assert.ok(await eventually(() => reads === 2, 5000));
    release!();
    assert.ok(await eventually(() => received.every((r) => r.length === 2), 5000));
    // Forty deliveries from two reads: every client got the same snapshots.
    for (const r of received) assert.deepEqual(r, [{ n: 1 }, { n: 2 }]);
    assert.ok(reads <= 3, `reads ${reads}`);

    await Promise.all(readers.slice(1).map((r) => r.cancel()));
    assert.ok(await eventually(() => live.subscribers === 1, 5000));
    // close() ends the remaining stream, so server shutdown never waits on it.
    await app.close();
    assert.equal(live.subscribers, 0);
    let done = false;
    while (!done) done = (await readers[0]!.read()).done;
  } finally {
    await app.close();
  }
});
