/**
 * Consumer benchmarks.
 *
 *   deno bench -A bench/consumer_bench.ts
 *     the per-event hot path: decode a packed message (JSON.parse), validate every event (zod),
 *     check its event time, and pre-aggregate it (goal ≤ 5 µs/event).
 *
 *   deno run -A bench/consumer_bench.ts e2e --consumers N [--events N]
 *     end to end: preloads fauxqs (in this process) with packed events, then starts N consumer
 *     processes (`consumer/main.ts`) on PostgreSQL (DATABASE_URL or 127.0.0.1:5432, fresh schema)
 *     and reports events/s from the first stored event to the last, and consumer CPU per event.
 */
import type { Message } from "@aws-sdk/client-sqs";
import { pipelineTotals } from "../api/mod.ts";
import { decodeMessage, preAggregate } from "../consumer/mod.ts";
import { makeEvents, sendBodies } from "../test/consumer_support.ts";
import { encodeEvent, packBody } from "../shared/mod.ts";
import { createTestDb, createTestSqs } from "../test/harness.ts";

const PER_MESSAGE = 200;
const events = makeEvents(PER_MESSAGE, 5);
const message: Message = {
  MessageId: "bench",
  ReceiptHandle: "bench",
  Body: packBody(events.map(encodeEvent)),
  Attributes: { ApproximateReceiveCount: "1", SentTimestamp: String(Date.now()) },
};
const window = { nowMs: Date.now(), lateHorizonMs: 86_400_000, futureSkewMs: 300_000 };
const segmentOf = (userId: string) => userId.length % 2 === 0 ? "loyal" : "new";

if (Deno.args[0] !== "e2e") {
  Deno.bench({
    name: `decode + validate + pre-aggregate, one message of ${PER_MESSAGE} events`,
    group: "hot path",
    baseline: true,
    fn() {
      const decoded = decodeMessage(message, window);
      preAggregate(decoded.events, segmentOf);
    },
  });
  Deno.bench({
    name: `decode + validate only, ${PER_MESSAGE} events`,
    group: "hot path",
    fn() {
      decodeMessage(message, window);
    },
  });
} else {
  await endToEnd();
}

function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return ticks * 10; // USER_HZ = 100
}

async function endToEnd() {
  const arg = (name: string, dflt: number) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i < 0 ? dflt : Number(Deno.args[i + 1]);
  };
  const consumers = arg("consumers", 1);
  const total = arg("events", 200_000);
  const db = await createTestDb();
  const q = await createTestSqs({ visibilityTimeoutS: 60 });
  const children: Deno.ChildProcess[] = [];
  try {
    const pool = makeEvents(total, 9);
    const bodies: string[] = [];
    for (let i = 0; i < total; i += PER_MESSAGE) {
      bodies.push(packBody(pool.slice(i, i + PER_MESSAGE).map(encodeEvent)));
    }
    const lanes = 8;
    await Promise.all(
      Array.from({ length: lanes }, (_, lane) =>
        sendBodies(
          q.sqs,
          q.queueUrl,
          bodies.filter((_, i) => Math.floor(i / 10) % lanes === lane),
        )),
    );
    console.error(`preloaded ${total} events in ${bodies.length} messages`);
    for (let i = 0; i < consumers; i++) {
      children.push(
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", new URL("../consumer/main.ts", import.meta.url).pathname],
          env: {
            DATABASE_URL: db.url,
            DB_SCHEMA: db.schema,
            SQS_ENDPOINT: q.endpoint,
            SQS_QUEUE_NAME: q.queueUrl.slice(q.queueUrl.lastIndexOf("/") + 1),
            SQS_DLQ_NAME: q.dlqUrl.slice(q.dlqUrl.lastIndexOf("/") + 1),
            SQS_CREATE_QUEUES: "false",
            WORKER_ID: `bench-${i + 1}`,
            CONSUMER_HEALTH_PORT: "0",
            CONSUMER_WAIT_TIME_S: "1",
            LOG_LEVEL: "warning",
          },
          stdin: "null",
        }).spawn(),
      );
    }
    let first = 0;
    let cpuAtFirst = 0;
    const deadline = Date.now() + 60_000;
    let stored = 0;
    while (Date.now() < deadline) {
      stored = (await pipelineTotals({ sql: db.sql })).stored;
      if (stored > 0 && first === 0) {
        first = performance.now();
        cpuAtFirst = children.reduce((s, c) => s + cpuMs(c.pid), 0);
      }
      if (stored >= total) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - first) / 1000;
    const cpu = children.reduce((s, c) => s + cpuMs(c.pid), 0) - cpuAtFirst;
    console.log(JSON.stringify({
      consumers,
      events: stored,
      seconds: Number(seconds.toFixed(2)),
      eventsPerS: Math.round(stored / seconds),
      consumerCpuUsPerEvent: Number((cpu * 1000 / stored).toFixed(1)),
      complete: stored === total,
    }));
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => c.status));
    await q.close();
    await db.close();
  }
}
