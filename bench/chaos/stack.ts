/**
 * The local stack of one chaos scenario, all on loopback: fauxqs in its own process with fresh
 * queues, a fresh PostgreSQL schema (on DATABASE_URL / 127.0.0.1:5432, or on a private cluster
 * that may be stopped), optional fault proxies in front of SQS and PostgreSQL, and consumer and
 * producer processes configured to use them. `close()` removes all of it.
 */
import {
  createSql,
  createSqsClient,
  ensureQueues,
  loadConfig,
  migrate,
  readQueueDepth,
  type Sql,
  type SQSClient,
} from "../../shared/mod.ts";
import type { StoredTotals } from "../../producer/reconcile.ts";
import { delay, pipelineTotals } from "../../shared/mod.ts";
import { type FaultProxy, startFaultProxy } from "../fault_proxy.ts";
import {
  type FauxqsProcess,
  type LocalProcess,
  queueEnv,
  spawnConsumer,
  spawnProducer,
  startFauxqsProcess,
} from "../local_processes.ts";
import { type PrivatePostgres, startPrivatePostgres } from "../../test/private_postgres.ts";

export interface StackOptions {
  /** Scenario name: used in queue, schema and log file names. */
  name: string;
  /** Directory for the processes' logs. */
  logDir: string;
  /** Use a private PostgreSQL cluster that the scenario may stop and start. */
  privatePostgres?: boolean;
  /** Put a fault proxy between the consumers and fauxqs. */
  sqsProxy?: boolean;
  /** Put a fault proxy between the consumers and PostgreSQL. */
  dbProxy?: boolean;
  maxReceiveCount?: number;
  visibilityTimeoutS?: number;
}

export interface Stack {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly fauxqs: FauxqsProcess;
  readonly sqsProxy?: FaultProxy;
  readonly dbProxy?: FaultProxy;
  readonly pg?: PrivatePostgres;
  /** Direct pool on the scenario's schema (not through the proxy). */
  readonly sql: Sql;
  readonly schema: string;
  /** Consumer processes started through `spawnConsumer`, by worker id, still running or not. */
  readonly consumers: LocalProcess[];
  /**
   * Consumer processes that exited without being signalled, each restarted at once (as ECS
   * restarts a stopped task): `{ name, code }`.
   */
  readonly crashes: { name: string; code: number }[];
  spawnConsumer(workerId: string, env?: Record<string, string>): LocalProcess;
  /** A producer process sending straight to fauxqs; its ledger goes to `ledgerFile`. */
  spawnProducer(args: string[], env?: Record<string, string>): LocalProcess;
  totals(): Promise<StoredTotals>;
  /** Visible + in-flight messages of a queue. */
  depth(queueUrl: string): Promise<number>;
  close(): Promise<void>;
}

const SHARED_PG = "postgres://postgres@127.0.0.1:5432/test";

function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

/** Starts the stack; on failure everything started so far is removed again. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    cleanups.length = 0;
  };
  try {
    return await build(options, cleanups, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function build(
  options: StackOptions,
  cleanups: (() => Promise<unknown>)[],
  cleanup: () => Promise<void>,
): Promise<Stack> {
  const suffix = crypto.randomUUID().slice(0, 8);
  const log = (who: string) => `${options.logDir}/${options.name}-${who}.log`;
  const visibilityTimeoutS = options.visibilityTimeoutS ?? 10;

  const fauxqs = await startFauxqsProcess({ logFile: log("fauxqs") });
  cleanups.push(() => fauxqs.stop({ timeoutMs: 5000 }));
  const queueName = `chaos-${options.name}-${suffix}`;
  const dlqName = `${queueName}-dlq`;
  const config = loadConfig({}, {
    sqsEndpoint: fauxqs.endpoint,
    queueName,
    dlqName,
    maxReceiveCount: options.maxReceiveCount ?? 5,
    visibilityTimeoutS,
  });
  const sqs = createSqsClient(config);
  cleanups.push(() => Promise.resolve(sqs.destroy()));
  const { queueUrl, dlqUrl } = await ensureQueues(sqs, config);

  let pg: PrivatePostgres | undefined;
  let baseUrl = Deno.env.get("DATABASE_URL") ?? SHARED_PG;
  if (options.privatePostgres) {
    pg = await startPrivatePostgres();
    cleanups.push(() => pg!.destroy());
    baseUrl = pg.url;
  }
  const schema = `chaos_${options.name.replaceAll("-", "_")}_${suffix}`;
  const admin = createSql(baseUrl, { max: 1 });
  await admin.unsafe(`create schema ${schema}`);
  await admin.end();
  cleanups.push(async () => {
    const drop = createSql(baseUrl, { max: 1 });
    await drop.unsafe(`drop schema if exists ${schema} cascade`).catch(() => {});
    await drop.end({ timeout: 2 });
  });
  const sql = createSql(baseUrl, { max: 2, searchPath: schema });
  cleanups.push(() => sql.end({ timeout: 2 }));
  await migrate(sql);

  let sqsProxy: FaultProxy | undefined;
  let sqsEndpoint = fauxqs.endpoint;
  if (options.sqsProxy) {
    sqsProxy = await startFaultProxy({ targetPort: fauxqs.port });
    cleanups.push(() => sqsProxy!.close());
    sqsEndpoint = `http://127.0.0.1:${sqsProxy.port}`;
  }
  let dbProxy: FaultProxy | undefined;
  let consumerDbUrl = baseUrl;
  if (options.dbProxy) {
    dbProxy = await startFaultProxy({ targetPort: Number(new URL(baseUrl).port || 5432) });
    cleanups.push(() => dbProxy!.close());
    consumerDbUrl = withPort(baseUrl, dbProxy.port);
  }

  const consumers: LocalProcess[] = [];
  const producers: LocalProcess[] = [];
  const crashes: { name: string; code: number }[] = [];
  let closed = false;
  // Processes stop first (before their proxies and servers go away).
  cleanups.push(async () => {
    closed = true;
    await Promise.all([...consumers, ...producers].map((p) => p.stop({ timeoutMs: 5000 })));
  });

  const stack: Stack = {
    sqs,
    queueUrl,
    dlqUrl,
    fauxqs,
    sqsProxy,
    dbProxy,
    pg,
    sql,
    schema,
    consumers,
    crashes,
    spawnConsumer(workerId, env = {}) {
      const p = spawnConsumer({
        name: workerId,
        logFile: log("consumers"),
        env: {
          ...queueEnv({ endpoint: sqsEndpoint, queueName, dlqName }),
          DATABASE_URL: consumerDbUrl,
          DB_SCHEMA: schema,
          WORKER_ID: workerId,
          DB_POOL_MAX: "3",
          CONSUMER_POLLERS: "2",
          CONSUMER_WAIT_TIME_S: "1",
          CONSUMER_VISIBILITY_TIMEOUT_S: String(visibilityTimeoutS),
          CONSUMER_FLUSH_MAX_MS: "50",
          CONSUMER_STATUS_INTERVAL_MS: "1000",
          ...env,
        },
      });
      consumers.push(p);
      // A crash (an exit nobody asked for) is recorded and the worker restarted, like ECS does.
      void p.status.then((st) => {
        if (p.signalled || closed) return;
        crashes.push({ name: p.name, code: st.code });
        stack.spawnConsumer(`${workerId}-r${crashes.length}`, env);
      });
      return p;
    },
    spawnProducer(args, env = {}) {
      const p = spawnProducer(args, {
        logFile: log("producer"),
        env: {
          ...queueEnv({ endpoint: fauxqs.endpoint, queueName, dlqName }),
          PRODUCER_MAX_MESSAGE_BYTES: "16384",
          ...env,
        },
      });
      producers.push(p);
      return p;
    },
    // A connection the pool kept across a PostgreSQL restart fails its next query ("terminating
    // connection due to administrator command"); the pool then reconnects, so retry a few times.
    async totals() {
      for (let attempt = 1;; attempt++) {
        try {
          return await pipelineTotals({ sql });
        } catch (err) {
          if (attempt >= 5) throw err;
          await delay(250);
        }
      }
    },
    async depth(url) {
      const depth = await readQueueDepth(sqs, url);
      return depth.visible + depth.notVisible;
    },
    close: cleanup,
  };
  return stack;
}
