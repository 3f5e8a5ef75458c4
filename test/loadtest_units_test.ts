/**
 * The load test's pure parts: Prometheus histogram arithmetic, the saturation verdict and knee,
 * ledger reconciliation, billed SQS requests per million events, and the SVG charts.
 */
import assert from "node:assert/strict";
import {
  diffHistograms,
  histogramQuantile,
  parseCounter,
  parseCounterBy,
  parseHistogram,
} from "../bench/loadtest/prom_histogram.ts";
import { judgeStep, knee, slope } from "../bench/loadtest/saturation.ts";
import { compareWithTotals, sqsCost } from "../bench/loadtest/run_ramp.ts";
import { linearTicks, lineChart, logTicks } from "../bench/loadtest/svg_chart.ts";
import { quantile } from "../bench/loadtest/http_load.ts";
import { emptyLedgerTotals, type LedgerTotals, sumLedgers } from "../producer/mod.ts";

const SCRAPE = (a: number, b: number, c: number) =>
  `# HELP x
# TYPE scalestream_e2e_latency_seconds histogram
scalestream_e2e_latency_seconds_bucket{le="0.1"} ${a}
scalestream_e2e_latency_seconds_bucket{le="0.5"} ${b}
scalestream_e2e_latency_seconds_bucket{le="+Inf"} ${c}
scalestream_e2e_latency_seconds_sum 12.5
scalestream_e2e_latency_seconds_count ${c}
scalestream_consumer_db_errors_total{class="transient"} 2
scalestream_consumer_db_errors_total{class="permanent"} 1
scalestream_consumer_db_errors_total_other 99
`;

Deno.test("histogram quantiles interpolate inside buckets of the difference of two scrapes", () => {
  const before = parseHistogram(SCRAPE(10, 10, 10), "scalestream_e2e_latency_seconds");
  const after = parseHistogram(SCRAPE(60, 110, 110), "scalestream_e2e_latency_seconds");
  const d = diffHistograms(after, before);
  assert.equal(d.count, 100);
  // 50 observations ≤ 0.1 s and 50 in (0.1, 0.5]: the median is the 0.1 bound, p75 half-way.
  assert.equal(histogramQuantile(d, 0.5), 0.1);
  assert.ok(Math.abs(histogramQuantile(d, 0.75) - 0.3) < 1e-9);
  assert.ok(Number.isNaN(histogramQuantile(diffHistograms(before, before), 0.5)));
  // Counters sum their label sets and ignore metrics that merely share the prefix.
  assert.equal(parseCounter(SCRAPE(1, 1, 1), "scalestream_consumer_db_errors_total"), 3);
});

Deno.test("a quantile in the +Inf bucket reports the largest finite bound", () => {
  const h = parseHistogram(SCRAPE(0, 0, 5), "scalestream_e2e_latency_seconds");
  assert.equal(histogramQuantile(h, 0.99), 0.5);
});

const steady = {
  offered: 10_000,
  achieved: 10_000,
  acked: 10_000,
  stored: 10_000,
  queueSlope: 0,
  queueEnd: 0,
  sendSlope: 0,
  sendEnd: 0,
};

Deno.test("a growing backlog saturates a step where it grows; the knee is the step before", () => {
  assert.equal(slope([[0, 0], [1, 100], [2, 200]]), 100);
  assert.equal(judgeStep(steady), "sustained");
  assert.equal(
    judgeStep({ ...steady, stored: 7_000, queueSlope: 3_000, queueEnd: 60_000 }),
    "consumers-behind",
  );
  // Piling up in the producer, unacknowledged: the send path (SQS) is the limit, not consumers.
  assert.equal(
    judgeStep({ ...steady, acked: 7_000, stored: 7_000, sendSlope: 3_000, sendEnd: 60_000 }),
    "send-path-behind",
  );
  // Noise: a small positive slope with less than a second of traffic waiting is not saturation.
  assert.equal(judgeStep({ ...steady, queueSlope: 800, queueEnd: 4_000 }), "sustained");
  assert.equal(judgeStep({ ...steady, offered: 50_000, achieved: 30_000 }), "producer-limited");
  // Stored far below offered with no visible growth still is not sustained.
  assert.equal(judgeStep({ ...steady, stored: 6_000 }), "consumers-behind");
  assert.deepEqual(
    knee([
      { offered: 1000, verdict: "sustained" },
      { offered: 5000, verdict: "sustained" },
      { offered: 20000, verdict: "consumers-behind" },
    ]),
    { knee: 5000, saturatedAt: 20000 },
  );
  assert.deepEqual(knee([{ offered: 1000, verdict: "sustained" }]), {
    knee: 1000,
    saturatedAt: null,
  });
});

const ledger = (o: Partial<LedgerTotals>): LedgerTotals => ({ ...emptyLedgerTotals(), ...o });

Deno.test("ledgers are summed to the cent and compared by the ledger's reconciliation rule (docs/producer.md)", () => {
  const sum = sumLedgers([
    ledger({ unique: 10, byType: { page_view: 8, purchase: 2 }, revenue: 0.1, duplicates: 1 }),
    ledger({ unique: 5, byType: { purchase: 3, search: 1 }, revenue: 0.2, tooOld: 1 }),
  ]);
  assert.equal(sum.revenue, 0.3);
  assert.deepEqual(sum.byType, { page_view: 8, purchase: 5, search: 1 });
  const totals = {
    stored: 14,
    byType: { page_view: 8, purchase: 5, search: 1 },
    revenue: 0.3,
    rejected: 0,
    duplicates: 3,
    tooOld: 1,
    tooNew: 0,
  };
  assert.deepEqual(compareWithTotals(sum, totals), []);
  const bad = compareWithTotals(sum, { ...totals, stored: 15, duplicates: 0 });
  assert.equal(bad.length, 2);
  assert.match(bad[0]!, /stored: expected 14, got 15/);
  assert.ok(compareWithTotals({ ...sum, failed: 1 }, totals).some((m) => m.includes("failed")));
});

Deno.test("charts are SVG with one line per series, round ticks and escaped text", () => {
  assert.deepEqual(linearTicks(0, 9.5, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(logTicks(130, 485), [100, 200, 500]);
  const svg = lineChart({
    title: "a < b & c",
    xLabel: "x",
    yLabel: "y",
    logX: true,
    series: [
      { name: "one", points: [[1000, 900], [5000, 4800]] },
      { name: "two", points: [[1000, 950], [5000, 2000], [20000, NaN]], dash: "2 3" },
    ],
  });
  assert.ok(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
  assert.equal(svg.match(/<polyline/g)?.length, 2);
  assert.match(svg, /a &lt; b &amp; c/);
  assert.match(svg, /stroke-dasharray="2 3"/);
  assert.doesNotMatch(svg, /NaN/);
});

Deno.test("sample quantiles pick the element at the rank", () => {
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(quantile([5, 1, 3, 2, 4], 1), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("billed requests per million events: each side per event it handled, by kind", () => {
  const text = `# TYPE scalestream_sqs_billed_requests_total counter
scalestream_sqs_billed_requests_total{operation="SendMessageBatch"} 300
scalestream_sqs_billed_requests_total{operation="GetQueueUrl"} 1
scalestream_sqs_billed_requests_totalx{operation="Other"} 9`;
  assert.deepEqual(parseCounterBy(text, "scalestream_sqs_billed_requests_total", "operation"), {
    SendMessageBatch: 300,
    GetQueueUrl: 1,
  });
  const producer = (acked: number, sends: number, bodyBytes: number) => ({
    port: 1,
    sent: acked,
    acked,
    billed: { SendMessageBatch: sends },
    requests: { SendMessageBatch: sends },
    eventBytes: acked * 400,
    bodyBytes,
  });
  const consumers = (billedReceives: number, calls: number, empty: number, received: number) => ({
    consumerSqs: {
      billed: { ReceiveMessage: billedReceives, DeleteMessageBatch: calls / 2 },
      requests: { ReceiveMessage: calls, DeleteMessageBatch: calls / 2 },
      empty,
      received,
    },
  });
  // 500k events acked with 1,000 send chunks; 400k stored with 900 billed receives (100 of them
  // empty, 800 calls returning 3,200 messages) and 400 deletes.
  const c = sqsCost(
    consumers(0, 0, 0, 0),
    consumers(900, 800 + 100, 100, 3200),
    producer(0, 0, 0),
    producer(500_000, 1000, 0.14 * 500_000 * 400),
    400_000,
  );
  assert.equal(c.producerPerMillion, 2000);
  assert.equal(c.consumerPerMillion, (900 + 450) * 2.5);
  assert.equal(c.billedPerMillion, 2000 + 3375);
  assert.deepEqual(c.perMillion, {
    sends: 2000,
    receives: 2000,
    emptyReceives: 250,
    deletes: 1125,
    visibility: 0,
    other: 0,
  });
  assert.equal(c.messagesPerReceive, 4);
  assert.equal(c.compressionRatio, 0.14);
});
