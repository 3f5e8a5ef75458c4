/**
 * Publishable keys (the ones web pages embed): ingest only, only from the origins on the key's
 * list, with CORS answering exactly those origins, preflight included. Real PostgreSQL for the
 * `api_keys` table, real fauxqs for the accepted events.
 */
import assert from "node:assert/strict";
import { createApiKey, createApp, createKeyStore, listApiKeys } from "../api/mod.ts";
import { createTestDb, createTestSqs } from "./harness.ts";

const SHOP = "https://shop.example";
const OTHER_SHOP = "http://localhost:5173";

function pageView(): Record<string, unknown> {
  return {
    eventId: crypto.randomUUID(),
    userId: "anon-1",
    sessionId: "s-1",
    eventType: "page_view",
    timestamp: new Date().toISOString(),
    deviceType: "desktop",
    location: { country: "GB", region: "London" },
    pageUrl: "https://shop.example/",
  };
}

Deno.test("a publishable key cannot read, cannot ingest from an origin off its list, and CORS names only its origins", async (t) => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const created = await createApiKey(
    { name: "shop-web", scopes: ["ingest"], origins: [SHOP, OTHER_SHOP + "/"] },
    { sql: db.sql },
  );
  const secret = await createApiKey({ name: "ops", scopes: ["admin"] }, { sql: db.sql });
  const app = createApp({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    keyStore: createKeyStore({ sql: db.sql, cacheMs: 0 }),
    corsOrigins: ["https://dashboard.example"],
  });
  const post = (url: string, headers: Record<string, string>) =>
    app.request(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify([pageView()]),
    });
  try {
    await t.step(
      "the key is stored with its origins, normalised, and says what it is",
      async () => {
        assert.match(created.key, /^spk_/);
        assert.match(secret.key, /^ssk_/);
        const listed = (await listApiKeys({ sql: db.sql })).find((k) => k.name === "shop-web");
        assert.deepEqual(listed?.origins, [SHOP, OTHER_SHOP]);
        await assert.rejects(
          () => createApiKey({ name: "bad", scopes: ["read"], origins: [SHOP] }, { sql: db.sql }),
          RangeError,
        );
        await assert.rejects(
          () =>
            createApiKey({ name: "bad", scopes: ["ingest"], origins: [SHOP + "/cart"] }, {
              sql: db.sql,
            }),
          RangeError,
        );
        await assert.rejects(
          () =>
            db.sql`insert into api_keys (name, key_hash, scopes, origins)
          values ('raw', ${"0".repeat(64)}, array['read','ingest'], array[${SHOP}])`,
          /api_keys_publishable_check/,
        );
      },
    );

    await t.step("every read answers 403, by header or query string", async () => {
      for (
        const path of [
          "/v1/pipeline/totals",
          "/v1/pipeline/status",
          `/v1/events/${crypto.randomUUID()}`,
          "/v1/metrics/funnel",
          "/v1/lake/status",
        ]
      ) {
        const byHeader = await app.request(path, {
          headers: { "x-api-key": created.key, origin: SHOP },
        });
        assert.equal(byHeader.status, 403, `${path} by header`);
        assert.match((await byHeader.json()).detail, /may only send events/);
        const byQuery = await app.request(`${path}?key=${created.key}`, {
          headers: { origin: SHOP },
        });
        assert.equal(byQuery.status, 403, `${path} by query`);
        await byQuery.body?.cancel();
      }
    });

    await t.step(
      "ingestion from a listed origin is accepted (202), by query or header",
      async () => {
        const byQuery = await post(`/v1/events?key=${created.key}`, { origin: SHOP });
        assert.equal(byQuery.status, 202);
        assert.equal((await byQuery.json()).accepted, 1);
        assert.equal(byQuery.headers.get("access-control-allow-origin"), SHOP);
        const byHeader = await post("/v1/events", { "x-api-key": created.key, origin: OTHER_SHOP });
        assert.equal(byHeader.status, 202);
        await byHeader.body?.cancel();
      },
    );

    await t.step("ingestion from another origin or with no Origin answers 403", async () => {
      for (const origin of ["https://evil.example", "https://shop.example.evil.example", "null"]) {
        const res = await post(`/v1/events?key=${created.key}`, { origin });
        assert.equal(res.status, 403, origin);
        assert.match((await res.json()).detail, /not allowed from origin/);
        assert.equal(res.headers.get("access-control-allow-origin"), null);
      }
      const none = await post(`/v1/events?key=${created.key}`, {});
      assert.equal(none.status, 403);
      await none.body?.cancel();
    });

    await t.step("a secret key in the URL is refused; in its header it still works", async () => {
      const inUrl = await app.request(`/v1/pipeline/totals?key=${secret.key}`);
      assert.equal(inUrl.status, 401);
      assert.match((await inUrl.json()).detail, /header/);
      const inHeader = await app.request("/v1/pipeline/totals", {
        headers: { "x-api-key": secret.key },
      });
      assert.equal(inHeader.status, 200);
      await inHeader.body?.cancel();
    });

    await t.step("preflight answers exactly the key's origins and refuses others", async () => {
      const preflight = (origin: string, method = "POST") =>
        app.request(`/v1/events?key=${created.key}`, {
          method: "OPTIONS",
          headers: {
            origin,
            "access-control-request-method": method,
            "access-control-request-headers": "content-type",
          },
        });
      for (const origin of [SHOP, OTHER_SHOP]) {
        const ok = await preflight(origin);
        assert.equal(ok.status, 204);
        assert.equal(ok.headers.get("access-control-allow-origin"), origin);
        assert.equal(ok.headers.get("access-control-allow-methods"), "POST");
        assert.equal(ok.headers.get("access-control-allow-headers"), "content-type");
        // sendBeacon sends with credentials; the API has none to leak.
        assert.equal(ok.headers.get("access-control-allow-credentials"), "true");
        assert.match(ok.headers.get("vary") ?? "", /origin/i);
      }
      // The CORS_ORIGINS allow-list does not widen a publishable key.
      for (const origin of ["https://evil.example", "https://dashboard.example"]) {
        const denied = await preflight(origin);
        assert.equal(denied.status, 403, origin);
        assert.equal(denied.headers.get("access-control-allow-origin"), null);
        await denied.body?.cancel();
      }
      const wrongMethod = await preflight(SHOP, "DELETE");
      assert.equal(wrongMethod.status, 403);
      await wrongMethod.body?.cancel();
      // Without a publishable key the CORS_ORIGINS list applies, and the shop is not on it.
      const plain = await app.request("/v1/events", {
        method: "OPTIONS",
        headers: { origin: SHOP, "access-control-request-method": "POST" },
      });
      assert.equal(plain.headers.get("access-control-allow-origin"), null);
      await plain.body?.cancel();
    });
  } finally {
    await app.close();
    await q.close();
    await db.close();
  }
});

Deno.test("a shop's visitors share its publishable key but not its rate limit: one bucket per key and address", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const shop = await createApiKey(
    { name: "shop-limited", scopes: ["ingest"], origins: [SHOP] },
    { sql: db.sql },
  );
  const burst = 3;
  const app = createApp({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    keyStore: createKeyStore({ sql: db.sql, cacheMs: 0 }),
    rateLimit: { ratePerS: 0.01, burst },
  });
  const visitor = (hostname: string) => () =>
    app.request(`/v1/events?key=${shop.key}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: SHOP },
      body: JSON.stringify([pageView()]),
    }, { remoteAddr: { hostname } });
  const statuses = async (send: () => Response | Promise<Response>, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await send();
      out.push(r.status);
      await r.body?.cancel();
    }
    return out;
  };
  try {
    const first = visitor("198.51.100.20"), second = visitor("198.51.100.21");
    assert.deepEqual(await statuses(first, burst + 2), [202, 202, 202, 429, 429]);
    // The same key from another visitor's address still has its whole burst.
    assert.deepEqual(await statuses(second, burst + 1), [202, 202, 202, 429]);
  } finally {
    await app.close();
    await q.close();
    await db.close();
  }
});
