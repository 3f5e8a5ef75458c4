/**
 * Child processes of a load test (fauxqs, consumers, producer, API) and what /proc says about
 * them. Processes are started and stopped by the one supervisor, `bench/local_processes.ts`
 * (registered there, killed with this process even on SIGKILL); a `ProcessGroup` only remembers
 * which ones a run started, so `stopAll()` ends them all (SIGTERM, then SIGKILL after a grace
 * period), also when the run fails.
 */
import { freePort, type LocalProcess, runningProcesses, spawnDeno } from "../local_processes.ts";
import { delay } from "../../shared/mod.ts";

export { freePort };

const ROOT = new URL("../../", import.meta.url);

/** Path of a repository file, for `deno run`. */
export function repoPath(rel: string): string {
  return new URL(rel, ROOT).pathname;
}

export interface Proc {
  name: string;
  pid: number;
  /** The supervised process. */
  process: LocalProcess;
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
  /** Whether it has exited. */
  exited(): boolean;
}

export interface ProcessGroup {
  /** Spawns `deno run -A <script> …args` with `env` (added to the environment); logs go to `logFile`. */
  deno(name: string, script: string, args: string[], env: Record<string, string>, options?: {
    logFile?: string;
    captureStdout?: boolean;
    /** Flags for `deno run` itself (e.g. `--inspect=127.0.0.1:9229`). */
    denoFlags?: string[];
  }): Proc & { stdout?: Promise<string> };
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(p: Proc, graceMs?: number): Promise<Deno.CommandStatus>;
  /** Stops every process still running. */
  stopAll(graceMs?: number): Promise<void>;
  list(): Proc[];
}

/** SIGKILLs every supervised process still running (the last resort); returns how many. */
export function killEverything(): number {
  const running = runningProcesses();
  for (const p of running) p.kill("SIGKILL");
  return running.length;
}

export function createProcessGroup(): ProcessGroup {
  const procs: Proc[] = [];
  const group: ProcessGroup = {
    deno(name, script, args, env, options = {}) {
      const process = spawnDeno(name, [script, ...args], {
        env,
        ...(options.logFile ? { logFile: options.logFile } : {}),
        ...(options.captureStdout ? { captureStdout: true } : {}),
        ...(options.denoFlags ? { denoFlags: options.denoFlags } : {}),
      });
      const proc = {
        name,
        pid: process.pid,
        process,
        status: process.status,
        exited: () => process.exited,
        ...(options.captureStdout ? { stdout: process.stdout() } : {}),
      };
      procs.push(proc);
      return proc;
    },
    stop: (p, graceMs = 30_000) => p.process.stop({ timeoutMs: graceMs }),
    async stopAll(graceMs = 30_000) {
      await Promise.all(procs.filter((p) => !p.exited()).map((p) => group.stop(p, graceMs)));
    },
    list: () => procs,
  };
  return group;
}

/** Waits until something accepts TCP connections on `port`, or throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000, proc?: Proc): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc?.exited()) throw new Error(`Process "${proc.name}" exited before listening`);
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      await delay(100);
    }
  }
  throw new Error(`Nothing listens on port ${port} after ${timeoutMs} ms`);
}

/** Waits until `url` answers 200, or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 30_000, proc?: Proc): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc?.exited()) throw new Error(`Process "${proc.name}" exited before answering ${url}`);
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.ok) return;
    } catch { /* not yet */ }
    await delay(200);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

const CLK_TCK = 100; // USER_HZ on Linux

export interface ProcSample {
  /** utime + stime in seconds. */
  cpuS: number;
  rssKb: number;
  /** Peak RSS over the process's life (VmHWM). */
  hwmKb: number;
  /** Time its threads were runnable but waiting for a CPU (schedstat run delay), seconds. */
  waitS: number;
}

/** Sum of the run-queue delay of all threads of `pid`, seconds (0 when unavailable). */
function runDelayS(pid: number): number {
  let ns = 0;
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[1]);
      } catch { /* thread ended */ }
    }
  } catch {
    return 0;
  }
  return ns / 1e9;
}

/** CPU seconds and memory of a live process, or null once it is gone. */
export function readProc(pid: number): ProcSample | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuS = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (key: string) =>
      Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
    return { cpuS, rssKb: kb("VmRSS"), hwmKb: kb("VmHWM"), waitS: runDelayS(pid) };
  } catch {
    return null;
  }
}

/** Local TCP ports of the sockets `pid` holds (IPv4 and IPv6), from /proc. */
export function localPortsOf(pid: number): Set<number> {
  const inodes = new Set<string>();
  try {
    for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        const target = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
        const m = target.match(/^socket:\[(\d+)\]$/);
        if (m) inodes.add(m[1]!);
      } catch { /* closed meanwhile */ }
    }
  } catch {
    return new Set();
  }
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/net/${table}`);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      ports.add(parseInt(cols[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}
