/**
 * Lake figures on real components: export throughput (events/s from PostgreSQL to Parquet on
 * fauxqs S3), Parquet bytes per event, and the time of a first (cold cache) and a repeated
 * `query`. `deno run -A bench/lake_bench.ts [--events N]`; needs PostgreSQL (DATABASE_URL or
 * 127.0.0.1:5432). It fills a schema of its own through the consumer's flush and drops it after.
 */
import { parseArgs } from "node:util";
import { flushEvents } from "../consumer/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { createSql, loadConfig, migrate } from "../shared/mod.ts";
import { startEmbeddedSqs } from "../deploy/local/mod.ts";
import { createS3Client, ensureBucket, exportToLake, syncLake } from "../consumer/lake/mod.ts";
import { openLakeDb } from "../consumer/lake/duckdb_lake.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { events: { type: "string", default: "500000" } },
});
const n = Number(values.events);
const url = Deno.env.get("DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `lake_bench_${crypto.randomUUID().slice(0, 8)}`;
const admin = createSql(url, { max: 1 });
await admin.unsafe(`create schema ${schema}`);
const sql = createSql(url, { max: 2, searchPath: schema });
const fauxqs = await startEmbeddedSqs();
const s3 = createS3Client(loadConfig({}, { sqsEndpoint: fauxqs.url }));
const cacheDir = await Deno.makeTempDir({ prefix: "lake-bench-" });
const ms = (t: number) => Math.round(performance.now() - t);
try {
  await migrate(sql);
  await ensureBucket(s3, "bench");
  // One hour of traffic, stored the way consumers store it (flushes of 5,000 events).
  const generator = createGenerator({ seed: 1 });
  const endMs = Date.now();
  let t = performance.now();
  for (let i = 0; i < n; i += 5000) {
    const events = [];
    for (let j = i; j < Math.min(n, i + 5000); j++) {
      const timeMs = endMs - 3_600_000 + Math.floor((j / n) * 3_600_000);
      events.push({ event: generator.next(timeMs), timeMs });
    }
    await flushEvents({ events, rejects: [], messages: 1, workerId: "bench" }, { sql });
  }
  const fillMs = ms(t);

  t = performance.now();
  let exported = { rows: 0, bytes: 0, objects: 0, batches: 0 };
  // Until caught up (other sessions' transactions may hold the snapshot's xmin back briefly).
  while (exported.rows < n) {
    const r = await exportToLake({ sql, s3, bucket: "bench" }, { maxRows: 200_000 });
    exported = {
      rows: exported.rows + r.rows,
      bytes: exported.bytes + r.bytes,
      objects: exported.objects + r.objects,
      batches: exported.batches + r.batches,
    };
  }
  const exportMs = ms(t);

  t = performance.now();
  await syncLake({ s3, bucket: "bench" }, { cacheDir });
  const syncMs = ms(t);
  const db = await openLakeDb(cacheDir);
  const queries = {
    count: "select count(*) from events",
    byTypeHour: "select hour, event_type, count(*), sum(price_cents * quantity) from events " +
      "group by all",
    distinctUsers: "select count(distinct user_id) from events",
  };
  const queryMs: Record<string, number> = {};
  for (const [name, q] of Object.entries(queries)) {
    t = performance.now();
    await db.query(q);
    queryMs[name] = ms(t);
  }
  db.close();
  // `deno task query` as a user runs it: a fresh process, warm cache (nothing to download).
  t = performance.now();
  const cli = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "consumer/lake/main.ts", "query", "--csv", queries.count],
    env: {
      SQS_ENDPOINT: fauxqs.url,
      LAKE_BUCKET: "bench",
      LAKE_CACHE_DIR: cacheDir,
      LOG_LEVEL: "warning",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const cliMs = ms(t);
  if (cli.code !== 0) throw new Error(new TextDecoder().decode(cli.stderr));

  console.log(JSON.stringify(
    {
      events: n,
      fillMs,
      exportMs,
      exportEventsPerS: Math.round(n / (exportMs / 1000)),
      parquetBytes: exported.bytes,
      parquetBytesPerEvent: Number((exported.bytes / n).toFixed(1)),
      objects: exported.objects,
      exportBatches: exported.batches,
      syncMs,
      queryMs,
      cliQueryMs: cliMs,
      cliOutput: new TextDecoder().decode(cli.stdout).trim().split(/\r?\n/),
    },
    null,
    2,
  ));
} finally {
  s3.destroy();
  await fauxqs.stop();
  await sql.end();
  await admin.unsafe(`drop schema ${schema} cascade`);
  await admin.end();
  await Deno.remove(cacheDir, { recursive: true });
}
