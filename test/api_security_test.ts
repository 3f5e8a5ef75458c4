/**
 * API keys and scopes, rate limits, CORS, problem documents and the OpenAPI document, through
 * `app.request()` on a real PostgreSQL schema.
 */
import assert from "node:assert/strict";
import { createApiKey, createApp, createKeyStore, parseApiKeys, revokeApiKey } from "../api/mod.ts";
import { ConfigError } from "../shared/mod.ts";
import { createTestDb } from "./harness.ts";

const db = await createTestDb();
globalThis.addEventListener("unload", () => void db.close());

const READER = "reader-key-0123456789";
const INGESTER = "ingest-key-0123456789";
const ADMIN = "admin-key-01234567890";
const apiKeys = await parseApiKeys(
  `reader:read:${READER},ingester:ingest:${INGESTER},boss:admin:${ADMIN}`,
);

Deno.test("API_KEYS parsing hashes keys and never echoes one in an error", async () => {
  assert.equal(apiKeys.length, 3);
  assert.deepEqual(apiKeys[0]!.scopes, ["read"]);
  assert.match(apiKeys[0]!.hash, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(apiKeys).includes(READER));
  await assert.rejects(
    () => parseApiKeys("x:root:secret-value-123456789"),
    (err: unknown) =>
      err instanceof ConfigError && err.variable === "API_KEYS" &&
      !err.message.includes("secret-value"),
  );
  await assert.rejects(() => parseApiKeys("x:read:short"), ConfigError);
});

Deno.test("with keys configured /v1 routes answer 401 without a valid key and 403 without the scope", async () => {
  const app = createApp({ sql: db.sql, apiKeys });
  try {
    const none = await app.request("/v1/pipeline/totals");
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("content-type"), "application/problem+json");
    assert.match(none.headers.get("www-authenticate") ?? "", /x-api-key/);
    const p = await none.json();
    assert.deepEqual(Object.keys(p).sort(), ["detail", "instance", "status", "title", "type"]);
    assert.equal(p.type, "about:blank");

    const wrong = await app.request("/v1/pipeline/totals", { headers: { "x-api-key": "nope" } });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();

    const reader = await app.request("/v1/pipeline/totals", { headers: { "x-api-key": READER } });
    assert.equal(reader.status, 200);
    await reader.body?.cancel();

    const readerPost = await app.request("/v1/events", {
      method: "POST",
      headers: { "x-api-key": READER, "content-type": "application/json" },
      body: "[]",
    });
    assert.equal(readerPost.status, 403);
    assert.match((await readerPost.json()).detail, /"ingest" scope/);

    const ingesterGet = await app.request("/v1/pipeline/totals", {
      headers: { "x-api-key": INGESTER },
    });
    assert.equal(ingesterGet.status, 403);
    await ingesterGet.body?.cancel();

    const admin = await app.request("/v1/pipeline/totals", { headers: { "x-api-key": ADMIN } });
    assert.equal(admin.status, 200);
    await admin.body?.cancel();

    // Operational routes stay open for probes and scrapers.
    const health = await app.request("/health");
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
  } finally {
    await app.close();
  }
});

Deno.test("a key created in the api_keys table authenticates by hash and stops working once revoked", async () => {
  const created = await createApiKey({ name: "table-key", scopes: ["read"] }, { sql: db.sql });
  try {
    const [row] = await db.sql<{ key_hash: string }[]>`
      select key_hash from api_keys where name = 'table-key'`;
    assert.ok(row && row.key_hash !== created.key && /^[0-9a-f]{64}$/.test(row.key_hash));
    const store = createKeyStore({ sql: db.sql, cacheMs: 0 });
    const app = createApp({ sql: db.sql, keyStore: store });
    const ok = await app.request("/v1/pipeline/totals", { headers: { "x-api-key": created.key } });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const anon = await app.request("/v1/pipeline/totals");
    assert.equal(anon.status, 401, "a key in the table closes the open mode");
    await anon.body?.cancel();
    assert.equal(await revokeApiKey("table-key", { sql: db.sql }), true);
    const revoked = await app.request("/v1/pipeline/totals", {
      headers: { "x-api-key": created.key },
    });
    // Revoking the last key must not reopen the API.
    assert.equal(revoked.status, 401);
    await revoked.body?.cancel();
    await app.close();
  } finally {
    await db.sql`delete from api_keys where name = 'table-key'`;
  }
});

Deno.test("with no keys configured anywhere the API runs open", async () => {
  const app = createApp({ sql: db.sql });
  const res = await app.request("/v1/pipeline/totals");
  assert.equal(res.status, 200);
  assert.equal(typeof (await res.json()).stored, "number");
  await app.close();
});

Deno.test("the rate limit answers 429 with Retry-After once a key's bucket is empty, per key", async () => {
  const app = createApp({ sql: db.sql, apiKeys, rateLimit: { ratePerS: 0.5, burst: 3 } });
  try {
    const get = (key: string) =>
      app.request("/v1/pipeline/totals", { headers: { "x-api-key": key } });
    for (let i = 0; i < 3; i++) {
      const r = await get(READER);
      assert.equal(r.status, 200);
      await r.body?.cancel();
    }
    const limited = await get(READER);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("content-type"), "application/problem+json");
    const retry = Number(limited.headers.get("retry-after"));
    assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After "${retry}"`);
    assert.equal((await limited.json()).status, 429);
    const other = await get(ADMIN);
    assert.equal(other.status, 200, "another key has its own bucket");
    await other.body?.cancel();
  } finally {
    await app.close();
  }
});

Deno.test("4,000 wrong-key and keyless requests from one peer get 429s before the key check; other peers and valid keys keep their own limits", async () => {
  let lookups = 0;
  const store = createKeyStore({ keys: apiKeys, sql: db.sql });
  const keyStore = {
    open: () => store.open(),
    lookup: (key: string) => {
      lookups++;
      return store.lookup(key);
    },
  };
  const burst = 50;
  const app = createApp({ sql: db.sql, keyStore, rateLimit: { ratePerS: 0.01, burst } });
  const attacker = { remoteAddr: { hostname: "198.51.100.7" } };
  try {
    const counts: Record<number, number> = {};
    for (let i = 0; i < 4000; i++) {
      const headers: Record<string, string> = i % 4 === 0 ? {} : { "x-api-key": `guess-${i}` };
      const r = await app.request("/v1/pipeline/totals", { headers }, attacker);
      counts[r.status] = (counts[r.status] ?? 0) + 1;
      await r.body?.cancel();
    }
    // At most the burst (0.01 tokens/s refill nothing meanwhile) got as far as the key check.
    assert.ok((counts[429] ?? 0) >= 3000, `only ${counts[429] ?? 0} answers were 429`);
    assert.equal((counts[401] ?? 0) + (counts[429] ?? 0), 4000);
    assert.ok(lookups <= (counts[401] ?? 0), "a limited request still looked its key up");

    const limited = await app.request("/v1/pipeline/totals", {}, attacker);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    await limited.body?.cancel();

    // Another peer is not affected, and a valid key from it is limited per key, not per peer.
    const other = { remoteAddr: { hostname: "203.0.113.9" } };
    const keyless = await app.request("/v1/pipeline/totals", {}, other);
    assert.equal(keyless.status, 401);
    await keyless.body?.cancel();
    for (let i = 0; i < burst + 5; i++) {
      const r = await app.request(
        "/v1/pipeline/totals",
        { headers: { "x-api-key": READER } },
        other,
      );
      assert.equal(r.status, i < burst ? 200 : 429, `request ${i} with a valid key`);
      await r.body?.cancel();
    }
  } finally {
    await app.close();
  }
});

Deno.test("CORS headers go only to allowed origins, and preflight needs no key", async () => {
  const app = createApp({ sql: db.sql, apiKeys, corsOrigins: ["https://shop.example"] });
  try {
    const allowed = await app.request("/health", { headers: { origin: "https://shop.example" } });
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://shop.example");
    await allowed.body?.cancel();
    const denied = await app.request("/health", { headers: { origin: "https://evil.example" } });
    assert.equal(denied.headers.get("access-control-allow-origin"), null);
    await denied.body?.cancel();
    const preflight = await app.request("/v1/events", {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-api-key, content-type",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "https://shop.example");
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /x-api-key/);
  } finally {
    await app.close();
  }
  const noCors = createApp({ sql: db.sql });
  const r = await noCors.request("/health", { headers: { origin: "https://shop.example" } });
  assert.equal(r.headers.get("access-control-allow-origin"), null);
  await r.body?.cancel();
  await noCors.close();
});

Deno.test("unknown routes and server errors are problem documents without stack traces", async () => {
  const failing = createApp({
    sql: db.sql,
    metrics: () => Promise.reject(new Error("registry exploded at /secret/path.ts:12")),
  });
  try {
    const missing = await failing.request("/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/problem+json");
    assert.equal((await missing.json()).detail, 'No route for "/nope"');
    const boom = await failing.request("/metrics");
    assert.equal(boom.status, 500);
    const text = await boom.text();
    assert.ok(!text.includes("exploded") && !text.includes("/secret/"), text);
    assert.equal(JSON.parse(text).title, "Internal Server Error");
  } finally {
    await failing.close();
  }
});

Deno.test("GET /openapi.json documents the routes and the shared event schema, and /docs needs no CDN", async () => {
  const app = createApp({ sql: db.sql });
  try {
    const res = await app.request("/openapi.json");
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.openapi, "3.1.0");
    const event = doc.components.schemas.Event;
    // The default (lenient) contract: what identifies and counts an event is required.
    assert.deepEqual([...event.required].sort(), ["eventType", "timestamp", "userId"]);
    assert.deepEqual(event.properties.deviceType.enum, ["mobile", "desktop", "tablet", "unknown"]);
    assert.ok(event.properties.eventType.enum.includes("purchase"));
    for (
      const path of ["/v1/events", "/v1/events/{eventId}", "/v1/pipeline/status", "/v1/stream"]
    ) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
    assert.equal(
      doc.paths["/v1/events"].post.requestBody.content["application/json"].schema.oneOf[0].$ref,
      "#/components/schemas/Event",
    );
    // Browsers send a publishable key as ?key=; the answer lists every event's id.
    const params = doc.paths["/v1/events"].post.parameters as { name: string; in: string }[];
    assert.ok(params.some((p) => p.name === "key" && p.in === "query"), JSON.stringify(params));
    assert.ok(doc.components.schemas.IngestResult.properties.eventIds);
    // Every $ref resolves inside the document.
    for (
      const [, ref] of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)
    ) {
      assert.ok(doc.components.schemas[ref!], `dangling $ref ${ref}`);
    }
    assert.equal(doc.components.securitySchemes.ApiKey.name, "x-api-key");

    const docs = await app.request("/docs");
    assert.equal(docs.status, 200);
    const html = await docs.text();
    assert.match(html, /openapi\.json/);
    assert.ok(!/(src|href)="https?:/.test(html), "docs page loads something from the network");
  } finally {
    await app.close();
  }
});
