/**
 * Restore drill: a database that the pipeline is writing into is dumped with pg_dump (in one
 * exported snapshot, so the dump is a consistent instant while flushes go on), restored with
 * pg_restore into a new database, and reconciled: every table equals the dumped snapshot row for
 * row, the restored aggregates equal a recount of the restored raw events, and
 * `deno task restore-check` says so too. Needs a PostgreSQL server (not PGlite) and its client
 * tools (/usr/lib/postgresql/15/bin).
 */
import assert from "node:assert/strict";
import { analyticsStages, createConsumer } from "../consumer/mod.ts";
import {
  compareFingerprints,
  databaseFingerprint,
  reconcileAggregates,
} from "../consumer/restore_check.ts";
import {
  createEventSender,
  createGenerator,
  createLedger,
  metaOf,
  type SentMeta,
} from "../producer/mod.ts";
import { createSql, migrate } from "../shared/mod.ts";
import { createTestSqs, eventually, testConfig, testDatabaseUrl } from "./harness.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const { url: serverUrl, embedded } = await testDatabaseUrl();
const tools = await Deno.stat(`${PG_BIN}/pg_dump`).then(() => true, () => false);

const dbUrl = (name: string) => {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
};

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, code: out.code, text };
}

Deno.test({
  name: "a database dumped while the pipeline writes restores into a new database that reconciles",
  ignore: embedded || !tools,
  async fn() {
    const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const [srcName, dstName] = [`restore_src_${suffix}`, `restore_dst_${suffix}`];
    const admin = createSql(serverUrl, { max: 1 });
    await admin.unsafe(`create database ${srcName}`);
    await admin.unsafe(`create database ${dstName}`);
    const src = createSql(dbUrl(srcName), { max: 4 });
    const dst = createSql(dbUrl(dstName), { max: 2 });
    const q = await createTestSqs();
    const dumpFile = await Deno.makeTempFile({ suffix: ".dump" });
    const config = testConfig();
    const consumer = createConsumer({
      sql: src,
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      config,
      workerId: "restore-drill",
      stages: analyticsStages(config),
    });
    try {
      await migrate(src);
      consumer.start();
      const ledger = createLedger();
      const sender = createEventSender<SentMeta>({
        sqs: q.sqs,
        queueUrl: q.queueUrl,
        maxMessageBytes: 8192,
        lingerMs: 5,
        maxInflightBatches: 4,
        onAck: (m) => ledger.acked(m),
        onFail: (m) => ledger.failed(m),
      });
      const gen = createGenerator({ seed: 7, users: 200, products: 50 });
      const start = Date.now() - 3_600_000;
      const produce = (async () => {
        for (let i = 0; i < 8000; i++) {
          const e = gen.next(start + i * 400);
          await sender.send(e, metaOf("unique", e));
          if (i % 200 === 0) await sender.send({ ...e, eventId: "bogus" }, metaOf("invalid", null));
        }
        await sender.flush();
      })();

      // Dump mid-stream: once some events are stored, while the rest keep arriving.
      assert.ok(
        await eventually(async () =>
          (await src<{ n: number }[]>`select count(*)::int as n from events`)[0]!.n >= 1000
        ),
        "the consumer stored nothing",
      );
      const conn = await src.reserve();
      let dumped: Awaited<ReturnType<typeof databaseFingerprint>>;
      try {
        await conn`begin isolation level repeatable read`;
        const [{ id }] = await conn<[{ id: string }]>`select pg_export_snapshot() as id`;
        const dump = run(`${PG_BIN}/pg_dump`, [
          "--format=custom",
          `--snapshot=${id}`,
          `--file=${dumpFile}`,
          `--dbname=${dbUrl(srcName)}`,
        ]);
        dumped = await databaseFingerprint(conn);
        const result = await dump;
        assert.ok(result.ok, `pg_dump failed:\n${result.text}`);
        await conn`commit`;
      } finally {
        conn.release();
      }
      await produce;

      const restore = await run(`${PG_BIN}/pg_restore`, [
        "--exit-on-error",
        "--no-owner",
        `--dbname=${dbUrl(dstName)}`,
        dumpFile,
      ]);
      assert.ok(restore.ok, `pg_restore failed:\n${restore.text}`);

      // Same tables, same rows as the instant that was dumped.
      const restored = await dst.begin(databaseFingerprint);
      assert.deepEqual(compareFingerprints(dumped, restored), []);
      assert.ok(restored.events!.rows >= 1000);
      assert.ok(restored.rejects!.rows > 0, "the dump holds rejects too");
      // Same totals as its own raw events.
      const aggregates = await dst.begin(reconcileAggregates);
      assert.deepEqual(aggregates.differences, []);
      assert.equal(aggregates.rawEvents, restored.events!.rows);
      // The command the runbook uses after an RDS restore agrees.
      const check = await run(Deno.execPath(), [
        "run",
        "-A",
        new URL("../consumer/main.ts", import.meta.url).pathname,
        "restore-check",
      ], { DATABASE_URL: dbUrl(dstName), LOG_LEVEL: "error" });
      assert.equal(check.code, 0, check.text);
      assert.equal(JSON.parse(check.text.trim().split("\n").at(-1)!).ok, true);

      // Meanwhile the source finished and is exact against the ledger.
      const expected = ledger.totals();
      assert.equal(expected.failed, 0);
      assert.ok(
        await eventually(async () =>
          (await src<{ n: number }[]>`select count(*)::int as n from events`)[0]!.n ===
            expected.unique
        ),
      );
      assert.deepEqual((await src.begin(reconcileAggregates)).differences, []);
    } finally {
      await consumer.stop();
      await q.close();
      await src.end({ timeout: 2 });
      await dst.end({ timeout: 2 });
      await admin.unsafe(`drop database if exists ${srcName} with (force)`);
      await admin.unsafe(`drop database if exists ${dstName} with (force)`);
      await admin.end();
      await Deno.remove(dumpFile).catch(() => {});
    }
  },
});
