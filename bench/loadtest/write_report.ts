/**
 * Writes a load test's results: `report.md` (tables per step and per consumer count, machine
 * notes, the command), `results.json` (everything measured) and three SVG charts.
 */
import type { RampResult } from "./run_ramp.ts";
import { lineChart, type Series } from "./svg_chart.ts";

const RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
const DASH = { p50: "2 3", p95: "7 4", p99: undefined } as const;

export interface MachineNotes {
  nproc: number;
  cpuModel: string;
  memTotalMb: number;
  loadAvgStart: string;
  loadAvgEnd?: string;
  deno: string;
  postgres: string;
  otherDenoProcesses: number;
  /** Busiest processes over one second at start, as "name N %" of one CPU. */
  busiestAtStart: string[];
  note?: string;
}

export interface LoadtestReport {
  label: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  elapsedS: number;
  options: Record<string, unknown>;
  machine: MachineNotes;
  runs: RampResult[];
  ok: boolean;
  failure?: string;
}

const runName = (r: RampResult) =>
  `${r.consumers} consumer${r.consumers > 1 ? "s" : ""}${r.variant ? ` (${r.variant})` : ""}`;

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || !Number.isFinite(n)
    ? "–"
    : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

const waits = (w: Record<string, number> | undefined) =>
  w
    ? [(w.consumer ?? 0) + (w.consumers ?? 0), w.postgres, w.producer, w.fauxqs].map((x) =>
      fmt(x, 2)
    ).join(" / ")
    : "–";

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

export function chartsOf(report: LoadtestReport): Record<string, string> {
  const offered = [...new Set(report.runs.flatMap((r) => r.steps.map((s) => s.offered)))];
  const throughput: Series[] = report.runs.map((r, i) => ({
    color: RUN_COLORS[i % RUN_COLORS.length]!,
    name: `${runName(r)} (stored/s)`,
    points: r.steps.map((s) => [s.offered, s.consumerRate] as [number, number]),
  }));
  if (offered.length) {
    throughput.push({
      name: "offered = stored",
      points: [[Math.min(...offered), Math.min(...offered)], [
        Math.max(...offered),
        Math.max(...offered),
      ]],
      dashed: true,
      markers: false,
      color: "#999999",
    });
  }
  const latency: Series[] = report.runs.flatMap((r, i) =>
    (["p50", "p95", "p99"] as const).map((p) => ({
      name: `${runName(r)} ${p}`,
      points: r.steps.map((s) => [s.offered, s.e2eMs[p]] as [number, number]),
      color: RUN_COLORS[i % RUN_COLORS.length]!,
      ...(DASH[p] ? { dash: DASH[p] } : {}),
    }))
  );
  const depth: Series[] = report.runs.map((r, i) => ({
    color: RUN_COLORS[i % RUN_COLORS.length]!,
    name: runName(r),
    points: r.depth.map((d) => [d.t, d.visible + d.inflight] as [number, number]),
    markers: false,
  }));
  return {
    "throughput.svg": lineChart({
      title: "Stored events/s vs offered load",
      xLabel: "offered load, events/s",
      yLabel: "stored events/s",
      series: throughput,
      logX: offered.length > 2,
    }),
    "latency.svg": lineChart({
      title: "End-to-end latency (event time → commit) vs offered load",
      xLabel: "offered load, events/s",
      yLabel: "latency, ms",
      series: latency,
      logX: offered.length > 2,
      logY: true,
    }),
    "queue_depth.svg": lineChart({
      title: "Queue depth over time (visible + in flight)",
      xLabel: "seconds since the run's stack was up",
      yLabel: "messages",
      series: depth,
    }),
  };
}

export function reportMarkdown(r: LoadtestReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `# Load test ${r.label}`,
    "",
    `**Result: ${
      r.ok ? "passed" : "FAILED"
    }** — ${r.startedAt} → ${r.finishedAt} (${r.elapsedS} s).${
      r.failure ? ` Failure: ${r.failure}` : ""
    }`,
    "",
    "Command (from the repository root):",
    "",
    "```sh",
    r.command,
    "```",
    "",
    "## Machine",
    "",
    `- ${m.nproc} CPUs (${m.cpuModel}), ${fmt(m.memTotalMb)} MiB memory`,
    `- load average at start: **${m.loadAvgStart}**${
      m.loadAvgEnd ? `; at the end: ${m.loadAvgEnd}` : ""
    } (1, 5, 15 min)`,
    `- other Deno processes running at start (not started by this run): ${m.otherDenoProcesses}`,
    `- busiest processes over one second at start (% of one CPU): ${
      m.busiestAtStart.join(", ") || "none"
    }`,
    `- Deno ${m.deno}; ${m.postgres}`,
    "- every process on this one machine, loopback only: fauxqs (own process), PostgreSQL " +
      "(shared server, fresh schema per run), consumers, producer, API, and this load generator",
  );
  if (m.note) out.push(`- note: ${m.note}`);
  out.push(
    "",
    "## Summary",
    "",
    "| consumers | knee (highest sustained step) | first unsustained step | drain rate (backlog) | reconciliation |",
    "| --: | --: | --: | --: | --- |",
  );
  for (const run of r.runs) {
    out.push(
      `| ${run.consumers}${run.variant ? ` (${run.variant})` : ""} | ${
        run.knee ? fmt(run.knee) + " events/s" : "none"
      } | ${run.saturatedAt ? fmt(run.saturatedAt) + " events/s" : "none reached"} | ${
        run.drain.events > 0
          ? `${fmt(run.drain.eventsPerS)} events/s over ${fmt(run.drain.events)} events`
          : "no backlog"
      } | ${
        run.reconciliation.ok ? "exact" : "**MISMATCH** " + run.reconciliation.mismatches.join("; ")
      } |`,
    );
  }
  out.push(
    "",
    "![stored vs offered](throughput.svg)",
    "",
    "![latency vs offered](latency.svg)",
    "",
    "![queue depth](queue_depth.svg)",
    "",
  );
  for (const run of r.runs) {
    out.push(
      `## ${runName(run)}`,
      "",
      "| offered/s | sent/s | acked/s | stored/s | queue Δ/s | queue end | unacked Δ/s | unacked end | e2e p50 / p95 / p99 ms | flush p50 / p95 / p99 ms | events/flush | verdict |",
      "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |",
    );
    for (const s of run.steps) {
      out.push(
        `| ${fmt(s.offered)} | ${fmt(s.achieved)} | ${fmt(s.acked)} | ${fmt(s.consumerRate)} | ${
          fmt(s.backlogSlope)
        } | ${fmt(s.backlogEnd)} | ${fmt(s.sendBacklogSlope)} | ${fmt(s.sendBacklogEnd)} | ${
          fmt(s.e2eMs.p50)
        } / ${fmt(s.e2eMs.p95)} / ${fmt(s.e2eMs.p99)} | ${fmt(s.flushMs.p50)} / ${
          fmt(s.flushMs.p95)
        } / ${fmt(s.flushMs.p99)} | ${fmt(s.meanFlushEvents)} | ${s.verdict} |`,
      );
    }
    out.push(
      "",
      "CPU (cores busy = CPU seconds per second over the step's window) and peak RSS per kind of process:",
      "",
      "| offered/s | consumers cores | postgres backends cores | producer cores | fauxqs cores | api cores | waiting for a CPU, cores (consumers / postgres / producer / fauxqs) | consumer µs/event | postgres µs/event | peak RSS MiB (consumer / producer / fauxqs / api) | errors (db / send failed / retried) |",
      "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    );
    for (const s of run.steps) {
      const c = s.cpuCores;
      const consumerCores = (c.consumer ?? 0) + (c.consumers ?? 0);
      const rss = s.peakRssMb;
      out.push(
        `| ${fmt(s.offered)} | ${fmt(consumerCores, 2)} | ${fmt(c.postgres, 2)} | ${
          fmt(c.producer, 2)
        } | ${fmt(c.fauxqs, 2)} | ${fmt(c.api, 2)} | ${waits(s.cpuWaitCores)} | ${
          fmt(s.consumerCpuUsPerEvent, 1)
        } | ${fmt(s.pgCpuUsPerEvent, 1)} | ${fmt(rss.consumer ?? rss.consumers)} / ${
          fmt(rss.producer)
        } / ${fmt(rss.fauxqs)} / ${
          fmt(rss.api)
        } | ${s.errors.dbErrors} / ${s.errors.producerFailed} / ${s.errors.producerRetried} |`,
      );
    }
    out.push(
      "",
      "SQS requests as billed (one per request and per 64 KiB chunk of messages sent or received), per million events over the step's window, from `scalestream_sqs_billed_requests_total`: the producer's per event acknowledged, the consumers' per event stored:",
      "",
      "| offered/s | billed per 10⁶ events | producer / consumers | sends | receives | empty receives | deletes | visibility | other | messages per receive | events per message | body / JSON bytes |",
      "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    );
    for (const s of run.steps) {
      const c = s.sqs;
      if (!c) continue;
      const b = c.perMillion;
      out.push(
        `| ${fmt(s.offered)} | **${fmt(c.billedPerMillion)}** | ${fmt(c.producerPerMillion)} / ${
          fmt(c.consumerPerMillion)
        } | ${fmt(b.sends)} | ${fmt(b.receives)} | ${fmt(b.emptyReceives)} | ${fmt(b.deletes)} | ${
          fmt(b.visibility)
        } | ${fmt(b.other)} | ${fmt(c.messagesPerReceive, 2)} | ${fmt(s.eventsPerMessage, 1)} | ${
          fmt(c.compressionRatio, 3)
        } |`,
      );
    }
    for (const s of run.steps.filter((x) => x.profile)) {
      const p = s.profile!;
      out.push(
        "",
        `CPU profile of consumer-1 at ${fmt(s.offered)} events/s offered (${p.seconds} s, ` +
          `${p.samples} samples at 1 ms; \`${p.file.split("/").pop()}\` in the run's logs, opens ` +
          "in Chrome DevTools). Self time by area: " +
          p.areas.filter((a) => a.share >= 0.01).map((a) => `${a.area} ${pct(a.share)}`).join(
            ", ",
          ) + ".",
        "",
        "| function (self time) | where (line of the transpiled JavaScript) | share |",
        "| --- | --- | --: |",
        ...p.top.map((t) => `| \`${t.fn}\` | ${t.where || "–"} | ${pct(t.share)} |`),
      );
    }
    out.push(
      "",
      run.drain.events > 0
        ? `Drain after the ramp: ${fmt(run.drain.events)} events in ${run.drain.seconds} s ` +
          `(${fmt(run.drain.eventsPerS)} events/s with a backlog${
            run.drain.complete ? "" : ", **incomplete**"
          }).`
        : `Nothing was left to drain after the ramp${
          run.drain.complete ? "" : " (**but the queue did not settle**)"
        }.`,
      "",
    );
    if (run.storage?.eventsBytes) {
      out.push(
        `Storage at the end: ${fmt(run.storage.events)} raw events in ` +
          `${fmt(run.storage.eventsBytes / 1048576, 1)} MiB (table + indexes, ` +
          `**${fmt(run.storage.bytesPerEvent)} bytes per event**); \`agg_minute\` ` +
          `${fmt(run.storage.aggMinuteBytes / 1048576, 1)} MiB.`,
        "",
      );
    }
    if (run.http) {
      const { ingest, reads, sse } = run.http;
      out.push(
        "### HTTP API",
        "",
        `Ingestion (\`POST /v1/events\`, ${ingest.batch} events per request, ${ingest.concurrency} ` +
          `concurrent loops, keep-alive fetch, ${ingest.durationS} s): **${
            fmt(ingest.requestsPerS)
          } requests/s = ${fmt(ingest.eventsPerS)} events/s**, latency p50 / p95 / p99 / max ` +
          `${ingest.latencyMs.p50} / ${ingest.latencyMs.p95} / ${ingest.latencyMs.p99} / ` +
          `${ingest.latencyMs.max} ms, answers ${
            JSON.stringify(ingest.statuses)
          }, network errors ` +
          `${ingest.networkErrors}. Every accepted event is in the reconciliation.`,
        "",
        "| read endpoint (autocannon) | connections | requests/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | errors |",
        "| --- | --: | --: | --: | --: | --: | --: | --: | --: |",
        ...reads.map((x) =>
          `| \`GET ${x.path}\` | ${x.connections} | ${
            fmt(x.requestsPerS)
          } | ${x.latencyMs.p50} | ${x.latencyMs.p90} | ${x.latencyMs.p99} | ${x.latencyMs.max} | ${x.non2xx} | ${x.errors} |`
        ),
        "",
        `Live stream: ${sse.connected} of ${sse.clients} \`/v1/stream\` clients connected for ` +
          `${sse.durationS} s while the ingestion and read load ran; frames per client min / ` +
          `median / max ${sse.framesPerClient.min} / ${sse.framesPerClient.median} / ` +
          `${sse.framesPerClient.max}; longest wait between two updates p50 / p99 / max ` +
          `${sse.maxGapMs.p50} / ${sse.maxGapMs.p99} / ${sse.maxGapMs.max} ms; clients that ` +
          `once waited more than ${sse.lateGapMs} ms: **${sse.clientsWithLateUpdate}**.`,
        "",
      );
    }
    out.push(
      "Processes (whole run):",
      "",
      "| process | CPU s | peak RSS MiB | exit |",
      "| --- | --: | --: | --: |",
      ...run.processes.map((p) =>
        `| ${p.name} | ${fmt(p.cpuS, 1)} | ${fmt(p.peakRssMb)} | ${p.exitCode ?? "signal"} |`
      ),
      "",
    );
  }
  out.push(
    "## How it is measured",
    "",
    "- **sent/s**: the producer process's own summary (events sent ÷ its run time); the producer is " +
      "open loop, so a step it cannot keep up with shows as `producer-limited`.",
    "- **stored/s**: growth of `sum(agg_minute.events)` (what `GET /v1/pipeline/totals` counts) over " +
      "the step's window: the step minus a warm-up of min(5 s, ¼ step), sampled every second.",
    "- **acked/s** and **unacked**: the producer's own counters (`/metrics` on " +
      "`PRODUCER_METRICS_PORT`): events SQS acknowledged, and events generated but not yet " +
      "acknowledged (waiting in the sender for a free request slot or for SQS's answer).",
    "- **queue**: `ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible` " +
      "(GetQueueAttributes every second) × events per message of that step; Δ/s is the " +
      "least-squares slope over the window.",
    "- **e2e latency**: the consumers' `scalestream_e2e_latency_seconds` histogram (event " +
      "timestamp → commit of its flush transaction), scraped from each consumer's `/metrics`, " +
      "summed, differenced over the window; percentiles interpolated inside the buckets " +
      "(10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10, 30, 60 s …), so they are bucket estimates.",
    "- **flush**: `scalestream_consumer_flush_duration_seconds` the same way (one transaction: raw " +
      "insert, aggregates, counters; retries included).",
    "- **CPU**: utime + stime from `/proc/<pid>/stat` of every process started; PostgreSQL " +
      "backends are found by matching the children's TCP client ports (`/proc/<pid>/net/tcp`) " +
      "with `pg_stat_activity.client_port`, so other users of the shared server are not counted. " +
      "**Waiting for a CPU**: the run-queue delay of all their threads (`/proc/<pid>/task/*/schedstat`) " +
      "per second: how many of them were runnable without a core — the machine, not the code, " +
      "was the limit while it is high. " +
      "**RSS**: `VmRSS` sampled every second (peak per step), `VmHWM` for the whole run.",
    "- **verdict**: `consumers-behind` when the queue grows faster than 5 % of the offered rate " +
      "and holds more than 1 s of traffic at the end; `send-path-behind` when the unacknowledged " +
      "events in the producer do (SQS — here fauxqs on the same cores — is the limit); " +
      "`producer-limited` when the generator made < 95 % of the target; also not sustained when " +
      "stored/s < 90 % of offered (attributed to the send path if acked/s is below that too). " +
      "The knee is the highest sustained step before the first unsustained one; the ramp stops " +
      "there unless `--no-stop`.",
    "- **reconciliation**: after draining, the sum of the producers' ledgers (and of the HTTP " +
      "ingestion's) is compared with `GET /v1/pipeline/totals` by the rule of docs/producer.md, " +
      "section Ledger; a mismatch fails the run.",
    "",
  );
  return out.join("\n");
}

/** Writes report.md, results.json and the charts into `dir`. */
export async function writeReport(dir: string, report: LoadtestReport): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/results.json`, JSON.stringify(report, null, 2) + "\n");
  for (const [name, svg] of Object.entries(chartsOf(report))) {
    await Deno.writeTextFile(`${dir}/${name}`, svg);
  }
  await Deno.writeTextFile(`${dir}/report.md`, reportMarkdown(report));
}

/** `deno run -A bench/loadtest/write_report.ts DIR`: re-renders a run's report and charts. */
if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) {
    console.error("usage: write_report.ts RESULTS_DIR (holding results.json)");
    Deno.exit(2);
  }
  const report = JSON.parse(await Deno.readTextFile(`${dir}/results.json`)) as LoadtestReport;
  await writeReport(dir, report);
  console.error(`re-rendered ${dir}/report.md and its charts`);
}
