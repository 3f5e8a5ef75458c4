/**
 * `deno task chaos [--quick] [--scenario NAME]…`: bounded fault scenarios on loopback against the
 * local stack (fauxqs and consumer processes, PostgreSQL), each ending in an exact reconcile of
 * the producer's ledger with what PostgreSQL holds. Prints a result table and writes a JSON and a
 * markdown summary to bench/results/chaos/. Exit status 0 only when every scenario passed.
 *
 * Every process, proxy, queue, schema and private cluster a scenario starts is removed when it
 * ends, fails, times out or is interrupted (Ctrl-C); children also die with this process.
 */
import { parseFlags, runMain } from "../../shared/mod.ts";
import { stopAll } from "../local_processes.ts";
import { privatePostgresAvailable } from "../../test/private_postgres.ts";
import { backlogDrain } from "./backlog_drain.ts";
import { dbLatency } from "./db_latency.ts";
import { duplicatesLate } from "./duplicates_late.ts";
import { killConsumers } from "./kill_consumers.ts";
import { poisonMessages } from "./poison_messages.ts";
import { postgresRestart } from "./postgres_restart.ts";
import type { Scenario, ScenarioContext, ScenarioResult } from "./scenario.ts";
import { sigtermSlowFlush } from "./sigterm_slow_flush.ts";
import { sqsOutage } from "./sqs_outage.ts";
import { startStack } from "./stack.ts";

export const SCENARIOS: readonly Scenario[] = [
  killConsumers,
  postgresRestart,
  sqsOutage,
  dbLatency,
  sigtermSlowFlush,
  poisonMessages,
  duplicatesLate,
  backlogDrain,
];

const RESULTS = new URL("../results/chaos/", import.meta.url).pathname;

const HELP = `Usage: deno task chaos [--quick] [--scenario NAME]…

  --quick          every scenario at reduced size (whole run ≤ 5 minutes; the SQS outage
                   lasts 10 s instead of 60 s)
  --scenario NAME  run only this scenario (repeatable): ${SCENARIOS.map((s) => s.name).join(", ")}
  --help           show this help

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test; each scenario uses a
schema of its own, dropped at the end). Results: bench/results/chaos/. Exit status 0 = all passed.`;

function fmtMs(ms: number | null): string {
  return ms === null ? "—" : `${(ms / 1000).toFixed(1)} s`;
}

const COLUMNS = [
  "scenario",
  "result",
  "events",
  "faults",
  "lost",
  "double counted",
  "recovery",
  "drain",
  "peak RSS",
  "crashes",
  "time",
] as const;

function cells(r: ScenarioResult): string[] {
  return [
    r.scenario,
    r.passed ? "PASS" : "FAIL",
    r.events.toLocaleString("en-US"),
    String(r.faults),
    String(r.lost),
    String(r.doubleCounted),
    fmtMs(r.recoveryMs),
    fmtMs(r.drainMs),
    `${r.peakRssMiB} MiB`,
    String(r.crashes),
    fmtMs(r.durationMs),
  ];
}

function table(results: readonly ScenarioResult[]): string {
  const rows = [COLUMNS as readonly string[], ...results.map(cells)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)]
    .join("\n");
}

function markdown(results: readonly ScenarioResult[], meta: Record<string, unknown>): string {
  const head = `| ${COLUMNS.join(" | ")} |\n|${
    COLUMNS.map((_, i) => (i < 2 ? " --- " : " ---: ")).join("|")
  }|`;
  const body = results.map((r) => `| ${cells(r).join(" | ")} |`).join("\n");
  const notes = results.map((r) =>
    `- **${r.scenario}**: ${r.faultKinds.join(", ") || "—"}. ${r.notes.join("; ")}` +
    (r.differences.length ? ` Differences: ${r.differences.join("; ")}` : "")
  ).join("\n");
  return `# Chaos run (${meta.mode})\n\n` +
    `\`${meta.command}\` — ${meta.startedAt}, ${meta.durationS} s, host ${meta.host} ` +
    `(${meta.cpus} CPUs, load average at start ${meta.loadAverage})\n\n${head}\n${body}\n\n${notes}\n`;
}

async function runOne(
  scenario: Scenario,
  quick: boolean,
  parent: AbortSignal,
  logDir: string,
): Promise<ScenarioResult> {
  const limitMs = quick ? 150_000 : 600_000;
  const signal = AbortSignal.any([parent, AbortSignal.timeout(limitMs)]);
  const started = Date.now();
  const ctx: ScenarioContext = {
    quick,
    logDir,
    signal,
    log: (m) => console.error(`[${scenario.name}] ${m}`),
  };
  const failed = (message: string): ScenarioResult => ({
    scenario: scenario.name,
    passed: false,
    events: 0,
    faults: 0,
    faultKinds: [],
    lost: 0,
    doubleCounted: 0,
    recoveryMs: null,
    drainMs: 0,
    peakRssMiB: 0,
    crashes: 0,
    durationMs: Date.now() - started,
    differences: [],
    notes: [message],
  });
  if (scenario.stack.privatePostgres && !privatePostgresAvailable()) {
    return failed("PostgreSQL 15 server binaries not found: cannot run a private cluster");
  }
  let stack;
  try {
    stack = await startStack({ ...scenario.stack, name: scenario.name, logDir });
  } catch (err) {
    return failed(`stack did not start: ${(err as Error).message}`);
  }
  try {
    // A scenario that hangs is cut off by its signal: every wait in it listens to the signal.
    return await scenario.run(ctx, stack);
  } catch (err) {
    const why = signal.aborted && !parent.aborted
      ? `timed out after ${limitMs / 1000} s`
      : (err as Error).message;
    return failed(`${why} (logs: ${logDir}/${scenario.name}-*.log)`);
  } finally {
    await stack.close();
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, HELP, {
    quick: { type: "boolean", default: false },
    scenario: { type: "string", multiple: true },
    help: { type: "boolean", default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const wanted = values.scenario ?? [];
  for (const w of wanted) {
    if (!SCENARIOS.some((s) => s.name === w)) {
      console.error(`Unknown scenario "${w}"; one of: ${SCENARIOS.map((s) => s.name).join(", ")}`);
      return 2;
    }
  }
  const chosen = wanted.length ? SCENARIOS.filter((s) => wanted.includes(s.name)) : SCENARIOS;
  const quick = values.quick;
  const mode = quick ? "quick" : "full";
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const logDir = `${RESULTS}logs/${stamp}-${mode}`;
  await Deno.mkdir(logDir, { recursive: true });

  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) {
      void stopAll(1000).finally(() => Deno.exit(130));
      return;
    }
    console.error("Interrupted: stopping the current scenario and cleaning up (again to force)");
    abort.abort("interrupted");
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const startedAt = new Date();
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "? ? ?")).split(" ")
    .slice(0, 3).join(" ");
  console.log(
    `Chaos run (${mode}): ${chosen.length} scenarios, loopback only; logs in ${logDir}`,
  );
  const results: ScenarioResult[] = [];
  try {
    for (const s of chosen) {
      if (abort.signal.aborted) break;
      console.log(`▶ ${s.name}: ${s.description}`);
      const r = await runOne(s, quick, abort.signal, logDir);
      results.push(r);
      console.log(
        `  ${r.passed ? "PASS" : "FAIL"} ${r.scenario}: ${r.events} events, ${r.faults} faults, ` +
          `lost ${r.lost}, double counted ${r.doubleCounted}, recovery ${fmtMs(r.recoveryMs)}, ` +
          `${fmtMs(r.durationMs)}` + (r.notes.length ? `\n    ${r.notes.join("\n    ")}` : "") +
          (r.differences.length ? `\n    ${r.differences.join("\n    ")}` : ""),
      );
    }
  } finally {
    await stopAll(5000);
  }

  const durationS = Math.round((Date.now() - startedAt.getTime()) / 1000);
  const meta = {
    mode,
    command: `deno task chaos${quick ? " --quick" : ""}` +
      wanted.map((w) => ` --scenario ${w}`).join(""),
    startedAt: startedAt.toISOString(),
    durationS,
    host: Deno.hostname(),
    cpus: navigator.hardwareConcurrency,
    loadAverage: load,
  };
  await Deno.writeTextFile(
    `${RESULTS}chaos-${mode}-${stamp}.json`,
    JSON.stringify({ ...meta, results }, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${RESULTS}chaos-${mode}-${stamp}.md`, markdown(results, meta));
  const passed = results.filter((r) => r.passed).length;
  const allPassed = passed === chosen.length && !abort.signal.aborted;
  console.log(`\n${table(results)}\n`);
  console.log(
    `chaos ${mode}: ${passed}/${chosen.length} scenarios passed, ` +
      `${results.reduce((s, r) => s + r.lost, 0)} events lost, ` +
      `${results.reduce((s, r) => s + r.doubleCounted, 0)} double counted, ${durationS} s ` +
      `— ${
        allPassed ? "OK" : "FAILED"
      }\nsummary: bench/results/chaos/chaos-${mode}-${stamp}.{json,md}`,
  );
  return allPassed ? 0 : 1;
}

if (import.meta.main) {
  await runMain(main);
}
