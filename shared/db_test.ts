import assert from "node:assert/strict";
import { isPostgresWriteAfterClose, isTransientDbError } from "./mod.ts";
import { privatePostgresAvailable, startPrivatePostgres } from "../test/private_postgres.ts";

Deno.test("isTransientDbError() retries connection loss and deadlocks, not bad input", () => {
  const withCode = (code: string) => Object.assign(new Error("x"), { code });
  assert.equal(isTransientDbError(withCode("40P01")), true);
  assert.equal(isTransientDbError(withCode("40001")), true);
  assert.equal(isTransientDbError(withCode("ECONNRESET")), true);
  assert.equal(isTransientDbError(withCode("CONNECTION_CLOSED")), true);
  assert.equal(isTransientDbError(withCode("22P02")), false); // invalid text representation
  assert.equal(isTransientDbError("not an error"), false);
});

Deno.test("isPostgresWriteAfterClose() matches only postgres.js's stray write", () => {
  const stray = new TypeError("Cannot read properties of null (reading 'write')");
  stray.stack =
    `${stray.message}\n    at Immediate.nextWrite (file:///x/postgres/3.4.9/src/connection.js:255:22)`;
  assert.equal(isPostgresWriteAfterClose(stray), true);
  assert.equal(isPostgresWriteAfterClose(new TypeError("Cannot read properties of null")), false);
});

Deno.test({
  name: "connections dropped mid-write do not kill the process, and the pool recovers",
  ignore: !privatePostgresAvailable(),
  async fn() {
    // A private cluster: the fixture reconnects hundreds of times a second, which on a shared
    // server overflows its listen queue and times out every other test's connections.
    const pg = await startPrivatePostgres();
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../test/fixtures/pg_connection_drops.ts", import.meta.url).pathname,
          String(pg.port),
          "5",
          "postgres",
        ],
        stdout: "piped",
        stderr: "piped",
        // A pool that never recovers would hang the whole suite; fail instead (a 5 s run plus 20
        // queries normally takes seconds).
        signal: AbortSignal.timeout(120_000),
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
      const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
      assert.equal(result.after, 20);
      assert.ok(result.failed > 0, "the proxy dropped no query: the test did not test anything");
    } finally {
      await pg.destroy();
    }
  },
});
