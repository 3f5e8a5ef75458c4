/**
 * `deno task bench:sqs-cost --rate R --seconds S [--json]`: what a million events cost in SQS
 * requests (issue 20), measured. One load-test run (bench/loadtest/run_ramp.ts) with a single step:
 * fauxqs, the consumers, the API and a producer at R events/s for S seconds, all separate processes
 * on loopback; PostgreSQL at DATABASE_URL with a fresh schema. Billed requests come from the
 * request counters (`scalestream_sqs_billed_requests_total`, `scalestream_sqs_empty_receives_total`)
 * over the step's steady window, each side per event it handled; then the queue is drained and the
 * producer's ledger reconciled with the API's totals.
 *
 * Billing rule (shared/sqs_billing.ts): every request is billed once per started 64 KiB chunk of its
 * payload, at least once; a batch's payload is the sum of its entries. So a `SendMessageBatch` of
 * ten 20 KiB messages is 4 billed requests, a receive that returns them 4 more, an empty receive 1,
 * a `DeleteMessageBatch` or `ChangeMessageVisibilityBatch` 1.
 *
 * Exit status: 0 reconciled exactly (whatever the figures), 1 a mismatch or failed run, 2 bad usage.
 */
import { parseArgs } from "node:util";
import {
  dropOpenSchemas,
  type Percentiles,
  type RampResult,
  type Reconciliation,
  runRamp,
  type SqsCost,
} from "./run_ramp.ts";
import { killEverything } from "./_processes.ts";

const HELP = `Usage: deno task bench:sqs-cost --rate R --seconds S [options]

  --rate R            offered events/s (default 10000)
  --seconds S         length of the producer's run (default 30)
  --consumers N       consumer processes (default 1)
  --drain-timeout S   longest wait for the queue to drain after the step, seconds (default 120)
  --env KEY=VALUE     environment for every process (repeatable), e.g. --env PRODUCER_LINGER_MS=100
  --json              print the result as one JSON object on stdout (progress goes to stderr)
  --out FILE          also write the JSON result to FILE
  --help

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
Run it under \`flock /tmp/scalestream-bench.lock\` on a shared machine.`;

/** The targets at 10k events/s. */
export const TARGETS = { billedPerMillion: 5000, e2eP95Ms: 500 } as const;

/**
 * The figures of one run, as `--json` prints them. The billed-request figures are the step's
 * {@linkcode SqsCost}, except `perMillion`, whose kinds this output has always named its own way.
 */
export interface SqsCostResult extends
  Pick<
    SqsCost,
    | "billedPerMillion"
    | "producerPerMillion"
    | "consumerPerMillion"
    | "requests"
    | "billed"
    | "messagesPerReceive"
    | "compressionRatio"
  > {
  command: string;
  rate: number;
  seconds: number;
  consumers: number;
  env: Record<string, string>;
  startedAt: string;
  loadAverage: { start: string; end: string };
  nproc: number;
  /** Events acknowledged by SQS and stored, over the measured window. */
  events: SqsCost["events"] & { perMessage: number };
  /** By kind, per million events: sends and receives by 64 KiB chunk. */
  perMillion: {
    sends: number;
    receives: number;
    emptyPolls: number;
    deletes: number;
    heartbeats: number;
    other: number;
  };
  /** Event timestamp → commit, over the window. */
  e2eMs: Omit<Percentiles, "count">;
  /** "sustained" when the consumers kept up with the offered rate. */
  verdict: string;
  reconcile: Pick<Reconciliation, "ok" | "mismatches">;
  drain: RampResult["drain"];
  /** Whether the run meets the targets (≤ 5,000 billed per million, p95 ≤ 500 ms, exact). */
  withinTargets: boolean;
}

class UsageError extends Error {
  override name = "UsageError";
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  }
  return n;
}

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

/** Turns a one-step run into the figures `--json` prints. */
export function costResult(
  run: RampResult,
  o: Pick<SqsCostResult, "command" | "rate" | "seconds" | "consumers" | "env" | "startedAt"> & {
    loadAverage: SqsCostResult["loadAverage"];
  },
): SqsCostResult {
  const step = run.steps[0];
  if (!step) throw new Error("The run measured no step");
  const { sqs } = step;
  const result: SqsCostResult = {
    ...o,
    nproc: navigator.hardwareConcurrency,
    events: { ...sqs.events, perMessage: step.eventsPerMessage },
    billedPerMillion: sqs.billedPerMillion,
    producerPerMillion: sqs.producerPerMillion,
    consumerPerMillion: sqs.consumerPerMillion,
    perMillion: {
      sends: sqs.perMillion.sends,
      receives: sqs.perMillion.receives,
      emptyPolls: sqs.perMillion.emptyReceives,
      deletes: sqs.perMillion.deletes,
      heartbeats: sqs.perMillion.visibility,
      other: sqs.perMillion.other,
    },
    requests: sqs.requests,
    billed: sqs.billed,
    messagesPerReceive: sqs.messagesPerReceive,
    compressionRatio: sqs.compressionRatio,
    e2eMs: { p50: step.e2eMs.p50, p95: step.e2eMs.p95, p99: step.e2eMs.p99 },
    verdict: step.verdict,
    reconcile: { ok: run.reconciliation.ok, mismatches: run.reconciliation.mismatches },
    drain: run.drain,
    withinTargets: false,
  };
  result.withinTargets = result.reconcile.ok &&
    result.billedPerMillion <= TARGETS.billedPerMillion && result.e2eMs.p95 <= TARGETS.e2eP95Ms;
  return result;
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        rate: { type: "string", default: "10000" },
        seconds: { type: "string", default: "30" },
        consumers: { type: "string", default: "1" },
        "drain-timeout": { type: "string", default: "120" },
        env: { type: "string", multiple: true, default: [] },
        json: { type: "boolean", default: false },
        out: { type: "string" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const rate = positive("rate", values.rate);
  const seconds = positive("seconds", values.seconds);
  const consumers = positive("consumers", values.consumers);
  const drainTimeoutS = positive("drain-timeout", values["drain-timeout"]);
  const env: Record<string, string> = {};
  for (const kv of values.env) {
    const m = kv.match(/^([A-Z][A-Z0-9_]*)=(.*)$/);
    if (!m) throw new UsageError(`--env must be KEY=VALUE, got "${kv}"`);
    env[m[1]!] = m[2]!;
  }
  const databaseUrl = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
  const logDir = await Deno.makeTempDir({ prefix: "scalestream-sqs-cost-" });
  const log = (line: string) => console.error(line);
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  log(
    `sqs-cost: ${rate} events/s for ${seconds} s, ${consumers} consumer(s); load average ` +
      `${loadStart}; logs in ${logDir}`,
  );
  const abort = new AbortController();
  const budgetS = seconds + 60 + 2 * drainTimeoutS + 60;
  const hardStop = setTimeout(() => {
    log(`sqs-cost: time budget of ${budgetS} s exceeded; stopping`);
    abort.abort();
    setTimeout(async () => {
      killEverything();
      await dropOpenSchemas();
      Deno.exit(1);
    }, 60_000);
  }, budgetS * 1000);
  const onSignal = () => abort.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let run: RampResult;
  try {
    run = await runRamp({
      databaseUrl,
      consumers,
      workersMode: false,
      steps: [rate],
      stepDurationS: seconds,
      drainTimeoutS,
      stopAtSaturation: false,
      producerFlags: [],
      env,
      seedBase: 7000,
      logDir,
      signal: abort.signal,
      log,
    });
  } finally {
    clearTimeout(hardStop);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const command = ["deno task bench:sqs-cost", ...args].join(" ");
  const result = costResult(run, {
    command,
    rate,
    seconds,
    consumers,
    env,
    startedAt,
    loadAverage: { start: loadStart, end: loadavg() },
  });
  const json = JSON.stringify(result, null, 2);
  if (values.out) await Deno.writeTextFile(values.out, json + "\n");
  if (values.json) {
    console.log(json);
  } else {
    const p = result.perMillion;
    console.log(
      `${result.billedPerMillion} billed SQS requests per million events at ${rate} events/s ` +
        `(sends ${p.sends}, receives ${p.receives}, empty polls ${p.emptyPolls}, deletes ` +
        `${p.deletes}, heartbeats ${p.heartbeats}, other ${p.other}); e2e p95 ${result.e2eMs.p95} ms; ` +
        `${result.verdict}; reconcile ${result.reconcile.ok ? "exact" : "FAILED"}; load ` +
        `${result.loadAverage.start} → ${result.loadAverage.end}`,
    );
  }
  return result.reconcile.ok && run.drain.complete ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n\nRun with --help for the options.`);
      Deno.exit(2);
    }
    throw err;
  }
}
