/**
 * `deno task bench:sqs-cost --json` end to end at toy size: fauxqs, a consumer, the API and a
 * producer as separate processes for a 6 s step. Checks the plumbing and the JSON it prints
 * (billed requests by kind, latency, reconcile), never the figures themselves. Needs a real
 * PostgreSQL (consumers are separate processes; PGlite serves one connection).
 */
import assert from "node:assert/strict";
import type { SqsCostResult } from "../bench/loadtest/sqs_cost.ts";
import { testDatabaseUrl } from "./harness.ts";

const { url, embedded } = await testDatabaseUrl();
const MAIN = new URL("../bench/loadtest/sqs_cost.ts", import.meta.url).pathname;

Deno.test({
  name:
    "bench:sqs-cost --json prints billed requests per million events by kind, p95 and the reconcile verdict",
  ignore: embedded,
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--rate", "300", "--seconds", "6", "--json"],
      env: { DATABASE_URL: url },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(stderr);
    assert.equal(code, 0, log);
    const r = JSON.parse(new TextDecoder().decode(stdout)) as SqsCostResult;
    assert.equal(r.rate, 300);
    assert.equal(r.seconds, 6);
    assert.match(r.command, /^deno task bench:sqs-cost --rate 300 --seconds 6 --json$/);
    assert.match(r.loadAverage.start, /^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
    assert.deepEqual(Object.keys(r.perMillion).sort(), [
      "deletes",
      "emptyPolls",
      "heartbeats",
      "other",
      "receives",
      "sends",
    ]);
    for (const [k, v] of Object.entries(r.perMillion)) {
      assert.ok(Number.isFinite(v) && v >= 0, `perMillion.${k} = ${v}`);
    }
    assert.ok(r.events.acked > 0 && r.events.stored > 0);
    assert.ok(r.perMillion.sends > 0 && r.perMillion.receives > 0 && r.perMillion.deletes > 0);
    // The total is the producer's and the consumers' share; the kinds add up to it (rounding).
    // Each figure is rounded on its own, so the parts may sum to one more or less.
    assert.ok(
      Math.abs(r.billedPerMillion - (r.producerPerMillion + r.consumerPerMillion)) <= 1,
      `${r.billedPerMillion} ≠ ${r.producerPerMillion} + ${r.consumerPerMillion}`,
    );
    const sum = Object.values(r.perMillion).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - r.billedPerMillion) <= 6, `${sum} vs ${r.billedPerMillion}`);
    // Chunks are never fewer than calls; deletes are one billed request per call.
    for (const op of ["SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch"]) {
      assert.ok((r.requests[op] ?? 0) > 0, `no ${op} in the window`);
      assert.ok((r.billed[op] ?? 0) >= r.requests[op]!, op);
    }
    assert.equal(r.billed.DeleteMessageBatch, r.requests.DeleteMessageBatch);
    assert.ok(r.e2eMs.p95 > 0 && r.e2eMs.p95 >= r.e2eMs.p50);
    assert.equal(r.reconcile.ok, true, r.reconcile.mismatches.join("; "));
    assert.equal(r.drain.complete, true);
    assert.equal(typeof r.withinTargets, "boolean");
  },
});
