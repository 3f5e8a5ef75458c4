/** `deno task produce` and `deno task import-csv` as programs, against a real fauxqs server. */
import assert from "node:assert/strict";
import type { LedgerTotals } from "../producer/mod.ts";
import { validateEvent } from "../shared/mod.ts";
import { createTestSqs, drainQueue, messageEvents, type TestSqs } from "./harness.ts";

const ROOT = new URL("..", import.meta.url);
const MAIN = new URL("../producer/main.ts", import.meta.url).pathname;

async function run(args: string[], q?: TestSqs) {
  const env: Record<string, string> = { LOG_FORMAT: "json", LOG_LEVEL: "warning", NO_COLOR: "1" };
  if (q) {
    env.SQS_ENDPOINT = q.endpoint;
    // The queues createTestSqs made; same attributes, so the program's CreateQueue is a no-op.
    env.SQS_QUEUE_NAME = q.queueUrl.split("/").at(-1)!;
    env.SQS_DLQ_NAME = q.dlqUrl.split("/").at(-1)!;
    env.SQS_MAX_RECEIVE_COUNT = "3";
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const receiveAll = async (q: TestSqs) => messageEvents(await drainQueue(q));

Deno.test("produce writes a ledger that equals what the queue received", async () => {
  const q = await createTestSqs();
  const ledgerFile = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const r = await run([
      "--rate=20000",
      "--events=4000",
      "--seed=3",
      "--users=300",
      "--invalid=2%",
      "--duplicates=0.02",
      "--too-new=1%",
      "--bots=0.02",
      "--ledger",
      ledgerFile,
    ], q);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(summary.sent, 4000);
    assert.equal(summary.seed, 3);
    const ledger = JSON.parse(await Deno.readTextFile(ledgerFile)) as LedgerTotals;
    const values = await receiveAll(q);
    assert.equal(values.length, ledger.accepted);
    const ids = new Set<string>();
    let invalid = 0;
    let duplicates = 0;
    for (const v of values) {
      const res = validateEvent(v);
      if (!res.ok) invalid++;
      else if (ids.has(res.event.eventId)) duplicates++;
      else ids.add(res.event.eventId);
    }
    assert.equal(invalid, ledger.invalid);
    assert.equal(duplicates, ledger.duplicates);
    assert.equal(ids.size, ledger.unique);
    assert.ok(ledger.tooNew > 0);
  } finally {
    await Deno.remove(ledgerFile);
    await q.close();
  }
});

Deno.test("import-csv sends the valid rows of a partner file and reports the others", async () => {
  const q = await createTestSqs();
  try {
    const fixture = new URL("./fixtures/partner_feed.csv", import.meta.url).pathname;
    const r = await run(["import-csv", fixture], q);
    assert.equal(r.code, 1, "exit 1: some rows were invalid");
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(summary.sent, 8);
    assert.equal(summary.invalid, 4);
    assert.match(r.stderr, /partner_feed\.csv:9/);
    assert.equal((await receiveAll(q)).length, 8);
  } finally {
    await q.close();
  }
});

Deno.test("bad flags end with a clear message and exit status 2", async () => {
  for (
    const args of [
      ["--rate", "fast"],
      ["--profile", "ramp:1"],
      ["--mix", "page_vue=1"],
      ["--invalid", "150%"],
      ["--target", "kafka"],
      ["--no-such-flag"],
      ["import-csv"],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^error: /, args.join(" "));
  }
});
