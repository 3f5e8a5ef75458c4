/**
 * `deno task loadtest` end to end at toy size: two 3 s steps at low rates with one consumer
 * process, a one-second HTTP phase with a few SSE clients. Checks the exit status, the
 * reconciliation and that the report and its charts are written. Needs a real PostgreSQL
 * (consumers are separate processes; PGlite serves one connection).
 */
import assert from "node:assert/strict";
import { testDatabaseUrl } from "./harness.ts";

const { url, embedded } = await testDatabaseUrl();
const MAIN = new URL("../bench/loadtest/main.ts", import.meta.url).pathname;

Deno.test({
  name: "loadtest at toy size reconciles exactly and writes report.md, results.json and 3 charts",
  ignore: embedded,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "loadtest-" });
    try {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "--steps",
          "200,500",
          "--step-duration",
          "3s",
          "--consumers",
          "1",
          "--http-duration",
          "1s",
          "--read-duration",
          "1s",
          "--read-endpoints",
          "/v1/pipeline/totals",
          "--sse-clients",
          "5",
          // Verdicts at toy rates depend on timing; the test checks the plumbing, so both steps run.
          "--no-stop",
          "--drain-timeout",
          "30s",
          "--out",
          out,
        ],
        env: { DATABASE_URL: url },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(stderr);
      assert.equal(code, 0, log);
      const report = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
      assert.equal(report.ok, true);
      const [run] = report.runs;
      assert.equal(run.reconciliation.ok, true, run.reconciliation.mismatches.join("; "));
      assert.equal(run.steps.length, 2);
      // Everything the producers and the HTTP load got acknowledged was stored, nothing else.
      assert.ok(run.reconciliation.totals.stored > 0);
      assert.equal(run.reconciliation.totals.stored, run.reconciliation.expected.unique);
      assert.ok(run.http.ingest.eventsAccepted > 0);
      assert.equal(run.http.sse.connected, 5);
      const md = await Deno.readTextFile(`${out}/report.md`);
      assert.match(md, /\*\*Result: passed\*\*/);
      assert.match(md, /deno task loadtest --steps 200,500/);
      for (const chart of ["throughput.svg", "latency.svg", "queue_depth.svg"]) {
        assert.match(await Deno.readTextFile(`${out}/${chart}`), /^<svg[\s\S]*<polyline/);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
