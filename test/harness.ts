/**
 * Real components for tests: a PostgreSQL schema of its own per test file (DATABASE_URL, else the
 * PostgreSQL on 127.0.0.1:5432 if it answers, else an embedded PGlite), and a fauxqs server with
 * uniquely named queues. Everything starts on port 0 and is removed again by `close()`.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
} from "@aws-sdk/client-sqs";
import {
  createSql,
  createSqsClient,
  delay,
  ENCODING_ATTRIBUTE,
  ensureQueues,
  loadConfig,
  migrate,
  type QueueUrls,
  type Sql,
  type SQSClient,
  unpackBody,
} from "../shared/mod.ts";
import { type EmbeddedService, startEmbeddedPostgres, startEmbeddedSqs } from "../local/mod.ts";

const LOCAL_PG = "postgres://postgres@127.0.0.1:5432/test";

async function answers(url: string): Promise<boolean> {
  const probe = createSql(url, { max: 1 });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 }).catch(() => {});
  }
}

let pgliteShared: Promise<EmbeddedService> | undefined;

/** Where tests find PostgreSQL, and whether it is the single-connection PGlite. */
export async function testDatabaseUrl(): Promise<{ url: string; embedded: boolean }> {
  const env = Deno.env.get("DATABASE_URL");
  if (env) return { url: env, embedded: false };
  if (await answers(LOCAL_PG)) return { url: LOCAL_PG, embedded: false };
  pgliteShared ??= startEmbeddedPostgres();
  return { url: (await pgliteShared).url, embedded: true };
}

export interface TestDb {
  sql: Sql;
  url: string;
  schema: string;
  embedded: boolean;
  /** Opens another pool on the same schema (a second consumer process, say). */
  connect(max?: number): Sql;
  close(): Promise<void>;
}

/** A fresh, migrated schema of its own; `close()` drops it. */
export async function createTestDb(): Promise<TestDb> {
  const { url, embedded } = await testDatabaseUrl();
  const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = createSql(url, { max: 1 });
  await admin.unsafe(`create schema ${schema}`);
  await admin.end();
  const pools: Sql[] = [];
  const connect = (max = embedded ? 1 : 4) => {
    const sql = createSql(url, { max: embedded ? 1 : max, searchPath: schema });
    pools.push(sql);
    return sql;
  };
  const sql = connect();
  await migrate(sql);
  return {
    sql,
    url,
    schema,
    embedded,
    connect,
    async close() {
      for (const p of pools) await p.end({ timeout: 2 }).catch(() => {});
      const drop = createSql(url, { max: 1 });
      await drop.unsafe(`drop schema ${schema} cascade`).catch(() => {});
      await drop.end();
    },
  };
}

export interface TestSqs extends QueueUrls {
  sqs: SQSClient;
  endpoint: string;
  close(): Promise<void>;
}

/** A fauxqs server on a free port with a fresh queue and DLQ (unique names). */
export async function createTestSqs(
  options: { maxReceiveCount?: number; visibilityTimeoutS?: number } = {},
): Promise<TestSqs> {
  const server = await startEmbeddedSqs();
  const suffix = crypto.randomUUID().slice(0, 8);
  const config = loadConfig({}, {
    sqsEndpoint: server.url,
    queueName: `events-${suffix}`,
    dlqName: `events-${suffix}-dlq`,
    maxReceiveCount: options.maxReceiveCount ?? 3,
    visibilityTimeoutS: options.visibilityTimeoutS ?? 30,
  });
  const sqs = createSqsClient(config);
  const urls = await ensureQueues(sqs, config);
  return {
    ...urls,
    sqs,
    endpoint: server.url,
    async close() {
      sqs.destroy();
      await server.stop();
    },
  };
}

/** Test configuration: defaults with fast flushes and short polls. */
export function testConfig(overrides: Parameters<typeof loadConfig>[1] = {}) {
  return loadConfig({}, {
    waitTimeS: 1,
    flushMaxMs: 20,
    pollers: 2,
    ...overrides,
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  stepMs = 50,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await delay(stepMs);
  }
  return await check();
}

/**
 * Reads a queue empty: every message with its attributes, received until two receives in a row
 * come back empty, each deleted once read (so a later drain of the same queue sees only new ones).
 */
export async function drainQueue(q: { sqs: SQSClient; queueUrl: string }): Promise<Message[]> {
  const out: Message[] = [];
  for (let empty = 0; empty < 2;) {
    const r = await q.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: q.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
        VisibilityTimeout: 60,
      }),
    );
    const msgs = r.Messages ?? [];
    if (msgs.length === 0) {
      empty++;
      continue;
    }
    out.push(...msgs);
    await q.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: q.queueUrl,
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return out;
}

/** The events received messages carry, in order, whatever each body's encoding. */
export function messageEvents(messages: readonly Message[]): unknown[] {
  return messages.flatMap((m) =>
    unpackBody(m.Body, m.MessageAttributes?.[ENCODING_ATTRIBUTE]?.StringValue)
  );
}
