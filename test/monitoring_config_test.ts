/**
 * The Grafana dashboard and the Prometheus alert rules refer only to metrics the code exports, and
 * have the structure Grafana and Prometheus need. `promtool` (Debian package `prometheus`) checks
 * the rules too when it is installed; CI installs it.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { createApiMetrics } from "../api/mod.ts";
import { type ConsumerStats, createConsumerMetrics } from "../consumer/mod.ts";
import { createProducerMetrics, type SenderStats } from "../producer/mod.ts";
import {
  createMetricsRegistry,
  createQueueDepthMonitor,
  instrumentSqsClient,
  SQSClient,
} from "../shared/mod.ts";

const ROOT = new URL("../", import.meta.url);
const DASHBOARD = new URL("deploy/grafana/scalestream.json", ROOT);
const ALERTS = new URL("deploy/prometheus/alerts.yml", ROOT);

/** Every series name a scrape of a ScaleStream process can contain. */
async function exportedNames(): Promise<Set<string>> {
  const registry = createMetricsRegistry();
  const sqs = new SQSClient({ region: "us-east-1" }); // never sends: only its middleware stack is used
  instrumentSqsClient(sqs, registry);
  // Every stat is 0: only the names matter here.
  const zeros = new Proxy({}, { get: () => 0 });
  createConsumerMetrics(registry, { stats: () => zeros as ConsumerStats, sqs });
  createProducerMetrics(registry, { stats: () => zeros as SenderStats });
  createApiMetrics(registry);
  createQueueDepthMonitor(registry, { sqs, queueUrl: "q", dlqUrl: "d" });
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (["histogram", "summary"].includes(String(m.type))) {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(m.name + suffix);
    }
  }
  sqs.destroy();
  return names;
}

const METRIC_REF = /\b(?:scalestream|process|nodejs)_[a-z0-9_]+\b/g;

function referenced(expr: string): string[] {
  return [...expr.matchAll(METRIC_REF)].map((m) => m[0]);
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string }[];
}

Deno.test("the Grafana dashboard parses and every panel queries exported metrics", async () => {
  const names = await exportedNames();
  const dash = JSON.parse(await Deno.readTextFile(DASHBOARD));
  assert.equal(dash.uid, "scalestream");
  assert.equal(typeof dash.title, "string");
  assert.ok(Number.isInteger(dash.schemaVersion) && dash.schemaVersion >= 36);
  assert.ok(dash.templating.list.some((v: { type: string }) => v.type === "datasource"));
  const panels: Panel[] = dash.panels;
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, "panel ids must be unique");
  const used = new Set<string>();
  for (const p of panels) {
    assert.ok(p.gridPos && p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" has a bad gridPos`);
    if (p.type === "row") continue;
    assert.ok(["stat", "timeseries"].includes(p.type), `panel "${p.title}": type ${p.type}`);
    assert.ok(p.targets && p.targets.length > 0, `panel "${p.title}" has no query`);
    for (const t of p.targets) {
      const refs = referenced(t.expr);
      assert.ok(refs.length > 0, `panel "${p.title}" query ${t.refId} names no metric`);
      for (const r of refs) {
        assert.ok(names.has(r), `panel "${p.title}" queries "${r}", which nothing exports`);
        used.add(r);
      }
    }
  }
  // What operators must see at a glance (issue 7).
  for (
    const m of [
      "scalestream_producer_events_acked_total",
      "scalestream_consumer_events_stored_total",
      "scalestream_e2e_latency_seconds_bucket",
      "scalestream_consumer_flush_duration_seconds_bucket",
      "scalestream_consumer_flush_size_events_bucket",
      "scalestream_queue_messages",
      "scalestream_consumer_db_errors_total",
      "scalestream_consumer_inflight_events",
      "scalestream_consumer_lag_seconds",
      "scalestream_api_requests_total",
    ]
  ) assert.ok(used.has(m), `the dashboard does not show ${m}`);
});

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

Deno.test("the alert rules are well formed and reference exported metrics only", async () => {
  const names = await exportedNames();
  const doc = parse(await Deno.readTextFile(ALERTS)) as {
    groups: { name: string; rules: Rule[] }[];
  };
  assert.ok(Array.isArray(doc.groups) && doc.groups.length > 0);
  const alerts = new Set<string>();
  for (const g of doc.groups) {
    assert.equal(typeof g.name, "string");
    for (const r of g.rules) {
      assert.ok(r.alert, `group ${g.name} has a rule without a name`);
      assert.ok(!alerts.has(r.alert), `alert ${r.alert} is defined twice`);
      alerts.add(r.alert);
      assert.ok(["warning", "critical"].includes(r.labels?.severity ?? ""), `${r.alert}: severity`);
      assert.ok(r.annotations?.summary, `${r.alert} has no summary`);
      if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/);
      const refs = referenced(r.expr);
      assert.ok(refs.length > 0, `${r.alert} names no metric`);
      for (const m of refs) {
        assert.ok(names.has(m), `${r.alert} uses "${m}", which nothing exports`);
      }
    }
  }
  for (
    const a of [
      "ScaleStreamBacklogGrowing",
      "ScaleStreamOldestMessageTooOld",
      "ScaleStreamDeadLetterQueueNotEmpty",
      "ScaleStreamDatabaseErrors",
      "ScaleStreamApiErrorRate",
      "ScaleStreamEndToEndLatencyHigh",
    ]
  ) assert.ok(alerts.has(a), `alert ${a} is missing`);
});

const promtool = await (async () => {
  try {
    const out = await new Deno.Command("promtool", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "promtool accepts the alert rules and their unit tests pass",
  ignore: !promtool,
  async fn() {
    const dir = new URL("deploy/prometheus/", ROOT).pathname;
    for (const args of [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]]) {
      const out = await new Deno.Command("promtool", { args, cwd: dir }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `promtool ${args.join(" ")} failed:\n${text}`);
    }
  },
});
