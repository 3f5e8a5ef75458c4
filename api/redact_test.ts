import assert from "node:assert/strict";
import { redactIp } from "./redact.ts";

Deno.test("redactIp() keeps only the /24 or /48 network of an address", () => {
  assert.equal(redactIp("203.0.113.77"), "203.0.113.0/24");
  assert.equal(redactIp("2001:db8:85a3:8d3:1319:8a2e:370:7348"), "2001:db8:85a3::/48");
  assert.equal(redactIp("2001:db8::1"), "2001:db8:0::/48");
  assert.equal(redactIp("::1"), "0:0:0::/48");
  assert.equal(redactIp(null), null);
  assert.equal(redactIp("not an ip"), null);
});
