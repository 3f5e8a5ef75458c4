/**
 * The browser SDK as a real shop uses it: the shop's page is on one origin, the ScaleStream API on
 * another. Chromium imports `/sdk/v1.js` across origins (module CORS), the tracker's requests pass
 * the CORS preflight for the publishable key's own origin, and a page on an origin the key does not
 * list gets nothing through. Events are checked in PostgreSQL through the API's read routes.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createApiKey, createApp, createKeyStore } from "../api/mod.ts";
import { chromiumOrWarn, launchBrowser } from "./browser.ts";
import { eventually } from "./harness.ts";
import { startTestPipeline } from "./pipeline_support.ts";

const chromium = chromiumOrWarn("the cross-origin SDK test");

// deno-lint-ignore no-explicit-any
type Dom = any;
declare const globalThis: Dom;

const WAIT_MS = 60_000;

/** A shop page on its own origin that loads the tracker from the API's origin. */
function serveShop(api: string, keyOf: () => string) {
  const html = (key: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>shop</title>
<script type="module">
  import { createTracker } from "${api}/sdk/v1.js";
  globalThis.trackerErrors = [];
  globalThis.tracker = createTracker({
    key: "${key}",
    location: { country: "DE", region: "Bavaria" },
    flushIntervalMs: 100,
    minRetryMs: 200,
    onError: (e) => globalThis.trackerErrors.push(e.message),
  });
</script></head><body>shop</body></html>`;
  return Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response(html(keyOf()), { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
}

const waitForTracker = (page: Page) =>
  page.waitForFunction(() => globalThis.tracker !== undefined, null, { timeout: WAIT_MS });

Deno.test({
  name: "a shop on another origin loads the SDK and sends with its publishable key; an origin " +
    "off the key's list gets nothing through",
  ignore: chromium === null,
  async fn(t) {
    const { db, q, consumer } = await startTestPipeline("sdk-cross-origin-test");
    const preflights: { origin: string | null; status: number }[] = [];
    const app = createApp({
      sql: db.sql,
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      keyStore: createKeyStore({ sql: db.sql, cacheMs: 0 }),
      middleware: [async (c, next) => {
        await next();
        if (c.req.method === "OPTIONS") {
          preflights.push({ origin: c.req.header("origin") ?? null, status: c.res.status });
        }
      }],
    });
    const api = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    const apiBase = `http://127.0.0.1:${api.addr.port}`;
    const reader = await createApiKey({ name: "reader", scopes: ["read"] }, { sql: db.sql });
    // The shops' origins are known once they listen; the key naming them is made after that.
    let key = "";
    const shop = serveShop(apiBase, () => key);
    const stranger = serveShop(apiBase, () => key);
    const shopOrigin = `http://localhost:${shop.addr.port}`;
    const browser = await launchBrowser();
    const isStored = async (id: string) => {
      const res = await fetch(`${apiBase}/v1/events/${id}`, {
        headers: { "x-api-key": reader.key },
      });
      const body = await res.json();
      return res.status === 200 && body.status === "stored";
    };
    try {
      key = (await createApiKey(
        { name: "shop-web", scopes: ["ingest"], origins: [shopOrigin] },
        { sql: db.sql },
      )).key;

      await t.step("from the listed origin, events pass the preflight and are stored", async () => {
        const page = await browser.newPage();
        await page.goto(`${shopOrigin}/`);
        await waitForTracker(page);
        const ids = await page.evaluate(async () => {
          const id = globalThis.tracker.track("add_to_cart", {
            productId: "sku-1",
            category: "fashion",
            price: 59.9,
            quantity: 1,
          });
          await globalThis.tracker.flush();
          return { id, state: globalThis.tracker.state(), errors: globalThis.trackerErrors };
        });
        assert.deepEqual(ids.errors, []);
        assert.equal(ids.state.queued, 0);
        assert.ok(
          preflights.some((p) => p.origin === shopOrigin && p.status === 204),
          JSON.stringify(preflights),
        );
        assert.ok(
          await eventually(() => isStored(ids.id), WAIT_MS, 200),
          "the add_to_cart is stored",
        );
        // Leaving the page: the beacon delivers across origins. A beacon is sent with credentials,
        // so this fails unless the preflight allows them (sendBeacon() returns true regardless).
        const { last, queued } = await page.evaluate(() => {
          const last = globalThis.tracker.track("search", { searchQuery: "red shoes" });
          dispatchEvent(new Event("pagehide"));
          return { last, queued: globalThis.tracker.state().queued };
        });
        assert.equal(queued, 0, "sendBeacon took the event");
        await page.goto("about:blank");
        assert.ok(await eventually(() => isStored(last), WAIT_MS, 200), "the last event is stored");
        await page.close();
      });

      await t.step(
        "from an origin off the list nothing gets through and the events stay queued",
        async () => {
          const strangerOrigin = `http://127.0.0.1:${stranger.addr.port}`;
          const page = await browser.newPage();
          await page.goto(`${strangerOrigin}/`);
          await waitForTracker(page);
          const id = await page.evaluate(() =>
            globalThis.tracker.track("search", { searchQuery: "x" })
          );
          await page.waitForFunction(() => globalThis.trackerErrors.length > 0, null, {
            timeout: WAIT_MS,
          });
          const state = await page.evaluate(() => globalThis.tracker.state());
          assert.ok(state.queued >= 1, "kept for later, not dropped");
          assert.ok(
            preflights.some((p) => p.origin === strangerOrigin && p.status === 403),
            JSON.stringify(preflights),
          );
          assert.equal(await isStored(id), false);
          await page.close();
        },
      );
    } finally {
      await browser.close();
      await shop.shutdown();
      await stranger.shutdown();
      await api.shutdown();
      await app.close();
      await consumer.stop();
      await q.close();
      await db.close();
    }
  },
});
