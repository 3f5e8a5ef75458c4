/**
 * Every program answers a bad command line with one line naming the problem, its usage and exit
 * code 2, never a stack trace; `produce` and `consume` without an SQS endpoint or credentials say
 * how to start a local queue, without asking the cloud metadata address for credentials.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** A program started as `deno task …` would start it, with an environment of its own. */
async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      NO_COLOR: "1",
      LOG_FORMAT: "json",
      // No credentials anywhere, and the metadata service off should anything still ask it.
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
      AWS_CONFIG_FILE: "/nonexistent/config",
      AWS_EC2_METADATA_DISABLED: "true",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

function assertNoStackTrace(stderr: string) {
  assert.doesNotMatch(stderr, /^\s+at .*:\d+:\d+\)?$/m, stderr);
  assert.doesNotMatch(stderr, /Uncaught|TypeError|CredentialsProviderError/, stderr);
}

/** Each program (and subcommand) with a flag it does not know. */
const BAD_FLAGS: [name: string, args: string[], flag: string][] = [
  ["consume", ["consumer/main.ts", "consume", "--bogus"], "--bogus"],
  ["consume (default command)", ["consumer/main.ts", "--bogus"], "--bogus"],
  ["dlq inspect", ["consumer/main.ts", "dlq", "inspect", "--bogus"], "--bogus"],
  ["dims load", ["producer/main.ts", "dims", "load", "--bogus"], "--bogus"],
  ["rebuild", ["consumer/main.ts", "rebuild", "--bogus"], "--bogus"],
  ["maintain", ["consumer/main.ts", "maintain", "--bogus"], "--bogus"],
  ["restore-check", ["consumer/main.ts", "restore-check", "--bogus"], "--bogus"],
  ["api", ["api/main.ts", "--bogus"], "--bogus"],
  ["apikey", ["api/main.ts", "apikey", "list", "--bogus"], "--bogus"],
  ["produce", ["producer/main.ts", "--rat", "5"], "--rat"],
  ["import-csv", ["producer/main.ts", "import-csv", "x.csv", "--bogus"], "--bogus"],
  ["reconcile", ["producer/main.ts", "reconcile", "--bogus"], "--bogus"],
  ["migrate", ["migrations/main.ts", "--bogus"], "--bogus"],
  ["dev", ["main.ts", "--bogus"], "--bogus"],
  ["sqs", ["deploy/local/main.ts", "--bogus"], "--bogus"],
  ["lake export", ["consumer/lake/main.ts", "export", "--bogus"], "--bogus"],
  ["lake query", ["consumer/lake/main.ts", "query", "select 1", "--bogus"], "--bogus"],
  ["loadtest", ["bench/loadtest/main.ts", "--bogus"], "--bogus"],
  ["chaos", ["bench/chaos/main.ts", "--bogus"], "--bogus"],
  ["soak", ["bench/soak/main.ts", "--bogus"], "--bogus"],
  ["build", ["deploy/build.ts", "api", "--bogus"], "--bogus"],
];

Deno.test("every program answers an unknown flag with one error line, its usage and exit 2", async (t) => {
  for (const [name, args, flag] of BAD_FLAGS) {
    await t.step(name, async () => {
      const { code, stderr } = await run(args);
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`^error: Unknown flag "${flag}"$`, "m"));
      assert.match(stderr, /Usage: /);
      assertNoStackTrace(stderr);
    });
  }
});

Deno.test("a flag without its value, or a bad value, is a usage error with exit 2", async () => {
  const missing = await run(["consumer/main.ts", "consume", "--workers"]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^error: Flag "--workers" needs a value$/m);
  const bad = await run(["consumer/main.ts", "consume", "--workers", "many"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^error: --workers must be an integer from 1 to 64, got "many"$/m);
  const action = await run(["consumer/main.ts", "dlq", "drain"]);
  assert.equal(action.code, 2, action.stderr);
  assert.match(action.stderr, /^error: Unknown action "drain"$/m);
  for (const r of [missing, bad, action]) assertNoStackTrace(r.stderr);
});

Deno.test("produce, consume, api and dlq without SQS_ENDPOINT or credentials say how to start a local SQS", async (t) => {
  const cases: [string, string[], Record<string, string>][] = [
    ["produce", ["producer/main.ts", "--events", "1"], {}],
    // A database URL that answers nothing: the SQS check comes first, so it is never dialled.
    ["consume", ["consumer/main.ts", "consume"], {
      DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
    }],
    ["api", ["api/main.ts"], { DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" }],
    ["dlq inspect", ["consumer/main.ts", "dlq", "inspect"], {}],
  ];
  for (const [name, args, env] of cases) {
    await t.step(name, async () => {
      const { code, stderr } = await run(args, env);
      assert.equal(code, 2, stderr);
      const lines = stderr.trim().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0]!, /^error: SQS_ENDPOINT is not set and no AWS credentials were found/);
      assert.match(lines[0]!, /deno task sqs/);
      assertNoStackTrace(stderr);
    });
  }
});
