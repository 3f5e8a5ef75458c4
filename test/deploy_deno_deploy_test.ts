/**
 * The Deno Deploy entry serves the API under `deno serve` with environment-only configuration and
 * without file-system write permission (Deploy has none).
 */
import assert from "node:assert/strict";
import { createTestDb, eventually, testDatabaseUrl } from "./harness.ts";

const { embedded } = await testDatabaseUrl();
const ROOT = new URL("../", import.meta.url);
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-sys"]; // no --allow-write

function serve(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--cached-only",
      ...PERMISSIONS,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "deploy/deno_deploy/main.ts",
    ],
    cwd: ROOT,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return {
    child,
    output: () => output,
    async close() {
      try {
        // Nothing to drain (reads only); the idle database pool would otherwise hold it for 30 s.
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await pumps;
    },
  };
}

Deno.test({
  name: "the Deno Deploy entry serves /health and the totals from DATABASE_URL alone",
  ignore: embedded,
  async fn() {
    const db = await createTestDb();
    const url = `${db.url}${db.url.includes("?") ? "&" : "?"}search_path=${db.schema}`;
    const server = serve({ DATABASE_URL: url });
    try {
      let port = 0;
      await eventually(() => {
        port = Number(/Listening on http:\/\/[^:]+:(\d+)/.exec(server.output())?.[1] ?? 0);
        return port > 0;
      });
      assert.ok(port > 0, server.output());
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.deepEqual(await health.json(), { status: "ok" });
      const totals = await fetch(`http://127.0.0.1:${port}/v1/pipeline/totals`);
      assert.equal(totals.status, 200);
      assert.equal((await totals.json()).stored, 0);
    } finally {
      await server.close();
      await db.close();
    }
  },
});

Deno.test("the Deno Deploy entry refuses to start without DATABASE_URL and names it", async () => {
  const server = serve({});
  const status = await server.child.status;
  await server.close();
  assert.notEqual(status.code, 0);
  assert.match(server.output(), /DATABASE_URL/);
});
