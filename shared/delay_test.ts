import assert from "node:assert/strict";
import { delay } from "./mod.ts";

Deno.test("delay() resolves when its signal aborts, long before its time", async () => {
  const abort = new AbortController();
  let resolved = false;
  const waiting = delay(3_600_000, abort.signal).then(() => resolved = true);
  await Promise.resolve();
  assert.equal(resolved, false);
  abort.abort();
  await waiting;
  assert.equal(resolved, true);
});

Deno.test("delay() with an aborted signal resolves at once", async () => {
  await delay(3_600_000, AbortSignal.abort());
});
