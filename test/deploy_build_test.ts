/**
 * The container programs: each entry compiles with `deno compile` (the flags of deploy/build.ts,
 * which the Dockerfile uses), embeds the migrations, and the programs started the way a container
 * starts them move events producer → fauxqs → consumer → PostgreSQL and answer `/health`.
 *
 * `deno compile` writes its output onto a base runtime binary (denort) that it downloads for the
 * target. Where that download is impossible (a machine without internet access), the test compiles
 * onto a stand-in base, which still checks the module graph, type checks, embedding and flags, and
 * runs the programs with `deno run` and exactly the permissions the binary would have.
 *
 * The lake is not compiled (DuckDB's addon cannot be embedded): its image runs a launcher script
 * with `deno run --cached-only --frozen` over sources, deno.json and deno.lock prepared by
 * deploy/build.ts, prepared and run here the same way.
 */
import assert from "node:assert/strict";
import {
  compileProgram,
  launcherScript,
  permissionsOf,
  prepareRunFromCache,
  type Program,
  PROGRAMS,
  ROOT,
  RUN_FROM_CACHE,
} from "../deploy/build.ts";
import { createTestDb, createTestSqs, eventually, testDatabaseUrl } from "./harness.ts";

const { embedded } = await testDatabaseUrl();
const dir = await Deno.makeTempDir({ prefix: "scalestream-compile-" });
const binaries = new Map<Program, string>();
/** Whether the binaries are real (runnable) or built on a stand-in base. */
let runnable = false;

async function standInBase(): Promise<string> {
  for (const candidate of ["/usr/bin/true", "/bin/true"]) {
    try {
      await Deno.stat(candidate);
      return candidate;
    } catch { /* try the next */ }
  }
  throw new Error("No stand-in base binary found");
}

Deno.test("deno compile builds every container program with the migrations embedded", async () => {
  const names = (Object.keys(PROGRAMS) as Program[]).filter((p) => !RUN_FROM_CACHE.has(p));
  // The first compile decides whether the real base binary is available here.
  const first = `${dir}/${names[0]}`;
  const real = await compileProgram(names[0]!, first);
  let denortBin: string | undefined;
  if (real.success) {
    runnable = true;
  } else {
    assert.match(real.stderr, /base binary|dl\.deno\.land|denort/i, real.stderr);
    denortBin = Deno.env.get("DENORT_BIN") ?? await standInBase();
  }
  for (const name of names) {
    const out = `${dir}/${name}`;
    if (!(name === names[0] && runnable)) {
      const r = await compileProgram(name, out, { denortBin });
      assert.ok(r.success, `deno compile ${PROGRAMS[name]} failed:\n${r.stderr}`);
    }
    binaries.set(name, out);
    const bytes = await Deno.readFile(out);
    const text = new TextDecoder("latin1").decode(bytes);
    assert.ok(text.includes("create table events"), `${name} lacks the embedded migrations`);
    assert.ok(!text.includes("aws-cdk-lib/aws-ecs"), `${name} embeds aws-cdk-lib`);
    // A stand-in build cannot run; free its ~60 MB at once.
    if (!runnable) await Deno.remove(out);
  }
});

interface Running {
  child: Deno.ChildProcess;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `program` as its container does: the compiled binary, or `deno run` with its flags. */
function start(program: Program, args: string[], env: Record<string, string>): Running {
  const bin = binaries.get(program);
  const [cmd, argv] = runnable && bin ? [bin, args] : [Deno.execPath(), [
    "run",
    "--cached-only",
    ...permissionsOf(program),
    PROGRAMS[program],
    ...args,
  ]];
  const child = new Deno.Command(cmd, {
    args: argv,
    cwd: ROOT,
    env: { LOG_FORMAT: "json", LOG_LEVEL: "info", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) lines.push(buf);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return {
    child,
    lines,
    async waitFor(pattern, timeoutMs = 30_000) {
      let found: string | undefined;
      await eventually(() => (found = lines.find((l) => pattern.test(l))) !== undefined, timeoutMs);
      if (found === undefined) {
        throw new Error(`${program} never logged ${pattern}:\n${lines.join("\n")}`);
      }
      return found;
    },
    async stop(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      const status = await child.status;
      await pumps;
      return status;
    },
  };
}

Deno.test({
  name: "the container programs move events end to end and the API answers /health",
  ignore: embedded, // PGlite serves one connection; the programs here are separate processes
  async fn() {
    const db = await createTestDb();
    const q = await createTestSqs();
    // A URL parameter that postgres.js sends as a startup parameter: the programs use the test schema.
    const databaseUrl = `${db.url}${db.url.includes("?") ? "&" : "?"}search_path=${db.schema}`;
    const common = {
      DATABASE_URL: databaseUrl,
      SQS_ENDPOINT: q.endpoint,
      // fauxqs answers queue URLs with a host SQS_QUEUE_URL's validation rejects; look up by name.
      SQS_QUEUE_NAME: q.queueUrl.split("/").at(-1)!,
      SQS_DLQ_NAME: q.dlqUrl.split("/").at(-1)!,
      SQS_CREATE_QUEUES: "false",
      AWS_REGION: "us-east-1",
    };
    const ledgerFile = `${dir}/ledger.json`;
    const consumer = start("consumer", [], {
      ...common,
      CONSUMER_WAIT_TIME_S: "1",
      CONSUMER_FLUSH_MAX_MS: "20",
      WORKER_ID: "compiled-1",
    });
    const api = start("api", [], { ...common, PORT: "0", HOST: "127.0.0.1" });
    try {
      const listening = await api.waitFor(/API on http:/);
      const port = Number(/"port":(\d+)/.exec(listening)?.[1]);
      assert.ok(port > 0, listening);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: "ok" });

      // The HEALTHCHECK script of the images, against the running API and against a closed port.
      const check = (p: number) =>
        new Deno.Command("bash", { args: ["deploy/healthcheck.sh", String(p)], cwd: ROOT })
          .output();
      assert.equal((await check(port)).code, 0);
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const closedPort = (closed.addr as Deno.NetAddr).port;
      closed.close();
      assert.notEqual((await check(closedPort)).code, 0);

      const producer = start("producer", [
        "--events",
        "300",
        "--rate",
        "2000",
        "--ledger",
        ledgerFile,
      ], common);
      const produced = await producer.child.status;
      assert.equal(produced.code, 0, producer.lines.join("\n"));
      const ledger = JSON.parse(await Deno.readTextFile(ledgerFile)) as { unique: number };
      assert.ok(ledger.unique > 0);

      const stored = async () =>
        (await db.sql<{ n: number }[]>`select count(*)::int as n from events`)[0]!.n;
      assert.ok(
        await eventually(async () => await stored() >= ledger.unique),
        consumer.lines.join("\n"),
      );
      assert.equal(await stored(), ledger.unique);

      const totals = await (await fetch(`http://127.0.0.1:${port}/v1/pipeline/totals`)).json();
      assert.equal(totals.stored, ledger.unique);

      const status = await consumer.stop("SIGTERM");
      assert.equal(status.code, 0, consumer.lines.join("\n"));
    } finally {
      await consumer.stop("SIGKILL");
      await api.stop("SIGTERM");
      await q.close();
      await db.close();
    }
  },
});

Deno.test("the lake's launcher runs `lake query` with DuckDB from the sources its image holds", async () => {
  // The image's /app/src, prepared as the Dockerfile does (into Deno's own cache here).
  const src = `${dir}/lake-src`;
  const prepared = await prepareRunFromCache("lake", { src });
  assert.ok(prepared.success, prepared.stderr);
  // deno.json lists only what the lake imports: the image carries no CDK, emulator or browser.
  const config = JSON.parse(await Deno.readTextFile(`${src}/deno.json`));
  for (const dev of ["aws-cdk-lib", "fauxqs", "@electric-sql/pglite", "playwright-core"]) {
    assert.ok(!(dev in config.imports), `the lake's deno.json lists ${dev}`);
  }
  assert.ok("@duckdb/node-api" in config.imports && "postgres" in config.imports);
  const lock = await Deno.readTextFile(`${src}/deno.lock`);
  assert.doesNotMatch(lock, /"aws-cdk-lib@/);
  const launcher = `${dir}/scalestream-lake`;
  await Deno.writeTextFile(
    launcher,
    launcherScript("lake", { root: src, deno: Deno.execPath() }),
    { mode: 0o755 },
  );
  const out = await new Deno.Command(launcher, {
    args: ["query", "--no-sync", "--json", "select 40 + 2 as answer"],
    cwd: dir, // as in the image, the working directory is not the sources'
    env: {
      NO_COLOR: "1",
      LOG_FORMAT: "json",
      LAKE_CACHE_DIR: `${dir}/lake-cache`,
      AWS_REGION: "us-east-1",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  // The JSON log lines share stdout with the result, as in a container.
  const result = new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => !l.startsWith('{"@timestamp"')).join("\n");
  assert.deepEqual(JSON.parse(result), [{ answer: 42 }], result);
  // The permissions are the launcher's own: without --allow-ffi DuckDB would not load.
  assert.ok(permissionsOf("lake").includes("--allow-ffi"));
  assert.match(await Deno.readTextFile(launcher), /deno run --cached-only --frozen /);
});

Deno.test("the container entrypoint builds DATABASE_URL from the injected secret parts", async () => {
  const run = (env: Record<string, string>) =>
    new Deno.Command("sh", {
      args: ["deploy/entrypoint.sh", "DATABASE_URL"],
      cwd: ROOT,
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", APP_BIN: "printenv", ...env },
    }).output();
  const composed = await run({
    DB_HOST: "db.example.internal",
    DB_USER: "scalestream",
    DB_PASSWORD: "s3cret-Pass_word.",
    DB_NAME: "scalestream",
  });
  assert.equal(composed.code, 0);
  assert.equal(
    new TextDecoder().decode(composed.stdout).trim(),
    "postgres://scalestream:s3cret-Pass_word.@db.example.internal:5432/scalestream?sslmode=verify-full",
  );
  const explicit = await run({ DATABASE_URL: "postgres://a@b/c", DB_HOST: "ignored" });
  assert.equal(new TextDecoder().decode(explicit.stdout).trim(), "postgres://a@b/c");
  const missing = await run({ DB_HOST: "db.example.internal", DB_USER: "u" });
  assert.notEqual(missing.code, 0);
  assert.match(new TextDecoder().decode(missing.stderr), /DB_PASSWORD/);
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});
