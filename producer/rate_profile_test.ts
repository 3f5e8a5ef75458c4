import assert from "node:assert/strict";
import { diurnalFactor, parseRateProfile } from "./rate_profile.ts";

Deno.test("steady holds the base rate, or the rate it names", () => {
  assert.equal(parseRateProfile("steady", 1000)(5_000), 1000);
  assert.equal(parseRateProfile("steady:250", 1000)(5_000), 250);
});

Deno.test("ramp rises linearly over its duration, then holds", () => {
  const p = parseRateProfile("ramp:1000-20000:60s", 5);
  assert.equal(p(0), 1000);
  assert.equal(p(30_000), 10_500);
  assert.equal(p(60_000), 20_000);
  assert.equal(p(600_000), 20_000);
});

Deno.test("a flash sale multiplies the rate for its period only", () => {
  const p = parseRateProfile("steady+flash:5x@20s:10s", 1000);
  assert.equal(p(19_999), 1000);
  assert.equal(p(20_000), 5000);
  assert.equal(p(29_999), 5000);
  assert.equal(p(30_000), 1000);
});

Deno.test("the diurnal curve troughs at 04:00 and peaks at 20:00", () => {
  assert.ok(Math.abs(diurnalFactor(4) - 0.2) < 1e-9);
  assert.ok(Math.abs(diurnalFactor(20) - 1) < 1e-9);
  assert.ok(diurnalFactor(12) > diurnalFactor(6));
  const p = parseRateProfile("diurnal:24s", 1000);
  assert.ok(Math.abs(p(20_000) - 1000) < 1e-6);
  assert.ok(Math.abs(p(4_000) - 200) < 1e-6);
});

Deno.test("bad profiles are refused with a message naming the part", () => {
  assert.throws(() => parseRateProfile("ramp:1000:60s", 1), /Invalid profile "ramp:1000:60s"/);
  assert.throws(() => parseRateProfile("wave", 1), /Unknown profile "wave"/);
  assert.throws(() => parseRateProfile("steady+flash:5@1s:1s", 1), /Invalid flash sale/);
  assert.throws(() => parseRateProfile("ramp:1-2:soon", 1), /Invalid duration "soon"/);
});
