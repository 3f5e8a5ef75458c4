import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "./mod.ts";

Deno.test("loadConfig() uses defaults when the environment is empty", () => {
  const c = loadConfig({});
  assert.equal(c.maxMessageBytes, 65_536);
  assert.equal(c.lingerMs, 50);
  assert.equal(c.shutdownDeadlineMs, 25_000);
  assert.equal(c.databaseUrl, undefined);
});

Deno.test("loadConfig() prefers explicit values over the environment", () => {
  const c = loadConfig({ PRODUCER_LINGER_MS: "10" }, { lingerMs: 20 });
  assert.equal(c.lingerMs, 20);
  assert.equal(loadConfig({ PRODUCER_LINGER_MS: "10" }).lingerMs, 10);
});

Deno.test("loadConfig() names the variable of an invalid value", () => {
  assert.throws(
    () => loadConfig({ CONSUMER_POLLERS: "many" }),
    (err: unknown) =>
      err instanceof ConfigError && err.variable === "CONSUMER_POLLERS" &&
      /CONSUMER_POLLERS "many"/.test(err.message),
  );
  assert.throws(() => loadConfig({ DATABASE_URL: "not a url" }), /DATABASE_URL/);
});
