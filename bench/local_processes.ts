/**
 * The one supervisor of the pipeline's programs as local processes on loopback, for chaos runs,
 * soaks and load tests: fauxqs as a process of its own (`deploy/local/main.ts`, `deno task sqs`),
 * consumer processes (`consumer/main.ts consume`) and producer processes (`producer/main.ts`),
 * each configured through its environment. The load test's process groups
 * (bench/loadtest/_processes.ts) are built on it.
 *
 * ```ts
 * const sqs = await startFauxqsProcess();
 * const consumer = spawnConsumer({ env: { DATABASE_URL, SQS_ENDPOINT: sqs.endpoint, … } });
 * consumer.kill("SIGKILL");
 * await stopAll(); // in a finally: every process this module started is gone
 * ```
 *
 * Every process is registered and `stopAll()` ends those still running. Children are started under
 * `setpriv --pdeathsig KILL` when available, so they die with the parent even if it is killed
 * with SIGKILL; an `unload` listener kills them on a normal exit too.
 */

const ROOT = new URL("..", import.meta.url).pathname;
const CONSUMER_MAIN = `${ROOT}consumer/main.ts`;
const PRODUCER_MAIN = `${ROOT}producer/main.ts`;
const LOCAL_SQS_MAIN = `${ROOT}deploy/local/main.ts`;

/** A child process this module started. */
export interface LocalProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  readonly exited: boolean;
  /** Whether `kill()` or `stop()` was called: an exit without it is a crash. */
  readonly signalled: boolean;
  /** Sends a signal; a no-op once the process has exited. */
  kill(signal?: Deno.Signal): void;
  /**
   * Sends `signal` (default SIGTERM), waits up to `timeoutMs` (default 30 s), then SIGKILLs.
   * Resolves to the exit status.
   */
  stop(options?: { signal?: Deno.Signal; timeoutMs?: number }): Promise<Deno.CommandStatus>;
  /** Resident set size in bytes (from /proc), or null once exited or where /proc is missing. */
  rssBytes(): number | null;
  /** Everything the process wrote on stdout, once it has exited. */
  stdout(): Promise<string>;
}

export interface SpawnOptions {
  /** Extra environment (added to this process's environment). */
  env?: Record<string, string>;
  /** Flags for `deno run` itself (e.g. `--inspect=127.0.0.1:9229`). */
  denoFlags?: string[];
  /** Append the child's stderr (and stdout unless captured) to this file. */
  logFile?: string;
  /** Keep stdout in memory for `stdout()` instead of the log file. */
  captureStdout?: boolean;
}

const running = new Set<LocalProcess>();
let pdeathsig: boolean | undefined;

function hasSetpriv(): boolean {
  if (pdeathsig !== undefined) return pdeathsig;
  try {
    Deno.statSync("/usr/bin/setpriv");
    pdeathsig = Deno.build.os === "linux";
  } catch {
    pdeathsig = false;
  }
  return pdeathsig;
}

globalThis.addEventListener("unload", () => {
  for (const p of running) p.kill("SIGKILL");
});

async function pipeTo(stream: ReadableStream<Uint8Array>, file: string | undefined) {
  if (!file) {
    await stream.cancel();
    return;
  }
  const f = await Deno.open(file, { create: true, append: true });
  try {
    for await (const chunk of stream) await f.write(chunk);
  } catch {
    /* the file or stream went away */
  } finally {
    f.close();
  }
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

/** Starts `deno run -A <args>` as a registered child process. */
export function spawnDeno(name: string, args: string[], options: SpawnOptions = {}): LocalProcess {
  const deno = [Deno.execPath(), "run", "-A", ...(options.denoFlags ?? []), ...args];
  const [cmd, ...argv] = hasSetpriv() ? ["setpriv", "--pdeathsig", "KILL", "--", ...deno] : deno;
  const child = new Deno.Command(cmd!, {
    args: argv,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = options.captureStdout
    ? collect(child.stdout)
    : pipeTo(child.stdout, options.logFile).then(() => "");
  void pipeTo(child.stderr, options.logFile);
  let exited = false;
  let signalled = false;
  const status = child.status.then((s) => {
    exited = true;
    running.delete(proc);
    return s;
  });
  const proc: LocalProcess = {
    name,
    pid: child.pid,
    status,
    get exited() {
      return exited;
    },
    get signalled() {
      return signalled;
    },
    kill(signal: Deno.Signal = "SIGTERM") {
      if (exited) return;
      signalled = true;
      try {
        child.kill(signal);
      } catch { /* exited meanwhile */ }
    },
    async stop({ signal = "SIGTERM", timeoutMs = 30_000 } = {}) {
      proc.kill(signal);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((
        r,
      ) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      const first = await Promise.race([status, timeout]);
      clearTimeout(timer);
      if (first === "timeout") proc.kill("SIGKILL");
      return await status;
    },
    rssBytes() {
      if (exited) return null;
      try {
        const text = Deno.readTextFileSync(`/proc/${child.pid}/status`);
        const m = /VmRSS:\s+(\d+) kB/.exec(text);
        return m ? Number(m[1]) * 1024 : null;
      } catch {
        return null;
      }
    },
    stdout: () => out,
  };
  running.add(proc);
  return proc;
}

/** The processes this module started that are still running. */
export function runningProcesses(): LocalProcess[] {
  return [...running];
}

/** Stops every process still running (SIGTERM, then SIGKILL after `timeoutMs`). */
export async function stopAll(timeoutMs = 10_000): Promise<void> {
  await Promise.all([...running].map((p) => p.stop({ timeoutMs })));
}

/** fauxqs in a process of its own, on a free loopback port. */
export interface FauxqsProcess extends LocalProcess {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
}

/** Starts fauxqs as a child process and resolves once it listens. */
export async function startFauxqsProcess(options: SpawnOptions = {}): Promise<FauxqsProcess> {
  const port = freePort();
  const proc = spawnDeno("fauxqs", [LOCAL_SQS_MAIN, "--port", String(port)], options);
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exited) {
      throw new Error(`fauxqs exited at start: ${JSON.stringify(await proc.status)}`);
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`fauxqs did not listen on ${port} within 30 s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return Object.assign(proc, { endpoint, port });
}

/** A free TCP port on 127.0.0.1 (released at once; a race is possible but unlikely). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * The environment of a consumer or producer process for a queue on a local endpoint: names, not
 * URLs (the config's URL check refuses fauxqs's host names), and no queue creation.
 */
export function queueEnv(q: { endpoint: string; queueName: string; dlqName: string }) {
  return {
    SQS_ENDPOINT: q.endpoint,
    SQS_QUEUE_NAME: q.queueName,
    SQS_DLQ_NAME: q.dlqName,
    SQS_CREATE_QUEUES: "false",
  };
}

/** Starts `deno run -A consumer/main.ts consume [args]` with `env` (DATABASE_URL, SQS_* …). */
export function spawnConsumer(
  options: SpawnOptions & { name?: string; args?: string[] },
): LocalProcess {
  return spawnDeno(
    options.name ?? "consumer",
    [CONSUMER_MAIN, "consume", ...(options.args ?? [])],
    {
      ...options,
      env: {
        CONSUMER_HEALTH_PORT: "0",
        QUEUE_DEPTH_INTERVAL_MS: "0",
        LOG_LEVEL: "warning",
        LOG_FORMAT: "json",
        ...options.env,
      },
    },
  );
}

/**
 * Starts `deno run -A producer/main.ts ARGS` (flags as in `deno task produce --help`). Its stdout
 * (the JSON summary) is captured: `JSON.parse(await p.stdout())` after it exits.
 */
export function spawnProducer(
  args: string[],
  options: SpawnOptions & { name?: string } = {},
): LocalProcess {
  return spawnDeno(options.name ?? "producer", [PRODUCER_MAIN, ...args], {
    captureStdout: true,
    ...options,
    env: { LOG_LEVEL: "warning", LOG_FORMAT: "json", ...options.env },
  });
}
