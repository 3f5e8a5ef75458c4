/** A consumer process (`consumer/main.ts consume`, as a container runs it) on a test schema. */
import assert from "node:assert/strict";
import { createTestDb, createTestSqs, type TestDb, type TestSqs } from "./harness.ts";

const MAIN = new URL("../consumer/main.ts", import.meta.url).pathname;

/**
 * Spawns `consumer/main.ts consume` on the test schema and queue (by name: the config's URL check
 * refuses fauxqs's "sqs.<region>.127.0.0.1" host names). `env` adds or overrides variables.
 */
export function spawnConsumer(
  db: Pick<TestDb, "url" | "schema">,
  q: Pick<TestSqs, "endpoint" | "queueUrl" | "dlqUrl">,
  workerId: string,
  args: string[] = [],
  env: Record<string, string> = {},
  stderr: "inherit" | "piped" = "inherit",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "consume", ...args],
    env: {
      DATABASE_URL: db.url,
      DB_SCHEMA: db.schema,
      SQS_ENDPOINT: q.endpoint,
      SQS_QUEUE_NAME: q.queueUrl.slice(q.queueUrl.lastIndexOf("/") + 1),
      SQS_DLQ_NAME: q.dlqUrl.slice(q.dlqUrl.lastIndexOf("/") + 1),
      SQS_CREATE_QUEUES: "false",
      WORKER_ID: workerId,
      CONSUMER_HEALTH_PORT: "0",
      CONSUMER_WAIT_TIME_S: "1",
      CONSUMER_VISIBILITY_TIMEOUT_S: "5",
      CONSUMER_FLUSH_MAX_MS: "20",
      CONSUMER_STATUS_INTERVAL_MS: "200",
      LOG_LEVEL: "warning",
      LOG_FORMAT: "json",
      ...env,
    },
    stdin: "null",
    stdout: "inherit",
    stderr,
  }).spawn();
}

/** The lines a child writes on a piped stream, collected as they arrive (echoed to our stderr). */
export function collectLines(
  stream: ReadableStream<Uint8Array>,
  lines: string[] = [],
): string[] {
  void (async () => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        console.error(line);
      }
    }
    if (rest !== "") lines.push(rest);
  })();
  return lines;
}

/** Whether the child has exited, without waiting for it. */
export async function hasExited(child: Deno.ChildProcess): Promise<boolean> {
  const tick = new Promise<"running">((r) => setTimeout(() => r("running"), 0));
  return (await Promise.race([child.status.then(() => "exited" as const), tick])) === "exited";
}

/** Kills the child with SIGKILL unless it has exited, and waits for it (for a `finally`). */
export async function killChild(child: Deno.ChildProcess | undefined): Promise<void> {
  try {
    child?.kill("SIGKILL");
  } catch { /* exited */ }
  await child?.status;
}

/** Sends SIGTERM and asserts the child exits with code 0. */
export async function terminateExpectingZero(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
}

/** What `withChildProcesses` hands a test: its schema, its queue and cleanup registration. */
export interface ChildProcessFixture {
  db: TestDb;
  q: TestSqs;
  /** Registers a child to be killed (SIGKILL) and awaited at the end; returns it. */
  track(child: Deno.ChildProcess): Deno.ChildProcess;
  /** Registers a close to run after the children are gone, before the queue and schema go. */
  onClose(close: () => Promise<void>): void;
}

/** Runs `fn` with a fresh schema and queue; then kills its children and closes everything. */
export async function withChildProcesses(
  sqsOptions: Parameters<typeof createTestSqs>[0],
  fn: (f: ChildProcessFixture) => Promise<void>,
): Promise<void> {
  const db = await createTestDb();
  const q = await createTestSqs(sqsOptions);
  const children: Deno.ChildProcess[] = [];
  const closes: (() => Promise<void>)[] = [];
  try {
    await fn({
      db,
      q,
      track: (child) => (children.push(child), child),
      onClose: (close) => void closes.push(close),
    });
  } finally {
    for (const child of children) await killChild(child);
    for (const close of closes) await close();
    await q.close();
    await db.close();
  }
}
