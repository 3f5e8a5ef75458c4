/**
 * `deno task consume [--workers N]`: one consumer process (a Fargate task's command), or a
 * supervisor of N such processes, each with its own WORKER_ID (and health port), that forwards
 * SIGTERM/SIGINT to them and exits once they have drained.
 */
import {
  createClock,
  createSql,
  createSqsClient,
  ensureQueues,
  parseFlags,
  retryAtStartup,
  settleWithin,
  startEmfPublisher,
  UsageError,
} from "../shared/mod.ts";
import { createConsumerRuntime } from "./consumer_runtime.ts";
import { startHealthServer } from "./health_server.ts";
import { openDatabase, type Program, setupProgram } from "./_program.ts";

const HELP = `Usage: deno task consume [--workers N]

  --workers N   start N consumer processes (default 1: consume in this process)
  --help        show this help

Environment: DATABASE_URL, DB_SCHEMA, SQS_ENDPOINT, SQS_QUEUE_NAME, CONSUMER_* (see docs/configuration.md).`;

/** Runs the `consume` subcommand; resolves to the exit code. */
export async function consumeCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, HELP, {
    workers: { type: "string", default: "1" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new UsageError(
      `--workers must be an integer from 1 to 64, got "${values.workers}"`,
      HELP,
    );
  }
  const program = await setupProgram("main");
  return workers === 1 ? await consumeHere(program) : await superviseWorkers(program, workers);
}

async function consumeHere(program: Program): Promise<number> {
  const { config, log } = program;
  // Before the database: a missing SQS endpoint is a one-line ConfigError, nothing to close.
  const sqs = createSqsClient(config, Deno.env.toObject());
  const sql = await openDatabase(program, "scalestream-consumer");
  if (!sql) return 2;
  const { queueUrl, dlqUrl } = await retryAtStartup("SQS", () => ensureQueues(sqs, config), {
    maxMs: config.startupRetryMs,
  });
  const workerId = config.workerId ?? `${Deno.hostname()}-${Deno.pid}`;
  const runtime = createConsumerRuntime({
    sql,
    sqs,
    queueUrl,
    dlqUrl,
    config,
    workerId,
    clock: createClock(config.clockSpec),
    // One connection of its own: its session holds the maintenance leader's advisory lock.
    maintenanceSession: createSql(config.databaseUrl!, {
      max: 1,
      applicationName: "scalestream-maintenance",
      ...(config.dbSchema ? { searchPath: config.dbSchema } : {}),
    }),
  });
  const { consumer, metrics } = runtime;
  const server = startHealthServer({
    consumer,
    sql,
    port: config.consumerHealthPort,
    metrics: metrics.text,
  });
  runtime.start();
  // CloudWatch (ECS): the same registry as EMF lines on stdout, which the awslogs driver ships.
  const emf = config.cloudwatchEmf
    ? startEmfPublisher({
      registry: metrics.registry,
      dimensions: { Service: "consumer" },
      intervalMs: config.cloudwatchEmfIntervalMs,
    })
    : undefined;

  const { promise: done, resolve } = Promise.withResolvers<number>();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("{signal} received; draining (deadline {deadlineMs} ms)", {
      signal,
      deadlineMs: config.shutdownDeadlineMs,
    });
    // Last resort: the process exits even if something below hangs. Uncommitted messages return.
    // Every step is bounded (runtime ≤ deadline + 1 s, then ≤ 1 s each), so this never fires.
    const hardExit = setTimeout(() => {
      log.error("Shutdown did not finish in time; exiting");
      Deno.exit(1);
    }, config.shutdownDeadlineMs + 5000);
    await runtime.stop();
    if (emf && !(await settleWithin(emf.stop(), 1000))) {
      log.warn("The metrics publisher did not stop within 1 s");
    }
    if (server && !(await settleWithin(server.shutdown(), 1000))) {
      log.warn("The health server did not close within 1 s");
    }
    await sql.end({ timeout: 1 });
    sqs.destroy();
    clearTimeout(hardExit);
    resolve(0);
  };
  Deno.addSignalListener("SIGINT", () => void shutdown("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void shutdown("SIGTERM"));
  return await done;
}

async function superviseWorkers(program: Program, n: number): Promise<number> {
  const { config, log } = program;
  const base = config.workerId ?? `${Deno.hostname()}-${Deno.pid}`;
  const main = new URL("./main.ts", import.meta.url).pathname;
  const children = Array.from({ length: n }, (_, i) => {
    const env: Record<string, string> = { WORKER_ID: `${base}-w${i + 1}` };
    if (config.consumerHealthPort !== 0) {
      env.CONSUMER_HEALTH_PORT = String(config.consumerHealthPort + i);
    }
    return new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "consume"],
      env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  });
  log.info("Started {n} consumer processes: {pids}", { n, pids: children.map((c) => c.pid) });
  const forward = (signal: Deno.Signal) => () => {
    for (const c of children) {
      try {
        c.kill(signal);
      } catch {
        // already exited
      }
    }
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const statuses = await Promise.all(children.map((c) => c.status));
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  const worst = Math.max(...statuses.map((s) => s.code));
  log.info("All {n} consumer processes exited (codes {codes})", {
    n,
    codes: statuses.map((s) => s.code),
  });
  return worst;
}
