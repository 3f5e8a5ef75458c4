import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  CONSUMER_EMF_METRICS,
  EMF_NAMESPACE,
  histogramQuantile,
  startEmfPublisher,
} from "./emf_metrics.ts";

Deno.test("histogramQuantile() interpolates inside the bucket that holds the rank", () => {
  const b = [{ le: 0.1, count: 50 }, { le: 0.5, count: 90 }, { le: 1, count: 100 }, {
    le: Infinity,
    count: 100,
  }];
  assert.equal(histogramQuantile(b, 0.5), 0.1);
  assert.equal(histogramQuantile(b, 0.95), 0.75);
  assert.equal(
    histogramQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 0 }], 0.95),
    undefined,
  );
  assert.equal(histogramQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 4 }], 0.95), 1);
});

Deno.test("the EMF publisher writes per-interval deltas, p95 and gauges in the ScaleStream namespace", async () => {
  const registry = new Registry();
  const stored = new Counter({
    name: "scalestream_consumer_events_stored_total",
    help: "h",
    registers: [registry],
  });
  const rejected = new Counter({
    name: "scalestream_consumer_events_rejected_total",
    help: "h",
    labelNames: ["kind"],
    registers: [registry],
  });
  const e2e = new Histogram({
    name: "scalestream_e2e_latency_seconds",
    help: "h",
    buckets: [0.1, 0.5, 1],
    registers: [registry],
  });
  new Gauge({ name: "scalestream_consumer_lag_seconds", help: "h", registers: [registry] }).set(3);
  const lines: string[] = [];
  const publisher = startEmfPublisher({
    registry,
    dimensions: { Service: "consumer" },
    intervalMs: 3_600_000,
    write: (l) => lines.push(l),
  });
  stored.inc(1000);
  rejected.inc({ kind: "invalid" }, 3);
  rejected.inc({ kind: "out_of_range" }, 2);
  for (let i = 0; i < 100; i++) e2e.observe(i < 90 ? 0.05 : 2);
  const first = await publisher.publish();
  assert.deepEqual(first, {
    EventsStored: 1000,
    EventsRejected: 5,
    EndToEndLatencyP95: 1000,
    ConsumerLag: 3,
  });
  stored.inc(10);
  for (let i = 0; i < 10; i++) e2e.observe(0.05);
  const second = await publisher.publish();
  assert.equal(second.EventsStored, 10);
  assert.equal(second.EventsRejected, 0);
  assert.ok(
    second.EndToEndLatencyP95! <= 100,
    `p95 of the second interval only: ${second.EndToEndLatencyP95}`,
  );
  await publisher.stop();

  assert.ok(lines.length >= 2);
  const doc = JSON.parse(lines[0]!);
  const directive = doc._aws.CloudWatchMetrics[0];
  assert.equal(directive.Namespace, EMF_NAMESPACE);
  assert.deepEqual(directive.Dimensions, [["Service"]]);
  assert.equal(doc.Service, "consumer");
  assert.equal(doc.EventsStored, 1000);
  const units = Object.fromEntries(
    directive.Metrics.map((m: { Name: string; Unit: string }) => [m.Name, m.Unit]),
  );
  assert.equal(units.EventsStored, "Count");
  assert.equal(units.EndToEndLatencyP95, "Milliseconds");
  assert.ok(typeof doc._aws.Timestamp === "number");
  // The derived-stage lag is skipped until something exports it.
  assert.ok(CONSUMER_EMF_METRICS.some((m) => m.name === "DerivedStageLag"));
  assert.equal(doc.DerivedStageLag, undefined);
});
