/**
 * `deno task loadtest`: a load ramp against a local stack of separate processes (fauxqs, N
 * consumers, the producer, the API; PostgreSQL at DATABASE_URL or 127.0.0.1:5432 with a fresh
 * schema per run), for each consumer count; then HTTP load on the API; every run reconciled
 * exactly. Writes `bench/results/<date>-<label>/` (report.md, results.json, SVG charts).
 * Exit status: 0 passed, 1 a reconciliation mismatch or a failed run, 2 bad usage.
 */
import { createSql, parseFlags, runMain, UsageError } from "../../shared/mod.ts";
import { parseDuration } from "../../producer/mod.ts";
import { dropOpenSchemas, type HttpPhaseOptions, type RampResult, runRamp } from "./run_ramp.ts";
import { killEverything } from "./_processes.ts";
import { type LoadtestReport, type MachineNotes, writeReport } from "./write_report.ts";

const USAGE = "Usage: deno task loadtest [options]\n\nRun with --help for the options.";

const HELP = `Usage: deno task loadtest [options]

  --quick                 2 steps of 8 s (1,000 and 3,000 events/s), 1 and 2 consumers,
                          100 SSE clients, short HTTP phase (about 2–3 minutes)
  --steps LIST            offered events/s per step (default 1000,2000,5000,10000,20000,50000)
  --step-duration D       length of each step (default 30s; quick 8s)
  --consumers LIST        consumer counts, one ramp each (default 1,2,4; quick 1,2)
  --workers               run the consumers as one \`consume --workers N\` process tree
  --no-stop               keep ramping after the first unsustained step
  --drain-timeout D       longest wait for the queue to drain (default 120s)
  --skip-http             no HTTP phase
  --http-duration D       POST /v1/events load (default 20s; quick 5s)
  --read-duration D       autocannon per read endpoint (default 10s; quick 3s)
  --read-endpoints LIST   GET paths for autocannon (default /v1/pipeline/totals,
                          /v1/pipeline/status, /v1/metrics/traffic, /v1/metrics/revenue,
                          /v1/metrics/funnel, /v1/top/products)
  --sse-clients N         concurrent /v1/stream clients (default 1000; quick 100)
  --producer-flags "…"    extra flags for every producer process (e.g. "--duplicates 1%")
  --env KEY=VALUE         environment for every consumer, producer and API process (repeatable;
                          e.g. --env PRODUCER_ENCODING=json --env CONSUMER_RECEIVE_LINGER_MS=0)
  --baseline-env KEY=VALUE
                          run every consumer count twice, side by side: first with these
                          settings added (the baseline), then without (repeatable)
  --cpu-profile RATE      CPU-profile the first consumer process during the step at RATE
                          (V8 sampling profiler via --inspect; summary in the report)
  --label NAME            results directory suffix (default quick or ramp)
  --out DIR               results directory (default bench/results/<date>-<label>)
  --note TEXT             free text for the report's machine notes
  --help

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).`;

/** Dashboard reads: pipeline status and totals plus the analytics metric endpoints. */
const DEFAULT_READS = "/v1/pipeline/totals,/v1/pipeline/status,/v1/metrics/traffic," +
  "/v1/metrics/revenue,/v1/metrics/funnel,/v1/top/products";

function list(name: string, v: string): number[] {
  const xs = v.split(",").map((x) => Number(x.trim()));
  if (!xs.length || xs.some((x) => !Number.isSafeInteger(x) || x < 1)) {
    throw new UsageError(
      `--${name} must be a comma-separated list of positive integers, got "${v}"`,
    );
  }
  return xs;
}

function seconds(name: string, v: string): number {
  try {
    return parseDuration(v) / 1000;
  } catch {
    throw new UsageError(`--${name} must be a duration like 30s or 2m, got "${v}"`, USAGE);
  }
}

function shellQuote(a: string): string {
  return /^[\w.,:%/=+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

function readOr(path: string, fallback = ""): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

function otherDenoProcesses(): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    if (readOr(`/proc/${e.name}/comm`).trim() === "deno") n++;
  }
  return n;
}

/** The busiest processes over one second (not this one): what else was using the machine. */
async function busiestProcesses(n = 5): Promise<string[]> {
  const read = () => {
    const m = new Map<string, { name: string; ticks: number }>();
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
      const stat = readOr(`/proc/${e.name}/stat`);
      if (!stat) continue;
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      m.set(e.name, { name, ticks: Number(f[11]) + Number(f[12]) });
    }
    return m;
  };
  const a = read();
  await new Promise((r) => setTimeout(r, 1000));
  const b = read();
  const busy = new Map<string, number>();
  for (const [pid, x] of b) {
    const d = x.ticks - (a.get(pid)?.ticks ?? x.ticks);
    if (d > 0) busy.set(x.name, (busy.get(x.name) ?? 0) + d);
  }
  return [...busy].sort((x, y) => y[1] - x[1]).slice(0, n).map(([name, t]) => `${name} ${t} %`);
}

async function machineNotes(databaseUrl: string, note?: string): Promise<MachineNotes> {
  const sql = createSql(databaseUrl, { max: 1 });
  let postgres = "PostgreSQL (version unknown)";
  try {
    const [row] = await sql<{ v: string }[]>`select version() as v`;
    postgres = row?.v.split(" on ")[0] ?? postgres;
  } finally {
    await sql.end({ timeout: 2 });
  }
  return {
    nproc: navigator.hardwareConcurrency,
    cpuModel: readOr("/proc/cpuinfo").match(/model name\s*:\s*(.+)/)?.[1] ?? "unknown",
    memTotalMb: Math.round(
      Number(readOr("/proc/meminfo").match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) / 1024,
    ),
    loadAvgStart: readOr("/proc/loadavg").split(" ").slice(0, 3).join(", "),
    deno: Deno.version.deno,
    postgres,
    otherDenoProcesses: otherDenoProcesses(),
    busiestAtStart: await busiestProcesses(),
    ...(note ? { note } : {}),
  };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, USAGE, {
    quick: { type: "boolean", default: false },
    steps: { type: "string" },
    "step-duration": { type: "string" },
    consumers: { type: "string" },
    workers: { type: "boolean", default: false },
    "no-stop": { type: "boolean", default: false },
    "drain-timeout": { type: "string", default: "120s" },
    "skip-http": { type: "boolean", default: false },
    "http-duration": { type: "string" },
    "read-duration": { type: "string" },
    "read-endpoints": { type: "string", default: DEFAULT_READS },
    "sse-clients": { type: "string" },
    "producer-flags": { type: "string", default: "" },
    env: { type: "string", multiple: true, default: [] },
    "baseline-env": { type: "string", multiple: true, default: [] },
    label: { type: "string" },
    "cpu-profile": { type: "string" },
    out: { type: "string" },
    note: { type: "string" },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick;
  const steps = list(
    "steps",
    values.steps ?? (quick ? "1000,3000" : "1000,2000,5000,10000,20000,50000"),
  );
  const stepDurationS = seconds("step-duration", values["step-duration"] ?? (quick ? "8s" : "30s"));
  const consumerCounts = list("consumers", values.consumers ?? (quick ? "1,2" : "1,2,4"));
  const drainTimeoutS = seconds("drain-timeout", values["drain-timeout"]);
  const sseClients = list("sse-clients", values["sse-clients"] ?? (quick ? "100" : "1000"))[0]!;
  const http: HttpPhaseOptions | undefined = values["skip-http"] ? undefined : {
    ingestDurationS: seconds("http-duration", values["http-duration"] ?? (quick ? "5s" : "20s")),
    ingestConcurrency: 8,
    batch: 100,
    readEndpoints: values["read-endpoints"].split(",").map((s) => s.trim()).filter(Boolean),
    readDurationS: seconds("read-duration", values["read-duration"] ?? (quick ? "3s" : "10s")),
    readConnections: 10,
    sseClients,
  };
  const profileAtRate = values["cpu-profile"] === undefined
    ? undefined
    : list("cpu-profile", values["cpu-profile"])[0];
  if (profileAtRate !== undefined && values.workers) {
    throw new UsageError("--cpu-profile needs separate consumer processes (not --workers)", USAGE);
  }
  const producerFlags = values["producer-flags"].split(/\s+/).filter(Boolean);
  const envOf = (flag: string, list: string[]) => {
    const out: Record<string, string> = {};
    for (const kv of list) {
      const m = kv.match(/^([A-Z][A-Z0-9_]*)=(.*)$/);
      if (!m) throw new UsageError(`--${flag} must be KEY=VALUE, got "${kv}"`, USAGE);
      out[m[1]!] = m[2]!;
    }
    return out;
  };
  const env = envOf("env", values.env);
  const baselineEnv = envOf("baseline-env", values["baseline-env"]);
  const variants = values["baseline-env"].length > 0
    ? [{ variant: "baseline", env: { ...env, ...baselineEnv } }, { variant: "this build", env }]
    : [{ variant: undefined, env }];
  const label = values.label ?? (quick ? "quick" : "ramp");
  if (!/^[\w.-]+$/.test(label)) {
    throw new UsageError(`--label must be a plain name, got "${label}"`, USAGE);
  }
  const startedAt = new Date();
  const out = values.out ??
    new URL(
      `../results/${startedAt.toISOString().slice(0, 16).replace(":", "")}-${label}`,
      import.meta.url,
    ).pathname;
  const databaseUrl = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
  const logDir = `${out}/logs`;
  await Deno.mkdir(logDir, { recursive: true });

  // A hard bound on the whole run: steps, start-ups, drains and the HTTP phase, with slack.
  const perRunS = 60 + steps.length * (stepDurationS + 15) + 2 * drainTimeoutS +
    (http ? http.ingestDurationS + http.readEndpoints.length * http.readDurationS + 30 : 0);
  const budgetS = Math.ceil(consumerCounts.length * variants.length * perRunS + 60);
  const abort = new AbortController();
  // Last resort when stopping in order did not finish: kill every child, drop the schemas, exit.
  const killAndExit = async (code: number) => {
    const n = killEverything();
    console.error(`loadtest: killed ${n} process(es) it had started`);
    await dropOpenSchemas();
    Deno.exit(code);
  };
  let lastResort: ReturnType<typeof setTimeout> | undefined;
  const hardStop = setTimeout(() => {
    console.error(`loadtest: time budget of ${budgetS} s exceeded; stopping`);
    abort.abort();
    lastResort = setTimeout(() => void killAndExit(1), 60_000);
  }, budgetS * 1000);
  const onSignal = () => {
    if (abort.signal.aborted) return void killAndExit(130);
    console.error("loadtest: interrupted; stopping every process it started (again: kill them)");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const shown = args.filter((a, i) => a !== "--out" && args[i - 1] !== "--out");
  const command = `deno task loadtest ${shown.map(shellQuote).join(" ")}`.trim();
  const machine = await machineNotes(databaseUrl, values.note);
  const log = (line: string) => console.error(line);
  log(
    `loadtest: steps ${steps.join(", ")} events/s × ${stepDurationS} s; consumers ${
      consumerCounts.join(", ")
    }; load average ${machine.loadAvgStart}; results in ${out} (budget ${budgetS} s)`,
  );
  const runs: RampResult[] = [];
  let failure: string | undefined;
  try {
    for (const [i, consumers] of consumerCounts.entries()) {
      for (const { variant, env } of variants) {
        if (abort.signal.aborted) throw new Error("Aborted");
        log(
          `run with ${consumers} consumer${consumers > 1 ? "s" : ""}${
            variant ? ` (${variant})` : ""
          }`,
        );
        runs.push({
          ...await runRamp({
            databaseUrl,
            consumers,
            workersMode: values.workers,
            steps,
            stepDurationS,
            drainTimeoutS,
            stopAtSaturation: !values["no-stop"],
            producerFlags,
            env,
            seedBase: 1000 * (i + 1),
            logDir,
            ...(http && i === consumerCounts.length - 1 ? { http } : {}),
            ...(profileAtRate ? { profileAtRate } : {}),
            signal: abort.signal,
            log,
          }),
          ...(variant ? { variant } : {}),
        });
      }
    }
  } catch (err) {
    failure = (err as Error).message;
    log(`loadtest failed: ${failure}`);
  } finally {
    clearTimeout(hardStop);
    clearTimeout(lastResort);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const finishedAt = new Date();
  machine.loadAvgEnd = readOr("/proc/loadavg").split(" ").slice(0, 3).join(", ");
  const ok = !failure && runs.length === consumerCounts.length * variants.length &&
    runs.every((r) => r.reconciliation.ok && r.drain.complete);
  if (!failure && !ok) failure = "reconciliation mismatch or incomplete drain";
  const report: LoadtestReport = {
    label,
    command,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    elapsedS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    options: {
      steps,
      stepDurationS,
      consumerCounts,
      workers: values.workers,
      http,
      producerFlags,
      env,
      baselineEnv,
      profileAtRate,
    },
    machine,
    runs,
    ok,
    ...(failure ? { failure } : {}),
  };
  await writeReport(out, report);
  log(`loadtest ${ok ? "passed" : "FAILED"}: ${out}/report.md`);
  return ok ? 0 : 1;
}

if (import.meta.main) await runMain(main);
