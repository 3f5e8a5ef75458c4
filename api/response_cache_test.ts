import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Hono } from "hono";
import { Registry } from "../shared/mod.ts";
import { acceptsGzip, cacheKey, createResponseCache, respond } from "./response_cache.ts";

Deno.test("the response cache computes a query once for concurrent callers and for its TTL", async () => {
  let t = 0;
  const registry = new Registry();
  const cache = createResponseCache({ ttlMs: 1000, now: () => t, registry });
  let runs = 0;
  let release = () => {};
  const gate = new Promise<void>((r) => release = r);
  const compute = async () => {
    runs++;
    await gate;
    return { runs };
  };
  const pending = Array.from({ length: 50 }, () => cache.get("q", compute));
  release();
  const answers = await Promise.all(pending);
  assert.equal(runs, 1);
  assert.ok(answers.every((a) => a.body === '{"runs":1}' && a.etag === answers[0]!.etag));
  t = 999;
  assert.equal((await cache.get("q", compute)).body, '{"runs":1}');
  t = 1000;
  assert.equal((await cache.get("q", compute)).body, '{"runs":2}');
  assert.equal((await cache.get("q", compute, { bypass: true })).body, '{"runs":3}');
  assert.deepEqual(cache.stats(), { hits: 50, misses: 2, coalesced: 49, bypasses: 1 });
  const text = await registry.metrics();
  assert.match(text, /scalestream_api_cache_requests_total\{result="hit"\} 50/);
  assert.match(text, /scalestream_api_cache_requests_total\{result="miss"\} 2/);
});

Deno.test("the response cache keeps no error and no more than maxEntries answers", async () => {
  const cache = createResponseCache({ maxEntries: 2 });
  await assert.rejects(cache.get("bad", () => Promise.reject(new Error("down"))), /down/);
  assert.equal((await cache.get("bad", () => Promise.resolve(1))).body, "1");
  await cache.get("a", () => Promise.resolve(2));
  await cache.get("b", () => Promise.resolve(3));
  assert.equal(cache.size, 2);
  assert.equal((await cache.get("bad", () => Promise.resolve(4))).body, "4");
});

Deno.test("cacheKey() orders parameters and drops undefined ones", () => {
  assert.equal(cacheKey("/p", { b: 1, a: "x", c: undefined }), "/p?a=x&b=1");
});

Deno.test("respond() sends ETag and Cache-Control, and 304 for a matching If-None-Match", async () => {
  const cache = createResponseCache();
  const app = new Hono();
  app.get("/x", (c) => respond(c, cache, "/x", {}, () => Promise.resolve({ ok: true })));
  const first = await app.request("/x");
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), { ok: true });
  const etag = first.headers.get("etag")!;
  assert.match(etag, /^"[0-9a-z]+"$/);
  assert.equal(first.headers.get("cache-control"), "public, max-age=1");
  const again = await app.request("/x", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
});

Deno.test("respond() sends a gzip variant, compressed once, to clients that accept gzip", async () => {
  const cache = createResponseCache();
  const app = new Hono();
  const big = { rows: Array.from({ length: 300 }, (_, i) => ({ i, name: `row ${i}` })) };
  let runs = 0;
  app.get("/x", (c) => respond(c, cache, "/x", {}, () => Promise.resolve((runs++, big))));
  const plain = await app.request("/x");
  assert.equal(plain.headers.get("content-encoding"), null);
  const body = await plain.text();
  assert.deepEqual(JSON.parse(body), big);
  const gz = { "accept-encoding": "gzip, deflate, br" };
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await app.request("/x", { headers: gz }));
  const bytes = await Promise.all(answers.map(async (r) => new Uint8Array(await r.arrayBuffer())));
  for (const r of answers) assert.equal(r.headers.get("content-encoding"), "gzip");
  assert.ok(bytes[0]!.length < body.length / 3, `${bytes[0]!.length} of ${body.length} bytes`);
  assert.deepEqual(bytes[1], bytes[0]);
  assert.equal(new TextDecoder().decode(gunzipSync(bytes[0]!)), body);
  assert.equal(runs, 1);
  // Its own ETag, and 304 on it; Vary names the encoding.
  const etag = answers[0]!.headers.get("etag")!;
  assert.notEqual(etag, plain.headers.get("etag"));
  assert.match(answers[0]!.headers.get("vary")!, /accept-encoding/);
  const again = await app.request("/x", { headers: { ...gz, "if-none-match": etag } });
  assert.equal(again.status, 304);
  // Refused gzip (q=0) gets the plain body.
  const refused = await app.request("/x", { headers: { "accept-encoding": "gzip;q=0, br" } });
  assert.equal(refused.headers.get("content-encoding"), null);
  assert.equal(await refused.text(), body);
});

Deno.test("acceptsGzip() reads accept-encoding with its q values", () => {
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip("br"), false);
  assert.equal(acceptsGzip("gzip"), true);
  assert.equal(acceptsGzip("deflate, GZIP;q=0.5"), true);
  assert.equal(acceptsGzip("gzip;q=0"), false);
  assert.equal(acceptsGzip("gzip;q=0.0, identity"), false);
});
