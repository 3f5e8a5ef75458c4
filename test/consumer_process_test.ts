/**
 * The consumer as a process (`consumer/main.ts`, as a container runs it) against a test schema
 * (`DB_SCHEMA`): kill -9 in the middle of a flush then restart, SIGTERM during a slow flush, and
 * `--workers 2`. A slow flush is a real one: the test holds a lock on `ingest_stats`, which every
 * flush transaction writes last, and releases it when it wants the flush to go on.
 */
import assert from "node:assert/strict";
import { delay } from "../shared/mod.ts";
import { pipelineTotals } from "../api/mod.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendPacked,
  storedAtLeast,
} from "./consumer_support.ts";
import type { Sql } from "../shared/mod.ts";
import { spawnConsumer, terminateExpectingZero, withChildProcesses } from "./consumer_child.ts";
import { eventually, testDatabaseUrl } from "./harness.ts";

const { embedded } = await testDatabaseUrl();
/** Holds an exclusive lock on `ingest_stats` in an open transaction until `release()`. */
async function lockIngestStats(sql: Sql) {
  const conn = await sql.reserve();
  await conn`begin`;
  await conn`lock table ingest_stats in exclusive mode`;
  const [row] = await conn<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const pid = row!.pid;
  return {
    /** Whether some flush transaction is waiting for this lock. */
    async blocking(): Promise<boolean> {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where ${pid} = any(pg_blocking_pids(pid))`;
      return (row?.n ?? 0) > 0;
    },
    async release() {
      await conn`rollback`;
      conn.release();
    },
  };
}

Deno.test({
  name: "kill -9 of a consumer process in the middle of a flush, then a restart: exact totals",
  ignore: embedded,
  fn: () =>
    withChildProcesses({ visibilityTimeoutS: 5 }, async ({ db, q, track }) => {
      const events = makeEvents(1000, 81);
      await sendPacked(q.sqs, q.queueUrl, events, 50);
      const lock = await lockIngestStats(db.sql);
      let child = track(spawnConsumer(db, q, "crash-1"));
      assert.ok(await eventually(() => lock.blocking(), 30_000), "no flush reached the lock");
      child.kill("SIGKILL");
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      await lock.release(); // the killed flush's transaction now aborts: nothing of it commits
      assert.equal((await pipelineTotals({ sql: db.sql })).stored, 0);

      child = track(spawnConsumer(db, q, "crash-2"));
      assert.ok(await eventually(() => storedAtLeast(db.sql, 1000), 30_000));
      assert.ok(await eventually(async () => (await queueDepth(q.sqs, q.queueUrl)) === 0));
      await terminateExpectingZero(child);
      await assertTotals(db.sql, expectedOf(events));
    }),
});

Deno.test({
  name: "SIGTERM during a slow flush finishes it, deletes what committed and exits 0; nothing lost",
  ignore: embedded,
  fn: () =>
    withChildProcesses({ visibilityTimeoutS: 5 }, async ({ db, q, track }) => {
      const events = makeEvents(800, 91);
      await sendPacked(q.sqs, q.queueUrl, events, 40);
      const lock = await lockIngestStats(db.sql);
      const child = track(spawnConsumer(db, q, "term"));
      assert.ok(await eventually(() => lock.blocking(), 30_000), "no flush reached the lock");
      await delay(300); // let the pollers take in the rest of the queue
      child.kill("SIGTERM");
      await delay(1000); // the flush is still held up while the process drains
      await lock.release();
      const status = await child.status;
      assert.equal(status.code, 0);
      assert.equal(await queueDepth(q.sqs, q.queueUrl), 0, "committed messages were not deleted");
      await assertTotals(db.sql, expectedOf(events));
      assert.equal((await pipelineTotals({ sql: db.sql })).duplicates, 0);
    }),
});

Deno.test({
  name: "consume --workers 2 runs two processes on one queue that drain on SIGTERM; exact totals",
  ignore: embedded,
  fn: () =>
    withChildProcesses({ visibilityTimeoutS: 5 }, async ({ db, q, track }) => {
      const events = makeEvents(3000, 101);
      await sendPacked(q.sqs, q.queueUrl, events, 30);
      const child = track(spawnConsumer(db, q, "pair", ["--workers", "2"]));
      assert.ok(await eventually(() => storedAtLeast(db.sql, 3000), 30_000));
      assert.ok(
        await eventually(async () => {
          const rows = await db.sql<{ worker_id: string }[]>`
            select worker_id from consumer_status order by worker_id`;
          return rows.map((r) => r.worker_id).join() === "pair-w1,pair-w2";
        }),
        "each worker keeps its own status row",
      );
      await terminateExpectingZero(child);
      assert.equal(await queueDepth(q.sqs, q.queueUrl), 0);
      await assertTotals(db.sql, expectedOf(events));
    }),
});
