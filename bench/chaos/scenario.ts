/**
 * What every chaos scenario shares: its result shape, a monitor that samples progress and consumer
 * memory, and `runWithFaults`, the common run — consumers up, a producer with a ledger, faults
 * injected while it runs, drain, SIGTERM, and an exact reconcile at the end.
 */
import { formatDifferences, readLedger, reconcile } from "../../producer/reconcile.ts";
import type { LedgerTotals } from "../../producer/ledger.ts";
import type { LocalProcess } from "../local_processes.ts";
import type { Stack, StackOptions } from "./stack.ts";
import { delay } from "../../shared/mod.ts";

/** One fault injected, with when it ended (for the recovery time). */
export interface Fault {
  kind: string;
  atMs: number;
  endMs: number;
}

/** A row of the result table. */
export interface ScenarioResult {
  scenario: string;
  passed: boolean;
  /** Events sent (ledger `accepted`, plus poison messages for that scenario). */
  events: number;
  faults: number;
  faultKinds: string[];
  lost: number;
  doubleCounted: number;
  /** Longest time from the end of a fault until stored events grew again, ms (null: none measured). */
  recoveryMs: number | null;
  /** Time from the producer's end until the exact reconcile held, ms. */
  drainMs: number;
  peakRssMiB: number;
  /** Consumer processes that exited on their own (crashed) and were restarted. */
  crashes: number;
  durationMs: number;
  differences: string[];
  notes: string[];
  /** Memory over time (backlog scenario). */
  series?: { tS: number; rssMiB: number; processed: number }[];
}

export interface ScenarioContext {
  quick: boolean;
  logDir: string;
  signal: AbortSignal;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  stack: Omit<StackOptions, "name" | "logDir">;
  run(ctx: ScenarioContext, stack: Stack): Promise<ScenarioResult>;
}

/** Throws when the run was aborted (Ctrl-C or the scenario's time limit). */
export function checkAborted(signal: AbortSignal) {
  if (signal.aborted) throw new Error(`aborted: ${signal.reason ?? "stopped"}`);
}

interface Sample {
  atMs: number;
  processed: number;
  rssBytes: number;
}

/** Samples stored + rejected events and the largest consumer RSS every `everyMs`. */
export function startMonitor(stack: Stack, everyMs = 250) {
  const samples: Sample[] = [];
  let stopped = false;
  let peakRss = 0;
  const loop = (async () => {
    while (!stopped) {
      let rss = 0;
      for (const c of stack.consumers) rss = Math.max(rss, c.rssBytes() ?? 0);
      peakRss = Math.max(peakRss, rss);
      let processed = samples.at(-1)?.processed ?? 0;
      try {
        const t = await stack.totals();
        processed = t.stored + t.rejected + t.tooOld + t.tooNew;
      } catch { /* the database is down: keep the last value */ }
      samples.push({ atMs: Date.now(), processed, rssBytes: rss });
      await delay(everyMs);
    }
  })();
  return {
    samples,
    get peakRssMiB() {
      return Math.round(peakRss / 1048576);
    },
    /** Time from `afterMs` until `processed` first exceeded its value at `afterMs`. */
    resumedAfter(afterMs: number): number | null {
      const before = samples.filter((s) => s.atMs <= afterMs).at(-1)?.processed ?? 0;
      const next = samples.find((s) => s.atMs > afterMs && s.processed > before);
      return next ? next.atMs - afterMs : null;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
export type Monitor = ReturnType<typeof startMonitor>;

/** Thrown by a `waitFor` check that can never hold (the process it waits for exited). */
export class CannotHold extends Error {
  override name = "CannotHold";
}

/** Waits until `check` holds, polling every `stepMs`; false after `timeoutMs` or an abort. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  signal: AbortSignal,
  stepMs = 200,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !signal.aborted) {
    try {
      if (await check()) return true;
    } catch (err) {
      // Not yet (the database is down, say), unless the check says it can never hold.
      if (err instanceof CannotHold) throw err;
    }
    await delay(stepMs, signal);
  }
  return false;
}

export interface RunSpec {
  /** Events the producer sends. */
  events: number;
  rate: number;
  seed: number;
  /** Extra producer flags (injections). */
  producerArgs?: string[];
  /** Consumer processes started before the producer (0: start them in `during`). */
  consumers: number;
  consumerEnv?: Record<string, string>;
  /** Injects faults while the producer runs; resolves when the last fault has ended. */
  during?: (run: RunHandle) => Promise<void>;
  /** Extra condition for "drained" (the poison scenario waits for its DLQ). */
  drained?: () => Promise<boolean>;
  /** Longest wait for the drain after the producer and the faults are done. */
  drainTimeoutMs: number;
  /** Keep the monitor's samples (memory over time) in the result. */
  keepSeries?: boolean;
}

export interface RunHandle {
  stack: Stack;
  monitor: Monitor;
  producer: LocalProcess;
  signal: AbortSignal;
  /** Records an injected fault. */
  fault(kind: string, atMs: number, endMs?: number): void;
  note(text: string): void;
  /** Consumer processes currently running. */
  live(): LocalProcess[];
}

/** The common run; returns the result row (not yet named). */
export async function runWithFaults(
  ctx: ScenarioContext,
  stack: Stack,
  name: string,
  spec: RunSpec,
): Promise<ScenarioResult> {
  const started = Date.now();
  const ledgerFile = `${ctx.logDir}/${name}-ledger.json`;
  const faults: Fault[] = [];
  const notes: string[] = [];
  const monitor = startMonitor(stack);
  try {
    for (let i = 1; i <= spec.consumers; i++) {
      stack.spawnConsumer(`${name}-c${i}`, spec.consumerEnv);
    }
    const producer = stack.spawnProducer([
      "--rate",
      String(spec.rate),
      "--events",
      String(spec.events),
      "--seed",
      String(spec.seed),
      "--users",
      "2000",
      "--products",
      "200",
      "--ledger",
      ledgerFile,
      ...(spec.producerArgs ?? []),
    ]);
    const handle: RunHandle = {
      stack,
      monitor,
      producer,
      signal: ctx.signal,
      fault(kind, atMs, endMs = atMs) {
        faults.push({ kind, atMs, endMs });
      },
      note: (t) => notes.push(t),
      live: () => stack.consumers.filter((c) => !c.exited),
    };
    const during = spec.during ? spec.during(handle) : Promise.resolve();
    const [status] = await Promise.all([producer.status, during]);
    checkAborted(ctx.signal);
    if (status.code !== 0) {
      throw new Error(`the producer exited with ${status.code}; see ${name}-producer.log`);
    }
    const producedAt = Date.now();
    const ledger = await readLedger(ledgerFile);
    if (ledger.failed > 0) notes.push(`${ledger.failed} events failed to send`);

    // Drained: the queue is empty and the totals reconcile (retries, redeliveries have settled).
    // (Every read waits inside waitFor: the producer may end while PostgreSQL restarts.)
    const drained = await waitFor(
      async () => {
        if ((await stack.depth(stack.queueUrl)) > 0) return false;
        if (spec.drained && !(await spec.drained())) return false;
        return reconcile(ledger, await stack.totals()).exact;
      },
      spec.drainTimeoutMs,
      ctx.signal,
      250,
    );
    const drainMs = Date.now() - producedAt;
    if (!drained) notes.push(`not drained within ${spec.drainTimeoutMs / 1000} s`);

    // Stop the consumers gracefully, then the final word: the reconcile after everything stopped.
    const codes = await Promise.all(
      handle.live().map((c) => c.stop({ signal: "SIGTERM", timeoutMs: 35_000 })),
    );
    const unclean = codes.filter((s) => s.code !== 0).length;
    if (unclean > 0) notes.push(`${unclean} consumers did not exit 0 on the final SIGTERM`);
    checkAborted(ctx.signal);
    const final = reconcile(ledger, await stack.totals());
    await monitor.stop();
    const row = result(name, {
      ledger,
      final,
      faults,
      notes,
      monitor,
      started,
      drainMs,
      extraEvents: 0,
      passed: final.exact && unclean === 0,
    });
    row.crashes = stack.crashes.length;
    if (stack.crashes.length > 0) {
      notes.push(
        `${stack.crashes.length} consumer crashes (exit codes ${
          stack.crashes.map((c) => c.code).join(", ")
        }), each restarted; see ${name}-consumers.log`,
      );
    }
    if (spec.keepSeries) row.series = series(monitor, started);
    return row;
  } finally {
    await monitor.stop();
  }
}

/** Builds a result row from a final reconcile and the faults recorded. */
export function result(
  name: string,
  r: {
    ledger: LedgerTotals;
    final: ReturnType<typeof reconcile>;
    faults: Fault[];
    notes: string[];
    monitor: Monitor;
    started: number;
    drainMs: number;
    extraEvents: number;
    passed: boolean;
  },
): ScenarioResult {
  const recoveries = r.faults
    .map((f) => r.monitor.resumedAfter(f.endMs))
    .filter((x): x is number => x !== null);
  return {
    scenario: name,
    passed: r.passed,
    events: r.ledger.accepted + r.extraEvents,
    faults: r.faults.length,
    faultKinds: [...new Set(r.faults.map((f) => f.kind))],
    lost: r.final.missing,
    doubleCounted: r.final.extra,
    recoveryMs: recoveries.length ? Math.max(...recoveries) : null,
    drainMs: r.drainMs,
    peakRssMiB: r.monitor.peakRssMiB,
    crashes: 0,
    durationMs: Date.now() - r.started,
    differences: formatDifferences(r.final.differences),
    notes: r.notes,
  };
}

/** At most ~120 samples of memory and progress, seconds from the start. */
function series(monitor: Monitor, started: number): ScenarioResult["series"] {
  const all = monitor.samples;
  const step = Math.max(1, Math.ceil(all.length / 120));
  return all.filter((_, i) => i % step === 0 || i === all.length - 1).map((s) => ({
    tS: Number(((s.atMs - started) / 1000).toFixed(1)),
    rssMiB: Math.round(s.rssBytes / 1048576),
    processed: s.processed,
  }));
}
