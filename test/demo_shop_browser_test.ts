/**
 * The demo shop end to end in Debian's chromium: the page at `/demo` loads the browser SDK from
 * `/sdk/v1.js` and sends with a publishable key; the API packs into fauxqs, a consumer with the
 * analytics stages stores into PostgreSQL, and the events are then read back one by one through
 * `GET /v1/events/{id}` and counted in `GET /v1/metrics/funnel`, with a separate read key.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createApiKey, createApp, createKeyStore } from "../api/mod.ts";
import { chromiumOrWarn, launchBrowser } from "./browser.ts";
import { eventually } from "./harness.ts";
import { startTestPipeline } from "./pipeline_support.ts";

const chromium = chromiumOrWarn("the demo shop browser test");

// deno-lint-ignore no-explicit-any
type Dom = any;
declare const document: Dom;
declare const localStorage: Dom;

/** Generous bounds for a loaded 2-core machine; nothing here measures time. */
const WAIT_MS = 120_000;

interface Logged {
  id: string;
  type: string;
}

const loggedEvents = (page: Page): Promise<Logged[]> =>
  page.$$eval(
    "#event-log li",
    (lis) =>
      lis.map((li) => ({ id: (li as Dom).dataset.eventId, type: (li as Dom).dataset.eventType })),
  );

async function waitForLog(page: Page, type: string, count: number) {
  await page.waitForFunction(
    ([t, n]) => document.querySelectorAll(`#event-log li[data-event-type="${t}"]`).length >= n,
    [type, count] as const,
    { timeout: WAIT_MS, polling: 50 },
  );
}

Deno.test({
  name: "the demo shop, browsed in chromium (view → add to cart → purchase), sends events that " +
    "are stored, readable by id and counted in the funnel",
  ignore: chromium === null,
  async fn(t) {
    const { db, q, consumer } = await startTestPipeline("demo-shop-test", { analytics: true });
    const app = createApp({
      sql: db.sql,
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      dlqUrl: q.dlqUrl,
      keyStore: createKeyStore({ sql: db.sql, cacheMs: 0 }),
    });
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const publishable = await createApiKey(
      { name: "demo-shop", scopes: ["ingest"], origins: [base] },
      { sql: db.sql },
    );
    const reader = await createApiKey({ name: "reader", scopes: ["read"] }, { sql: db.sql });
    const read = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers: { "x-api-key": reader.key } });
      const body = await res.json();
      return { status: res.status, body };
    };
    const browser = await launchBrowser();
    const pageErrors: string[] = [];
    const consoleWarnings: string[] = [];
    const requests: { url: string; type: string }[] = [];
    try {
      const page = await browser.newPage({ width: 1280, height: 900 });
      page.on("pageerror", (err) => pageErrors.push(String(err)));
      page.on("console", (m) => {
        if (m.type() === "warning" || m.type() === "error") consoleWarnings.push(m.text());
      });
      page.on("request", (r) => requests.push({ url: r.url(), type: r.resourceType() }));
      // Counts sendBeacon calls, which playwright does not list as requests.
      await page.addInitScript(() => {
        const g = globalThis as Dom;
        g.__beacons = 0;
        const send = g.navigator.sendBeacon.bind(g.navigator);
        g.navigator.sendBeacon = (url: string, data: unknown) => {
          g.__beacons++;
          return send(url, data);
        };
      });

      await t.step("browse: product list, product page, add to cart, checkout", async () => {
        await page.goto(`${base}/demo?key=${publishable.key}`);
        await waitForLog(page, "page_view", 1);
        assert.ok(!page.url().includes("key="), "the key is taken out of the address");
        await page.click('a[data-product="demo-headphones"]');
        await page.waitForSelector("#add-to-cart", { timeout: WAIT_MS });
        await page.click("#add-to-cart");
        await waitForLog(page, "add_to_cart", 1);
        await page.click("#cart-link");
        await page.waitForSelector("#checkout", { timeout: WAIT_MS });
        await page.click("#checkout");
        await page.waitForSelector("#order", { timeout: WAIT_MS });
        await waitForLog(page, "purchase", 1);
        // Sent: the checkout flushed, and the tracker's queue in localStorage is empty.
        await page.waitForFunction(() => localStorage.getItem("scalestream:queue") === null, null, {
          timeout: WAIT_MS,
          polling: 100,
        });
      });

      await t.step("hiding the page hands queued events to sendBeacon at once", async () => {
        const left = await page.evaluate(async () => {
          const before = document.querySelectorAll("#event-log li").length;
          document.querySelector('a[href="#/"]').click();
          while (document.querySelectorAll("#event-log li").length === before) {
            await new Promise((r) => setTimeout(r, 5));
          }
          const queuedBefore = JSON.parse(localStorage.getItem("scalestream:queue") ?? "[]").length;
          // What the browser fires when the tab is hidden or left; the tracker's flush timer has
          // not run yet (it waits 500 ms), so only the beacon can have taken the event.
          dispatchEvent(new Event("pagehide"));
          return {
            queuedBefore,
            queuedAfter: localStorage.getItem("scalestream:queue"),
            beacons: (globalThis as Dom).__beacons,
          };
        });
        assert.equal(left.queuedBefore, 1, "the last page_view was waiting in the queue");
        assert.equal(left.beacons, 1, "sendBeacon took it");
        assert.equal(left.queuedAfter, null, "and the queue is empty");
      });
      const events = await loggedEvents(page);
      await page.goto("about:blank");

      const types = events.map((e) => e.type);
      assert.deepEqual(types, [
        "page_view",
        "product_click",
        "page_view",
        "add_to_cart",
        "page_view",
        "purchase",
        "page_view",
        "page_view",
      ]);
      assert.equal(new Set(events.map((e) => e.id)).size, events.length, "event ids are unique");
      const posts = requests.filter((r) => r.url.startsWith(`${base}/v1/events?key=`));
      assert.ok(posts.length >= 1, "events went to /v1/events with the publishable key");
      assert.ok(
        requests.every((r) => r.url.startsWith(base) || r.url === "about:blank"),
        `no third-party requests: ${requests.map((r) => r.url).join(", ")}`,
      );

      await t.step("every event is stored and readable by id with a read key", async () => {
        const stored = new Map<string, Record<string, unknown>>();
        const all = await eventually(
          async () => {
            for (const e of events) {
              if (stored.has(e.id)) continue;
              const r = await read(`/v1/events/${e.id}`);
              if (r.status === 200 && r.body.status === "stored") stored.set(e.id, r.body.event);
              else if (r.status === 200) {
                assert.fail(`event ${e.type} ${e.id}: ${JSON.stringify(r.body)}`);
              }
            }
            return stored.size === events.length;
          },
          WAIT_MS,
          250,
        );
        assert.ok(all, `stored ${stored.size} of ${events.length}`);
        const purchase = stored.get(events.find((e) => e.type === "purchase")!.id)!;
        assert.equal(purchase.productId, "demo-headphones");
        assert.equal(purchase.price, 89.9);
        assert.match(String(purchase.userId), /^demo-customer-/);
        const firstView = stored.get(events[0]!.id)!;
        assert.equal(firstView.eventType, "page_view");
        assert.match(String(firstView.pageUrl), /\/demo/);
        assert.ok(!String(firstView.pageUrl).includes("spk_"), "no key in the stored address");
      });

      await t.step("the funnel counts the visit: views, one cart, one purchase", async () => {
        const views = types.filter((x) => x === "page_view" || x === "product_click").length;
        let last: unknown;
        const counted = await eventually(
          async () => {
            const r = await read("/v1/metrics/funnel");
            last = r.body;
            const total = r.body?.total;
            return total?.views === views && total?.carts === 1 && total?.purchases === 1;
          },
          WAIT_MS,
          250,
        );
        assert.ok(counted, `funnel: ${JSON.stringify(last)}`);
      });

      await t.step("the publishable key cannot read what it sent", async () => {
        const res = await fetch(`${base}/v1/events/${events[0]!.id}?key=${publishable.key}`, {
          headers: { origin: base },
        });
        assert.equal(res.status, 403);
        await res.body?.cancel();
      });
      assert.deepEqual(pageErrors, []);
      // A send that failed and was retried (a busy machine) is not a refusal.
      assert.deepEqual(
        consoleWarnings.filter((w) => !/retrying|events failed/.test(w)),
        [],
        "the tracker reported no refused events",
      );
    } finally {
      await browser.close();
      await server.shutdown();
      await app.close();
      await consumer.stop();
      await q.close();
      await db.close();
    }
  },
});
