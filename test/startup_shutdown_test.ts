/**
 * Start-up and shutdown against dependencies that do not answer (issue 13, items 7 and 8), with
 * consumer and API processes on real PostgreSQL and fauxqs behind a fault proxy:
 *
 * - started while PostgreSQL and SQS refuse connections, a consumer waits with logged backoff and
 *   starts once they answer (it used to die at once); so does the API;
 * - SIGTERM while PostgreSQL is unreachable (blackholed: connections hang, as in the chaos
 *   `postgres-restart` flake that ended in `write CONNECT_TIMEOUT`) exits 0 within the deadline,
 *   and nothing is lost: the messages it could not commit are stored by the next consumer.
 */
import assert from "node:assert/strict";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { pipelineTotals } from "../api/mod.ts";
import { startFaultProxy } from "../bench/fault_proxy.ts";
import {
  assertTotals,
  expectedOf,
  makeEvents,
  queueDepth,
  sendPacked,
  storedAtLeast,
} from "./consumer_support.ts";
import {
  collectLines,
  hasExited,
  spawnConsumer,
  terminateExpectingZero,
  withChildProcesses,
} from "./consumer_child.ts";
import { eventually, testDatabaseUrl } from "./harness.ts";

const { embedded } = await testDatabaseUrl();

/** `url` with its port replaced (the proxy's). */
function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString().replace(/\/$/, "");
}

/** A fault proxy in front of `url`'s port (PostgreSQL's 5432 when none), closed by `onClose`. */
async function proxyTo(url: string, onClose: (close: () => Promise<void>) => void) {
  const proxy = await startFaultProxy({ targetPort: Number(new URL(url).port || 5432) });
  onClose(() => proxy.close());
  return proxy;
}

/** Visible and in-flight message counts of the test queue. */
async function queueAttributes(q: { sqs: SQSClient; queueUrl: string }) {
  const out = await q.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: q.queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** Waits until some line matches, failing fast if the process exits first. */
async function waitForLine(
  child: Deno.ChildProcess,
  lines: readonly string[],
  pattern: RegExp,
  what: string,
) {
  const seen = await eventually(
    async () => lines.some((l) => pattern.test(l)) || await hasExited(child),
    60_000,
  );
  assert.ok(!(await hasExited(child)), `the process exited instead of ${what}`);
  assert.ok(seen, `never saw ${what}`);
}

Deno.test({
  name:
    "a consumer started while PostgreSQL and SQS refuse connections retries with logged backoff and consumes once they answer",
  ignore: embedded,
  fn: () =>
    withChildProcesses({ visibilityTimeoutS: 5 }, async ({ db, q, track, onClose }) => {
      const pgProxy = await proxyTo(db.url, onClose);
      const sqsProxy = await proxyTo(q.endpoint, onClose);
      await pgProxy.setMode("refuse");
      await sqsProxy.setMode("refuse");
      const events = makeEvents(200, 71);
      await sendPacked(q.sqs, q.queueUrl, events, 50);
      const child = track(spawnConsumer(
        { url: viaPort(db.url, pgProxy.port), schema: db.schema },
        { ...q, endpoint: viaPort(q.endpoint, sqsProxy.port) },
        "startup",
        [],
        { LOG_LEVEL: "warning" },
        "piped",
      ));
      const lines = collectLines(child.stderr);
      await waitForLine(
        child,
        lines,
        /not available yet.*"what":"PostgreSQL"/,
        "a PostgreSQL retry",
      );
      await pgProxy.setMode("pass");
      await waitForLine(child, lines, /not available yet.*"what":"SQS"/, "an SQS retry");
      await sqsProxy.setMode("pass");
      assert.ok(
        await eventually(
          async () =>
            (await hasExited(child)) || (await pipelineTotals({ sql: db.sql })).stored >= 200,
          60_000,
        ),
      );
      assert.ok(!(await hasExited(child)), "the consumer exited");
      await terminateExpectingZero(child);
      await assertTotals(db.sql, expectedOf(events));
    }),
});

Deno.test({
  name:
    "SIGTERM while PostgreSQL is unreachable ends the consumer with 0 within its deadline; the next consumer stores what it could not commit",
  ignore: embedded,
  fn: () =>
    withChildProcesses({ visibilityTimeoutS: 5 }, async ({ db, q, track, onClose }) => {
      const pgProxy = await proxyTo(db.url, onClose);
      const first = makeEvents(300, 72);
      await sendPacked(q.sqs, q.queueUrl, first, 50);
      // A 2 s deadline: the old shutdown waited for a 10 s connect timeout and was killed at 5 s.
      let child = track(spawnConsumer(
        { url: viaPort(db.url, pgProxy.port), schema: db.schema },
        q,
        "unreachable",
        [],
        { CONSUMER_SHUTDOWN_DEADLINE_MS: "2000", CONSUMER_STATUS_INTERVAL_MS: "100" },
        "piped",
      ));
      const lines = collectLines(child.stderr);
      assert.ok(
        await eventually(() => storedAtLeast(db.sql, 300), 60_000),
      );
      // Unreachable: open connections stop answering and new ones hang (nothing is refused).
      await pgProxy.setMode("blackhole");
      const second = makeEvents(200, 73);
      await sendPacked(q.sqs, q.queueUrl, second, 50);
      // The consumer holds the second batch: received (in flight), not committable.
      assert.ok(
        await eventually(async () => {
          const a = await queueAttributes(q);
          return a.visible === 0 && a.inFlight > 0;
        }, 60_000),
        "the consumer never received the messages it cannot commit",
      );
      child.kill("SIGTERM");
      const status = await child.status;
      assert.ok(
        !lines.some((l) => /Shutdown did not finish in time/.test(l)),
        "the shutdown overran its deadline",
      );
      assert.equal(status.code, 0, "the consumer did not exit 0 on SIGTERM");

      // Nothing lost: the messages it held return to the queue and the next consumer stores them.
      await pgProxy.setMode("pass");
      child = track(spawnConsumer(db, q, "after"));
      assert.ok(
        await eventually(
          async () =>
            (await pipelineTotals({ sql: db.sql })).stored >= 500 &&
            (await queueDepth(q.sqs, q.queueUrl)) === 0,
          60_000,
        ),
      );
      await terminateExpectingZero(child);
      await assertTotals(db.sql, expectedOf([...first, ...second]));
    }),
});

Deno.test({
  name:
    "the API started while PostgreSQL and SQS refuse connections retries with logged backoff and serves once they answer",
  ignore: embedded,
  fn: () =>
    withChildProcesses(undefined, async ({ db, q, track, onClose }) => {
      const pgProxy = await proxyTo(db.url, onClose);
      const sqsProxy = await proxyTo(q.endpoint, onClose);
      await pgProxy.setMode("refuse");
      await sqsProxy.setMode("refuse");
      const child = track(new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../api/main.ts", import.meta.url).pathname],
        env: {
          DATABASE_URL: viaPort(db.url, pgProxy.port),
          DB_SCHEMA: db.schema,
          SQS_ENDPOINT: viaPort(q.endpoint, sqsProxy.port),
          SQS_QUEUE_NAME: q.queueUrl.slice(q.queueUrl.lastIndexOf("/") + 1),
          SQS_DLQ_NAME: q.dlqUrl.slice(q.dlqUrl.lastIndexOf("/") + 1),
          SQS_CREATE_QUEUES: "false",
          PORT: "0",
          LOG_LEVEL: "info",
          LOG_FORMAT: "json",
        },
        stdin: "null",
        stdout: "piped", // info records go to stdout, warnings to stderr
        stderr: "piped",
      }).spawn());
      const lines = collectLines(child.stderr);
      collectLines(child.stdout, lines);
      await waitForLine(child, lines, /not available yet.*"what":"SQS"/, "an SQS retry");
      await sqsProxy.setMode("pass");
      await waitForLine(
        child,
        lines,
        /not available yet.*"what":"PostgreSQL"/,
        "a PostgreSQL retry",
      );
      await pgProxy.setMode("pass");
      await waitForLine(child, lines, /API on http:/, "the API listening");
      const listening = lines.find((l) => /API on http:/.test(l))!;
      const said = JSON.parse(listening).message as string;
      assert.match(
        said,
        /^API on http:\/\/[^\s"]+ \(dashboard at \//,
        "a plain URL and the dashboard",
      );
      const actualPort = JSON.parse(listening).properties.port as number;
      const res = await fetch(`http://127.0.0.1:${actualPort}/v1/pipeline/totals`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      await terminateExpectingZero(child);
    }),
});
