/**
 * `reconcile`: the ledger against stored totals, pure and as `deno task reconcile --ledger FILE`
 * on a real PostgreSQL schema (exit 0 "reconciled exactly", exit 1 with each difference printed).
 */
import assert from "node:assert/strict";
import { createLedger, type LedgerTotals, metaOf } from "../producer/mod.ts";
import { formatDifferences, reconcile, type StoredTotals } from "../producer/reconcile.ts";
import { createTestDb, testDatabaseUrl } from "./harness.ts";

const { embedded } = await testDatabaseUrl();

function ledgerOf(): LedgerTotals {
  const l = createLedger();
  const purchase = { eventType: "purchase" as const, price: 10.5, quantity: 2 };
  l.acked([metaOf("unique", purchase), metaOf("unique", { eventType: "page_view" })]);
  l.acked([metaOf("duplicate", purchase), metaOf("invalid", null)]);
  l.acked([metaOf("too_new", { eventType: "search" }), metaOf("too_old", { eventType: "search" })]);
  return l.totals();
}

const exactTotals = (): StoredTotals => ({
  stored: 2,
  byType: { purchase: 1, page_view: 1 },
  revenue: 21,
  rejected: 1,
  duplicates: 1,
  tooOld: 1,
  tooNew: 1,
});

Deno.test("reconcile is exact when every rule holds, and duplicates may exceed the ledger's", () => {
  const r = reconcile(ledgerOf(), exactTotals());
  assert.deepEqual(r, { exact: true, differences: [], missing: 0, extra: 0 });
  assert.equal(reconcile(ledgerOf(), { ...exactTotals(), duplicates: 3 }).exact, true);
});

Deno.test("reconcile names each difference: lost, double counted, revenue, rejects, failed", () => {
  const lost = reconcile(ledgerOf(), { ...exactTotals(), stored: 1, byType: { purchase: 1 } });
  assert.equal(lost.exact, false);
  assert.equal(lost.missing, 1);
  assert.deepEqual(formatDifferences(lost.differences), [
    "stored: expected 2, got 1 (−1)",
    "byType.page_view: expected 1, got 0 (−1)",
  ]);
  const twice = reconcile(ledgerOf(), {
    ...exactTotals(),
    stored: 3,
    byType: { purchase: 2, page_view: 1 },
    revenue: 42,
  });
  assert.equal(twice.extra, 1);
  assert.ok(formatDifferences(twice.differences).includes("revenue: expected 21, got 42 (+21.00)"));
  const r = reconcile({ ...ledgerOf(), failed: 3 }, {
    ...exactTotals(),
    rejected: 0,
    duplicates: 0,
  });
  const lines = formatDifferences(r.differences);
  assert.ok(lines.some((l) => l.startsWith("failed: expected 0, got 3")));
  assert.ok(lines.includes("rejected: expected 1, got 0 (−1)"));
  assert.ok(lines.includes("duplicates: expected at least 1, got 0 (−1)"));
});

async function runReconcile(env: Record<string, string>, ledger: unknown) {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(ledger));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "producer/main.ts", "reconcile", "--ledger", file],
      cwd: new URL("..", import.meta.url).pathname,
      env: { LOG_LEVEL: "warning", NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test({
  name:
    "deno task reconcile --ledger FILE: exit 0 when exact, 1 with each difference, 2 without a ledger",
  ignore: embedded,
  async fn() {
    const db = await createTestDb();
    try {
      const env = { DATABASE_URL: db.url, DB_SCHEMA: db.schema };
      const empty = { ...createLedger().totals() };
      const ok = await runReconcile(env, empty);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /reconciled exactly/);

      // A reject as the flush records it: the row, and the running total it adds to.
      await db.sql`insert into rejects (message_id, event_index, kind, reason, payload)
        values ('m1', 0, 'invalid', 'bad', '{"properties":{"runId":"run-b"}}')`;
      await db.sql`insert into pipeline_totals (shard, kind, n) values (0, 'rejected', 1)`;
      const bad = await runReconcile(env, { ...empty, unique: 5, byType: { page_view: 5 } });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /stored: expected 5, got 0 \(−5\)/);
      assert.match(bad.stdout, /byType\.page_view: expected 5, got 0/);
      assert.match(bad.stdout, /rejected: expected 0, got 1 \(\+1\)/);

      // A ledger naming its run is compared with that run's rows only.
      const run = (id: string) => ({
        id,
        startedAt: new Date(Date.now() - 60_000).toISOString(),
        eventTimeFrom: null,
        eventTimeTo: null,
      });
      const other = await runReconcile(env, { ...empty, run: run("run-a") });
      assert.equal(other.code, 0, other.stdout);
      assert.match(other.stdout, /reconciled exactly \(run run-a\)/);
      const own = await runReconcile(env, { ...empty, run: run("run-b") });
      assert.equal(own.code, 1, own.stdout);
      assert.match(own.stdout, /rejected: expected 0, got 1 \(\+1\)/);

      const usage = await runReconcile(env, "not a ledger");
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /cannot read the ledger/);
    } finally {
      await db.close();
    }
  },
});
