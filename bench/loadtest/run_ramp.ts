/**
 * One ramp with a fixed number of consumers: a fresh fauxqs process, fresh queues, a fresh
 * PostgreSQL schema, N consumer processes and the API process; then one producer process per step.
 * Sampled every second (sampler.ts): queue depth, stored count, consumers' `/metrics`, /proc of
 * every process and of the PostgreSQL backends serving them. Ends by draining, optionally loading the HTTP API,
 * draining again and reconciling the producers' ledgers with `GET /v1/pipeline/totals`.
 */
import {
  formatDifferences,
  type LedgerTotals,
  reconcile as reconcileLedger,
  sumLedgers,
} from "../../producer/mod.ts";
import {
  type BilledBreakdown,
  billedBreakdown,
  type Config,
  createSql,
  createSqsClient,
  delay,
  ensureQueues,
  ensureSchema,
  loadConfig,
  migrate,
  type PipelineTotals,
  type Sql,
  type SQSClient,
} from "../../shared/mod.ts";
import {
  createProcessGroup,
  freePort,
  type Proc,
  type ProcessGroup,
  repoPath,
  waitForHttp,
  waitForPort,
} from "./_processes.ts";
import { addBy, diffHistograms, type Histogram, histogramQuantile } from "./prom_histogram.ts";
import { type Sample, type Sampler, startSampler } from "./sampler.ts";
import { judgeStep, knee, slope, type StepVerdict } from "./saturation.ts";
import { profileProcess, type ProfileSummary, summarizeProfile } from "./cpu_profile.ts";
import {
  ingestLoad,
  type IngestResult,
  readLoad,
  type ReadResult,
  sseLoad,
  type SseResult,
} from "./http_load.ts";

export interface RampOptions {
  databaseUrl: string;
  consumers: number;
  /** Run the consumers as one `consume --workers N` supervisor instead of N processes. */
  workersMode: boolean;
  steps: number[];
  stepDurationS: number;
  drainTimeoutS: number;
  /** Stop the ramp after the first step that was not sustained. */
  stopAtSaturation: boolean;
  producerFlags: string[];
  /** Extra environment for every consumer, producer and API process (e.g. PRODUCER_ENCODING). */
  env?: Record<string, string>;
  seedBase: number;
  logDir: string;
  http?: HttpPhaseOptions;
  /** CPU-profile the first consumer process during the step offering this rate. */
  profileAtRate?: number;
  signal: AbortSignal;
  log: (line: string) => void;
}

export interface HttpPhaseOptions {
  ingestDurationS: number;
  ingestConcurrency: number;
  batch: number;
  readEndpoints: string[];
  readDurationS: number;
  readConnections: number;
  sseClients: number;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  count: number;
}

export interface StepResult {
  offered: number;
  durationS: number;
  windowS: number;
  /** Producer: events sent per second of its run, and sent/due. */
  achieved: number;
  accuracy: number;
  producerMaxLagMs: number;
  eventsPerMessage: number;
  /** Events stored per second over the measurement window. */
  consumerRate: number;
  /** Events/s SQS acknowledged to the producer over the window (its metrics). */
  acked: number;
  /** Queue backlog (visible + in flight × events per message): growth, events/s; at the end, events. */
  backlogSlope: number;
  backlogEnd: number;
  /** Events the producer generated that SQS had not acknowledged yet: growth and at the end. */
  sendBacklogSlope: number;
  sendBacklogEnd: number;
  /** Event timestamp → commit, ms (consumers' histogram, interpolated in buckets). */
  e2eMs: Percentiles;
  /** One flush transaction, ms. */
  flushMs: Percentiles;
  meanFlushEvents: number;
  /** CPU cores used (CPU seconds per second) by kind of process over the window. */
  cpuCores: Record<string, number>;
  /**
   * Threads runnable but waiting for a CPU, by kind of process (schedstat run delay per second):
   * above 0 when the machine's cores are oversubscribed, by this run or by other work.
   */
  cpuWaitCores: Record<string, number>;
  /** Highest RSS sampled during the step, MiB, by kind of process (largest single process). */
  peakRssMb: Record<string, number>;
  /** Consumer CPU per stored event, µs (all consumer processes). */
  consumerCpuUsPerEvent: number;
  /** PostgreSQL backend CPU per stored event, µs. */
  pgCpuUsPerEvent: number;
  errors: { dbErrors: number; producerFailed: number; producerRetried: number };
  verdict: StepVerdict;
  /** CPU profile of the first consumer process during this step, when asked for. */
  profile?: ProfileSummary & { file: string };
  /** SQS requests as billed over the window (issue 20), per million events. */
  sqs: SqsCost;
}

/**
 * Billed SQS requests per million events over a step's window, from the request counters
 * (`scalestream_sqs_billed_requests_total`): the producer's per event it got acknowledged, the
 * consumers' per event stored; their sum is what a million events cost end to end.
 */
export interface SqsCost {
  billedPerMillion: number;
  producerPerMillion: number;
  consumerPerMillion: number;
  /** By kind (sends by 64 KiB chunk, receives by chunk, empty receives, deletes, …). */
  perMillion: BilledBreakdown;
  /** Raw requests (not chunks) in the window, by operation, producer and consumers together. */
  requests: Record<string, number>;
  /** Billed requests (64 KiB chunks) in the window, by operation, producer and consumers together. */
  billed: Record<string, number>;
  /** Events the producer got acknowledged and the consumers stored in the window. */
  events: { acked: number; stored: number };
  /** Mean messages per receive that returned any. */
  messagesPerReceive: number;
  /** Message body bytes sent / JSON bytes of the events in them. */
  compressionRatio: number;
}

export interface DepthPoint {
  t: number;
  visible: number;
  inflight: number;
  stored: number;
}

export interface Reconciliation {
  ok: boolean;
  mismatches: string[];
  expected: Record<string, unknown>;
  totals: Record<string, unknown>;
}

export interface RampResult {
  consumers: number;
  /** "baseline" or "this build" when the run compared settings side by side (--baseline-env). */
  variant?: string;
  steps: StepResult[];
  knee: number | null;
  saturatedAt: number | null;
  depth: DepthPoint[];
  /** Step boundaries on the depth series' time axis, seconds. */
  stepMarks: { t: number; offered: number }[];
  drain: { seconds: number; events: number; eventsPerS: number; complete: boolean };
  http?: { ingest: IngestResult; reads: ReadResult[]; sse: SseResult };
  reconciliation: Reconciliation;
  /** Table + index bytes per raw event row, and of the per-minute aggregates, at the end. */
  storage: { events: number; eventsBytes: number; bytesPerEvent: number; aggMinuteBytes: number };
  processes: { name: string; cpuS: number; peakRssMb: number; exitCode: number | null }[];
}

function kindOf(name: string): string {
  return name.replace(/-\d+$/, "");
}

/** Schemas of runs in progress, for an emergency cleanup (`dropOpenSchemas`). */
const openSchemas = new Map<string, string>();

/** Drops the schemas of runs that did not get to clean up (the run was cut short). */
export async function dropOpenSchemas(): Promise<void> {
  for (const [schema, url] of openSchemas) {
    const admin = createSql(url, { max: 1 });
    await admin.unsafe(`drop schema if exists ${schema} cascade`).catch(() => {});
    await admin.end({ timeout: 2 }).catch(() => {});
    openSchemas.delete(schema);
  }
}

/**
 * One ramp, in its steps: a fresh schema; the local stack (fauxqs and its queues, the consumers,
 * the API); the sampler; one producer run per offered rate, each measured over its steady window;
 * the drain (and the optional HTTP phase); the reconciliation; then the report. Whatever happens,
 * the processes are stopped and the schema dropped.
 */
export async function runRamp(o: RampOptions): Promise<RampResult> {
  const group = createProcessGroup();
  const schema = `lt_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  openSchemas.set(schema, o.databaseUrl);
  const suffix = crypto.randomUUID().slice(0, 8);
  const admin = createSql(o.databaseUrl, { max: 1, applicationName: "scalestream-loadtest" });
  let sql: Sql | undefined;
  let sqs: SQSClient | undefined;
  let sampler: Sampler | undefined;
  try {
    await ensureSchema(admin, schema);
    sql = createSql(o.databaseUrl, {
      max: 2,
      searchPath: schema,
      applicationName: "scalestream-loadtest",
    });
    await migrate(sql);

    const queue = await startQueueServer(group, o.logDir, suffix);
    sqs = createSqsClient(queue.config);
    const { queueUrl } = await ensureQueues(sqs, queue.config);
    const env = processEnvironment(o, schema, queue);
    const programs = await startPrograms(group, o, env, suffix);
    o.log(
      `  stack up: fauxqs :${queue.port}, ${o.consumers} consumer(s), API :${programs.apiPort}`,
    );

    sampler = await startSampler({
      group,
      sql,
      sqs,
      queueUrl,
      healthPorts: programs.healthPorts,
      log: o.log,
    });
    const ramp = await runSteps({ o, group, env, sampler, inspectPort: programs.inspectPort });

    // Drain what is queued; its rate is the consumers' capacity under backlog.
    const drain = await drainQueue(sampler, o.drainTimeoutS, o.signal);
    o.log(`  drained ${drain.events} events in ${drain.seconds} s (${drain.eventsPerS}/s)`);
    let http: RampResult["http"];
    if (o.http) {
      http = await httpPhase(programs.apiBase, o.http, o.seedBase + 900, o.log, o.signal);
      ramp.ledgers.push(http.ingest.ledger);
      const again = await drainQueue(sampler, o.drainTimeoutS, o.signal);
      drain.complete &&= again.complete;
    }

    const reconciliation = await reconcile(programs.apiBase, ramp.ledgers);
    o.log(
      reconciliation.ok
        ? "  reconciliation: exact"
        : `  RECONCILIATION FAILED: ${reconciliation.mismatches.join("; ")}`,
    );

    const storage = await storageOf(sql);
    const { knee: k, saturatedAt } = knee(ramp.steps);
    await sampler.stop();
    // Stop the consumers first (they drain), then the API and fauxqs.
    const exitCodes = new Map<string, number | null>(ramp.producerExits);
    for (const p of [...programs.consumers, programs.api, queue.fauxqs]) {
      const s = await group.stop(p, 35_000);
      exitCodes.set(p.name, s.signal ? null : s.code);
    }
    return {
      consumers: o.consumers,
      steps: ramp.steps,
      knee: k,
      saturatedAt,
      depth: sampler.samples.map((s) => ({
        t: round(s.t, 1),
        visible: s.visible,
        inflight: s.inflight,
        stored: s.stored,
      })),
      stepMarks: ramp.stepMarks,
      drain,
      ...(http ? { http } : {}),
      reconciliation,
      storage,
      processes: summarizeProcesses(sampler.samples, exitCodes),
    };
  } finally {
    await sampler?.stop().catch(() => {});
    await group.stopAll(10_000);
    sqs?.destroy();
    await sql?.end({ timeout: 2 }).catch(() => {});
    await admin.unsafe(`drop schema if exists ${schema} cascade`).then(
      () => openSchemas.delete(schema),
      (err) => o.log(`  could not drop schema ${schema}: ${(err as Error).message}`),
    );
    await admin.end({ timeout: 2 }).catch(() => {});
  }
}

interface QueueServer {
  fauxqs: Proc;
  port: number;
  endpoint: string;
  queueName: string;
  dlqName: string;
  config: Config;
}

/** A fauxqs process of the run's own, and the configuration of the run's queue and DLQ on it. */
async function startQueueServer(
  group: ProcessGroup,
  logDir: string,
  suffix: string,
): Promise<QueueServer> {
  const port = freePort();
  const fauxqs = group.deno(
    "fauxqs",
    repoPath("local/main.ts"),
    ["--port", String(port)],
    {},
    { logFile: `${logDir}/fauxqs.log` },
  );
  await waitForPort(port, 30_000, fauxqs);
  const endpoint = `http://127.0.0.1:${port}`;
  const queueName = `loadtest-${suffix}`;
  const dlqName = `loadtest-${suffix}-dlq`;
  const config = loadConfig({}, { sqsEndpoint: endpoint, queueName, dlqName });
  return { fauxqs, port, endpoint, queueName, dlqName, config };
}

/** The environment of every consumer, producer and API process of the run. */
function processEnvironment(
  o: RampOptions,
  schema: string,
  queue: QueueServer,
): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    DB_SCHEMA: schema,
    SQS_ENDPOINT: queue.endpoint,
    SQS_QUEUE_NAME: queue.queueName,
    SQS_DLQ_NAME: queue.dlqName,
    SQS_CREATE_QUEUES: "false",
    QUEUE_DEPTH_INTERVAL_MS: "0",
    LOG_LEVEL: "warning",
    LOG_FORMAT: "json",
    ...o.env,
  };
}

interface Programs {
  consumers: Proc[];
  /** Where the consumers serve /health and /metrics, one port per consumer (or worker). */
  healthPorts: number[];
  /** The first consumer's inspector, when a step is to be profiled. */
  inspectPort: number | undefined;
  api: Proc;
  apiPort: number;
  apiBase: string;
}

/**
 * The consumers, N processes (or one supervisor of N), each serving /metrics on its health port,
 * and the API; resolves once all answer /health.
 */
async function startPrograms(
  group: ProcessGroup,
  o: RampOptions,
  env: Record<string, string>,
  suffix: string,
): Promise<Programs> {
  const healthPorts: number[] = [];
  const consumers: Proc[] = [];
  let inspectPort: number | undefined;
  if (o.workersMode) {
    const base = freePort();
    for (let i = 0; i < o.consumers; i++) healthPorts.push(base + i);
    consumers.push(group.deno("consumers", repoPath("consumer/main.ts"), [
      "consume",
      "--workers",
      String(o.consumers),
    ], {
      ...env,
      WORKER_ID: `lt-${suffix}`,
      CONSUMER_HEALTH_PORT: String(base),
    }, { logFile: `${o.logDir}/consumers.log` }));
  } else {
    for (let i = 0; i < o.consumers; i++) {
      const port = freePort();
      healthPorts.push(port);
      if (i === 0 && o.profileAtRate !== undefined) inspectPort = freePort();
      consumers.push(group.deno(`consumer-${i + 1}`, repoPath("consumer/main.ts"), ["consume"], {
        ...env,
        WORKER_ID: `lt-${suffix}-${i + 1}`,
        CONSUMER_HEALTH_PORT: String(port),
      }, {
        logFile: `${o.logDir}/consumer-${i + 1}.log`,
        ...(i === 0 && inspectPort ? { denoFlags: [`--inspect=127.0.0.1:${inspectPort}`] } : {}),
      }));
    }
  }
  const apiPort = freePort();
  const api = group.deno("api", repoPath("api/main.ts"), [], {
    ...env,
    PORT: String(apiPort),
    HOST: "127.0.0.1",
    API_RATE_LIMIT_RPS: "0",
    API_KEYS: "",
  }, { logFile: `${o.logDir}/api.log` });
  const apiBase = `http://127.0.0.1:${apiPort}`;
  for (const [i, port] of healthPorts.entries()) {
    await waitForHttp(
      `http://127.0.0.1:${port}/health`,
      60_000,
      consumers[o.workersMode ? 0 : i],
    );
  }
  await waitForHttp(`${apiBase}/health`, 60_000, api);
  return { consumers, healthPorts, inspectPort, api, apiPort, apiBase };
}

interface StepContext {
  o: RampOptions;
  group: ProcessGroup;
  env: Record<string, string>;
  sampler: Sampler;
  inspectPort: number | undefined;
}

interface Ramp {
  steps: StepResult[];
  /** One per producer run, then the HTTP phase's, for the reconciliation. */
  ledgers: LedgerTotals[];
  stepMarks: { t: number; offered: number }[];
  producerExits: Map<string, number | null>;
}

/** Runs the steps in order; stops after the first one not sustained when asked to. */
async function runSteps(ctx: StepContext): Promise<Ramp> {
  const { o } = ctx;
  const ramp: Ramp = { steps: [], ledgers: [], stepMarks: [], producerExits: new Map() };
  for (const [i, offered] of o.steps.entries()) {
    if (o.signal.aborted) throw new Error("Aborted");
    ramp.stepMarks.push({ t: ctx.sampler.elapsedS(), offered });
    const { step, ledger, producer, exitCode } = await runStep(ctx, i, offered);
    ramp.ledgers.push(ledger);
    ramp.producerExits.set(producer, exitCode);
    ramp.steps.push(step);
    o.log(describeStep(step));
    if (o.stopAtSaturation && step.verdict !== "sustained") {
      o.log(`  not sustained at ${offered}/s: the ramp stops here`);
      break;
    }
  }
  return ramp;
}

/** One step: a producer process at `offered` events/s for the step's duration, then measured. */
async function runStep(
  ctx: StepContext,
  i: number,
  offered: number,
): Promise<{ step: StepResult; ledger: LedgerTotals; producer: string; exitCode: number | null }> {
  const { o, group, sampler } = ctx;
  const ledgerFile = `${o.logDir}/ledger-${o.consumers}c-${offered}.json`;
  const metricsPort = freePort();
  sampler.watchProducer(metricsPort);
  const producer = group.deno(
    `producer-${i + 1}`,
    repoPath("producer/main.ts"),
    [
      "--rate",
      String(offered),
      "--duration",
      `${o.stepDurationS}s`,
      "--seed",
      String(o.seedBase + i),
      "--ledger",
      ledgerFile,
      ...o.producerFlags,
    ],
    { ...ctx.env, PRODUCER_METRICS_PORT: String(metricsPort) },
    { logFile: `${o.logDir}/producer-${o.consumers}c-${offered}.log`, captureStdout: true },
  );
  const killer = setTimeout(() => {
    o.log(`  producer at ${offered}/s overran its time; stopping it`);
    void group.stop(producer, 10_000);
  }, (o.stepDurationS + 60) * 1000);
  const profiling = ctx.inspectPort && offered === o.profileAtRate
    ? profileConsumer(o, ctx.inspectPort, offered)
    : undefined;
  const onAbort = () => void group.stop(producer, 5_000);
  o.signal.addEventListener("abort", onAbort);
  const status = await producer.status;
  clearTimeout(killer);
  o.signal.removeEventListener("abort", onAbort);
  if (o.signal.aborted) throw new Error("Aborted");
  const tEnd = sampler.elapsedS();
  const out = (await producer.stdout!).trim().split("\n").at(-1) ?? "{}";
  const summary = JSON.parse(out || "{}") as Record<string, number>;
  if (status.code !== 0 && status.code !== 1) {
    throw new Error(`Producer at ${offered}/s exited with ${status.code}; see its log`);
  }
  const ledger = JSON.parse(await Deno.readTextFile(ledgerFile)) as LedgerTotals;
  const step = measureStep({
    offered,
    durationS: o.stepDurationS,
    summary,
    ...await stepWindow(sampler, tEnd, o.stepDurationS),
  });
  const profile = await profiling;
  if (profile) step.profile = profile;
  return { step, ledger, producer: producer.name, exitCode: status.signal ? null : status.code };
}

/**
 * The samples a step is measured over: inside the producer's steady sending, past a warm-up,
 * ending just before the producer stopped (so what it sent last and is still on its way does not
 * count as missing).
 */
async function stepWindow(
  sampler: Sampler,
  tEnd: number,
  durationS: number,
): Promise<{ from: Sample; to: Sample; window: Sample[] }> {
  await sampler.after(tEnd);
  const samples = sampler.samples;
  const warmup = Math.min(5, durationS / 4);
  const from = pickSample(samples, tEnd - durationS + warmup);
  const to = samples.findLast((s) => s.t <= tEnd - 0.3 && s.t > from.t) ?? samples.at(-1)!;
  return { from, to, window: samples.filter((s) => s.t >= from.t && s.t <= to.t) };
}

/** A CPU profile of the first consumer over the middle of the step, written beside the logs. */
function profileConsumer(
  o: RampOptions,
  port: number,
  offered: number,
): Promise<StepResult["profile"]> {
  const file = `${o.logDir}/consumer-1-${o.consumers}c-${offered}.cpuprofile`;
  return (async () => {
    await delay(Math.min(5, o.stepDurationS / 4) * 1000);
    const profile = await profileProcess(port, Math.max(1, o.stepDurationS / 2));
    await Deno.writeTextFile(file, JSON.stringify(profile));
    return { ...summarizeProfile(profile), file };
  })().catch((err) => {
    o.log(`  CPU profile failed: ${(err as Error).message}`);
    return undefined;
  });
}

/** The progress line of a step. */
function describeStep(step: StepResult): string {
  const signed = (n: number) => `${n >= 0 ? "+" : ""}${n}`;
  return `  step ${step.offered}/s: sent ${step.achieved}/s, acked ${step.acked}/s, stored ` +
    `${step.consumerRate}/s, queue ${signed(step.backlogSlope)}/s (end ${step.backlogEnd}), ` +
    `unacked ${signed(step.sendBacklogSlope)}/s (end ${step.sendBacklogEnd}), ` +
    `e2e p50/p95/p99 ${step.e2eMs.p50}/${step.e2eMs.p95}/${step.e2eMs.p99} ms → ${step.verdict}`;
}

function round(x: number, digits = 0): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : NaN;
}

function pickSample(samples: Sample[], t: number): Sample {
  return samples.find((s) => s.t >= t) ?? samples.at(-1)!;
}

function percentilesMs(h: Histogram): Percentiles {
  return {
    p50: round(histogramQuantile(h, 0.5) * 1000),
    p95: round(histogramQuantile(h, 0.95) * 1000),
    p99: round(histogramQuantile(h, 0.99) * 1000),
    count: h.count,
  };
}

function measureStep(o: {
  offered: number;
  durationS: number;
  summary: Record<string, number>;
  from: Sample;
  to: Sample;
  window: Sample[];
}): StepResult {
  const { from, to, summary } = o;
  const dt = Math.max(to.t - from.t, 0.001);
  const messages = summary.messages ?? 0;
  const eventsPerMessage = messages > 0 ? (summary.acked ?? 0) / messages : 1;
  const backlog = (s: Sample) => (s.visible + s.inflight) * eventsPerMessage;
  const stored = to.stored - from.stored;
  // The producer's counters, from the samples of this step's producer only.
  const port = o.window.findLast((s) => s.producer)?.producer?.port;
  const pw = o.window.filter((s) => s.producer && s.producer.port === port);
  const p0 = pw[0]?.producer, p1 = pw.at(-1)?.producer;
  const pdt = pw.length > 1 ? pw.at(-1)!.t - pw[0]!.t : 0;
  const acked = p0 && p1 && pdt > 0 ? (p1.acked - p0.acked) / pdt : NaN;
  const sendBacklog = pw.map((s) =>
    [s.t, s.producer!.sent - s.producer!.acked] as [number, number]
  );
  const cpuCores: Record<string, number> = {};
  const cpuWaitCores: Record<string, number> = {};
  const peakRssMb: Record<string, number> = {};
  let consumerCpuS = 0;
  for (const [name, s] of to.proc) {
    const before = from.proc.get(name);
    const k = kindOf(name);
    const cpu = s.cpuS - (before?.cpuS ?? s.cpuS);
    if (k === "producer" && !before) continue;
    cpuCores[k] = (cpuCores[k] ?? 0) + cpu / dt;
    cpuWaitCores[k] = (cpuWaitCores[k] ?? 0) + (s.waitS - (before?.waitS ?? s.waitS)) / dt;
    if (k === "consumer" || k === "consumers") consumerCpuS += cpu;
  }
  for (const s of o.window) {
    for (const [name, p] of s.proc) {
      const k = kindOf(name);
      peakRssMb[k] = Math.max(peakRssMb[k] ?? 0, p.rssKb / 1024);
    }
  }
  const pgCpuS = to.pgCpuS - from.pgCpuS;
  cpuCores["postgres"] = pgCpuS / dt;
  cpuWaitCores["postgres"] = (to.pgWaitS - from.pgWaitS) / dt;
  for (const k of Object.keys(cpuCores)) cpuCores[k] = round(cpuCores[k]!, 2);
  for (const k of Object.keys(cpuWaitCores)) cpuWaitCores[k] = round(cpuWaitCores[k]!, 2);
  for (const k of Object.keys(peakRssMb)) peakRssMb[k] = round(peakRssMb[k]!);
  const flushSize = diffHistograms(to.flushSize, from.flushSize);
  const step: Omit<StepResult, "verdict"> = {
    offered: o.offered,
    durationS: o.durationS,
    windowS: round(dt, 1),
    achieved: round(summary.sentRate ?? 0),
    accuracy: summary.accuracy ?? 0,
    producerMaxLagMs: summary.maxLagMs ?? 0,
    eventsPerMessage: round(eventsPerMessage, 1),
    consumerRate: round(stored / dt),
    acked: round(acked),
    backlogSlope: round(slope(o.window.map((s) => [s.t, backlog(s)]))),
    backlogEnd: round(backlog(to)),
    sendBacklogSlope: round(slope(sendBacklog)),
    sendBacklogEnd: round(sendBacklog.at(-1)?.[1] ?? NaN),
    e2eMs: percentilesMs(diffHistograms(to.e2e, from.e2e)),
    flushMs: percentilesMs(diffHistograms(to.flush, from.flush)),
    meanFlushEvents: flushSize.count > 0 ? round(flushSize.sum / flushSize.count) : 0,
    cpuCores,
    cpuWaitCores,
    peakRssMb,
    consumerCpuUsPerEvent: stored > 0 ? round(consumerCpuS * 1e6 / stored, 1) : NaN,
    pgCpuUsPerEvent: stored > 0 ? round(pgCpuS * 1e6 / stored, 1) : NaN,
    sqs: sqsCost(from, to, p0, p1, stored),
    errors: {
      dbErrors: to.dbErrors - from.dbErrors,
      producerFailed: summary.failed ?? 0,
      producerRetried: summary.retried ?? 0,
    },
  };
  return {
    ...step,
    verdict: judgeStep({
      offered: step.offered,
      achieved: step.achieved,
      acked: Number.isFinite(step.acked) ? step.acked : step.achieved,
      stored: step.consumerRate,
      queueSlope: step.backlogSlope,
      queueEnd: step.backlogEnd,
      sendSlope: Number.isFinite(step.sendBacklogSlope) ? step.sendBacklogSlope : 0,
      sendEnd: Number.isFinite(step.sendBacklogEnd) ? step.sendBacklogEnd : 0,
    }),
  };
}

const diffBy = (a: Record<string, number>, b: Record<string, number> = {}) =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));
const total = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);

/** Billed requests per million events over the window; see {@linkcode SqsCost}. */
export function sqsCost(
  from: Pick<Sample, "consumerSqs">,
  to: Pick<Sample, "consumerSqs">,
  p0: Sample["producer"] | undefined,
  p1: Sample["producer"] | undefined,
  stored: number,
): SqsCost {
  const pBilled = p0 && p1 ? diffBy(p1.billed, p0.billed) : {};
  const pAcked = p0 && p1 ? p1.acked - p0.acked : 0;
  const cBilled = diffBy(to.consumerSqs.billed, from.consumerSqs.billed);
  const empty = to.consumerSqs.empty - from.consumerSqs.empty;
  const perM = (n: number, events: number) => events > 0 ? n * 1e6 / events : NaN;
  const producerPerMillion = perM(total(pBilled), pAcked);
  const consumerPerMillion = perM(total(cBilled), stored);
  // Each side per event it handled; by kind, each side's share scaled the same way.
  const scaled: Record<string, number> = {};
  for (const [op, n] of Object.entries(pBilled)) scaled[op] = (scaled[op] ?? 0) + perM(n, pAcked);
  for (const [op, n] of Object.entries(cBilled)) scaled[op] = (scaled[op] ?? 0) + perM(n, stored);
  const b = billedBreakdown(scaled, perM(empty, stored));
  const perMillion = Object.fromEntries(
    Object.entries(b).map(([k, v]) => [k, round(v)]),
  ) as unknown as BilledBreakdown;
  const requests = addBy(
    p0 && p1 ? diffBy(p1.requests, p0.requests) : {},
    diffBy(to.consumerSqs.requests, from.consumerSqs.requests),
  );
  const receives = (requests.ReceiveMessage ?? 0) - empty;
  const received = to.consumerSqs.received - from.consumerSqs.received;
  const eventBytes = p0 && p1 ? p1.eventBytes - p0.eventBytes : 0;
  return {
    billedPerMillion: round(producerPerMillion + consumerPerMillion),
    producerPerMillion: round(producerPerMillion),
    consumerPerMillion: round(consumerPerMillion),
    perMillion,
    requests,
    billed: addBy(pBilled, cBilled),
    events: { acked: pAcked, stored },
    messagesPerReceive: receives > 0 ? round(received / receives, 2) : NaN,
    compressionRatio: eventBytes > 0 ? round((p1!.bodyBytes - p0!.bodyBytes) / eventBytes, 3) : NaN,
  };
}

/** Waits until the queue is empty and the stored count stands still (or `timeoutS`). */
async function drainQueue(sampler: Sampler, timeoutS: number, signal: AbortSignal) {
  const start = sampler.samples.at(-1)!;
  let last = start;
  let stable = 0;
  while (!signal.aborted && last.t - start.t < timeoutS) {
    const s = await sampler.after(last.t + 0.5);
    stable = s.visible + s.inflight === 0 && s.stored === last.stored ? stable + 1 : 0;
    last = s;
    if (stable >= 2) break;
  }
  const seconds = Math.max(last.t - start.t, 0.001);
  const events = last.stored - start.stored;
  // The last two samples only confirmed that nothing moved any more.
  const busy = Math.max(seconds - 2, 0.001);
  return {
    seconds: round(seconds, 1),
    events,
    eventsPerS: round(events / busy),
    complete: stable >= 2,
  };
}

async function httpPhase(
  apiBase: string,
  o: HttpPhaseOptions,
  seed: number,
  log: (line: string) => void,
  signal: AbortSignal,
) {
  const sseDurationS = o.ingestDurationS + o.readEndpoints.length * o.readDurationS + 2;
  log(
    `  HTTP: ${o.sseClients} SSE clients for ${sseDurationS} s; ingestion ${o.ingestDurationS} s; ` +
      `reads ${o.readEndpoints.join(", ")}`,
  );
  const ssePromise = sseLoad({
    url: `${apiBase}/v1/stream`,
    clients: o.sseClients,
    durationS: sseDurationS,
    signal,
  });
  await delay(1000);
  const ingest = await ingestLoad({
    url: `${apiBase}/v1/events`,
    durationS: o.ingestDurationS,
    concurrency: o.ingestConcurrency,
    batch: o.batch,
    seed,
  });
  log(
    `  POST /v1/events: ${ingest.requestsPerS} req/s, ${ingest.eventsPerS} events/s, ` +
      `p50/p95/p99 ${ingest.latencyMs.p50}/${ingest.latencyMs.p95}/${ingest.latencyMs.p99} ms`,
  );
  const reads: ReadResult[] = [];
  for (const path of o.readEndpoints) {
    const r = await readLoad({
      baseUrl: apiBase,
      path,
      connections: o.readConnections,
      durationS: o.readDurationS,
    });
    reads.push(r);
    log(
      `  GET ${path}: ${r.requestsPerS} req/s, p50/p99 ${r.latencyMs.p50}/${r.latencyMs.p99} ms, ` +
        `non-2xx ${r.non2xx}, errors ${r.errors}`,
    );
  }
  const sse = await ssePromise;
  log(
    `  SSE: ${sse.connected}/${sse.clients} connected, frames/client median ` +
      `${sse.framesPerClient.median}, max gap p99 ${sse.maxGapMs.p99} ms, ` +
      `late (> ${sse.lateGapMs} ms) ${sse.clientsWithLateUpdate}`,
  );
  return { ingest, reads, sse };
}

/**
 * The reconciliation rule (producer/reconcile.ts, the one `deno task reconcile` applies), on summed
 * ledgers: one line per difference, none when exact.
 */
export function compareWithTotals(ledger: LedgerTotals, totals: PipelineTotals): string[] {
  return formatDifferences(reconcileLedger(ledger, totals).differences);
}

async function reconcile(apiBase: string, ledgers: LedgerTotals[]): Promise<Reconciliation> {
  const expected = sumLedgers(ledgers);
  const res = await fetch(`${apiBase}/v1/pipeline/totals`);
  if (!res.ok) {
    return {
      ok: false,
      mismatches: [`GET /v1/pipeline/totals answered ${res.status}: ${await res.text()}`],
      expected: { ...expected },
      totals: {},
    };
  }
  const totals = await res.json();
  const mismatches = compareWithTotals(expected, totals);
  return { ok: mismatches.length === 0, mismatches, expected: { ...expected }, totals };
}

async function storageOf(sql: Sql): Promise<RampResult["storage"]> {
  const [row] = await sql<{ n: number; events_bytes: number; agg_bytes: number }[]>`
    select (select count(*) from events)::bigint as n,
           -- events is partitioned: its size is that of its partitions (tables and indexes)
           (pg_total_relation_size('events') + coalesce((
              select sum(pg_total_relation_size(inhrelid)) from pg_inherits
              where inhparent = 'events'::regclass), 0))::bigint as events_bytes,
           pg_total_relation_size('agg_minute')::bigint as agg_bytes`;
  const n = Number(row?.n ?? 0);
  const eventsBytes = Number(row?.events_bytes ?? 0);
  return {
    events: n,
    eventsBytes,
    bytesPerEvent: n > 0 ? Math.round(eventsBytes / n) : 0,
    aggMinuteBytes: Number(row?.agg_bytes ?? 0),
  };
}

function summarizeProcesses(samples: Sample[], exitCodes: Map<string, number | null>) {
  const out = new Map<string, { cpuS: number; peakRssMb: number }>();
  for (const s of samples) {
    for (const [name, p] of s.proc) {
      const o = out.get(name) ?? { cpuS: 0, peakRssMb: 0 };
      o.cpuS = Math.max(o.cpuS, p.cpuS);
      o.peakRssMb = Math.max(o.peakRssMb, p.hwmKb / 1024);
      out.set(name, o);
    }
  }
  return [...out].map(([name, o]) => ({
    name,
    cpuS: round(o.cpuS, 1),
    peakRssMb: round(o.peakRssMb),
    exitCode: exitCodes.get(name) ?? null,
  }));
}
