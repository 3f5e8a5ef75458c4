/**
 * The dashboard end to end in a real browser: a producer pushes events through fauxqs into a
 * consumer with the analytics stages, the API serves them on a real port, and Debian's chromium
 * (driven by playwright-core) opens the page while events flow and saves screenshots.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createApp, parseApiKeys } from "../api/mod.ts";
import { registerDashboard } from "../api/dashboard/mod.ts";
import { createEventSender, createGenerator, metaOf, type SentMeta } from "../producer/mod.ts";
import { chromiumOrWarn, launchBrowser } from "./browser.ts";
import { createTestDb } from "./harness.ts";
import { startTestPipeline } from "./pipeline_support.ts";

const chromium = chromiumOrWarn("the dashboard browser test");

// The callbacks given to the page run in the browser. Deno's lib has no DOM, and a
// `/// <reference lib="dom" />` would change the globals of every file `deno check` sees, so the
// DOM is typed loosely here.
// deno-lint-ignore no-explicit-any
type Dom = any;
declare const document: Dom;

const MINUTE = 60_000;
/** History for the charts: the past 45 minutes at about 14 events/s, in a slow wave. */
const HISTORY_MS = 45 * MINUTE;
const HISTORY_PER_S = 14;
/** Live events: this many every 50 ms (≈ 20/s) until the test ends, for at most a minute. */
const LIVE_BATCH = 1;
const MAX_PRODUCE_MS = 60_000;
// Generous: on a loaded 2-core machine the first history load alone can take tens of seconds.
const WAIT_MS = 60_000;

/**
 * Screenshots go to a temporary directory (printed), so a test run never dirties the checkout;
 * `UPDATE_SCREENSHOTS=1` writes them to docs/img/ instead, for docs/dashboard.md.
 */
const SHOTS = Deno.env.get("UPDATE_SCREENSHOTS") === "1"
  ? new URL("../docs/img/", import.meta.url)
  : new URL(`file://${await Deno.makeTempDir({ prefix: "scalestream-shots-" })}/`);

/** Waits until `fn` (run in the page) returns a truthy value; fails with `what` after WAIT_MS. */
async function waitFor<A>(page: Page, what: string, fn: (arg: A) => unknown, arg?: A) {
  try {
    await page.waitForFunction(fn as (arg: unknown) => unknown, arg, {
      timeout: WAIT_MS,
      polling: 100,
    });
  } catch (err) {
    throw new Error(`Timed out waiting until ${what}`, { cause: err });
  }
}

const chartSum = (page: Page, id: string) =>
  page.$eval(`#${id}`, (el) => Number((el as Dom).dataset.sum ?? 0));
const chartSeries = (page: Page, id: string) =>
  page.$eval(`#${id}`, (el) => ((el as Dom).dataset.series ?? "").split(","));
const productCategories = (page: Page) =>
  page.$$eval(
    "#top-products tbody tr[data-category]",
    (rows) => rows.map((r) => (r as Dom).dataset.category),
  );

Deno.test({
  name: "the dashboard renders live charts that update while events flow, filters, drills " +
    "down and fits a phone",
  ignore: chromium === null,
  async fn(t) {
    const { db, q, consumer } = await startTestPipeline("dashboard-test", { analytics: true });
    const sender = createEventSender<SentMeta>({
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      maxMessageBytes: 64 * 1024,
      lingerMs: 20,
      maxInflightBatches: 4,
    });
    const gen = createGenerator({ seed: 11, users: 150, products: 40 });
    const stopProducing = new AbortController();
    let historyEvents = 0;
    const history = (async () => {
      const end = Date.now();
      for (let s = end - HISTORY_MS; s < end; s += 1000) {
        const n = Math.round(HISTORY_PER_S * (1 + 0.4 * Math.sin((s / MINUTE) * 0.9)));
        for (let i = 0; i < n; i++) {
          const e = gen.next(s + Math.floor((i * 1000) / n));
          await sender.send(e, metaOf("unique", e));
          historyEvents++;
        }
      }
      await sender.flush();
    })();
    const producing = history.then(async () => {
      const start = Date.now();
      while (!stopProducing.signal.aborted && Date.now() - start < MAX_PRODUCE_MS) {
        for (let i = 0; i < LIVE_BATCH; i++) {
          const e = gen.next(Date.now());
          await sender.send(e, metaOf("unique", e));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await sender.flush();
    });

    const app = createApp({
      sql: db.sql,
      sqs: q.sqs,
      queueUrl: q.queueUrl,
      dlqUrl: q.dlqUrl,
      streamIntervalMs: 500,
    });
    // Until the lead wires the dashboard into createApp, the test mounts it.
    if (!app.routes.some((r) => r.method === "GET" && r.path === "/")) registerDashboard(app);
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await launchBrowser();
    const pageErrors: string[] = [];
    try {
      const page = await browser.newPage({ width: 1600, height: 1000 });
      page.on("pageerror", (err) => pageErrors.push(String(err)));
      await page.goto(`${base}/`);

      await t.step("the charts render with data", async () => {
        await waitFor(
          page,
          "the stream is live",
          () => document.getElementById("conn-dot")?.dataset.state === "live",
        );
        for (const id of ["chart-traffic", "chart-revenue", "chart-users", "chart-live"]) {
          await waitFor(
            page,
            `${id} draws a canvas with non-zero data`,
            (id) => {
              const el = document.getElementById(id);
              return el?.querySelector("canvas") && Number(el.dataset.sum ?? 0) > 0;
            },
            id,
          );
        }
        await waitFor(page, "the funnel counts views", () =>
          Number(
            document.querySelector("#funnel li .num")?.textContent?.replace(/\D/g, "") ?? 0,
          ) > 0);
        await waitFor(
          page,
          "top products, categories and geography have rows",
          () =>
            ["top-products", "top-categories", "geo"].every((id) =>
              document.querySelector(`#${id} tbody tr:not(.empty)`)
            ),
        );
        assert.ok((await chartSeries(page, "chart-traffic")).includes("page view"));
        assert.ok(
          (await chartSeries(page, "chart-revenue")).length >= 2,
          "revenue is drawn per category",
        );
      });

      await t.step("numbers update while events flow", async () => {
        const stored = await page.$eval("#kpi-stored", (el) => Number(el.dataset.raw));
        assert.ok(stored > 0);
        await waitFor(
          page,
          "the stored counter moves",
          (before) => Number(document.getElementById("kpi-stored")?.dataset.raw) > before,
          stored,
        );
        const traffic = await chartSum(page, "chart-traffic");
        await waitFor(
          page,
          "the traffic chart is redrawn with more events",
          (before) => Number(document.getElementById("chart-traffic")?.dataset.sum) !== before,
          traffic,
        );
      });

      // Full page: the wall-screen view, with the history consumed and the panels filled in.
      await history;
      await waitFor(
        page,
        "the history is consumed and fraud alerts are listed",
        (n) =>
          Number(document.getElementById("kpi-stored")?.dataset.raw) > n &&
          document.querySelector("#fraud tbody tr:not(.empty)"),
        historyEvents,
      );
      await waitFor(
        page,
        "the analytics panels are refreshed after the backlog",
        (t) => Number(document.body.dataset.refreshed) > t,
        Date.now(),
      );
      const shot = new URL("dashboard.png", SHOTS).pathname;
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`Screenshot: ${shot}`);

      const categories = await page.$$eval(
        "#top-categories button[data-category]",
        (bs) => bs.map((b) => (b as Dom).dataset.category!),
      );
      assert.ok(categories.length >= 2, "at least two categories sold");
      const [first, second] = categories as [string, string];

      await t.step("the category filter narrows the charts and lists", async () => {
        const allTraffic = await chartSum(page, "chart-traffic");
        await page.selectOption("#f-category", first);
        await waitFor(
          page,
          `the revenue chart shows only ${first}`,
          (c) => document.getElementById("chart-revenue")?.dataset.series === c,
          first,
        );
        await waitFor(
          page,
          `top products are all ${first}`,
          (c) => {
            const rows = [...document.querySelectorAll("#top-products tbody tr[data-category]")];
            return rows.length > 0 && rows.every((r) => (r as Dom).dataset.category === c);
          },
          first,
        );
        // A category's traffic leaves out events without one (searches, page views) ...
        await waitFor(
          page,
          "the traffic chart drops category-less searches",
          () => !document.getElementById("chart-traffic")?.dataset.series?.includes("search"),
        );
        // ... so it is a part of all traffic.
        assert.ok(await chartSum(page, "chart-traffic") < allTraffic);
        assert.ok((await chartSeries(page, "chart-traffic")).includes("purchase"));
        assert.match(page.url(), new RegExp(`category=${first}`));
        await page.click("#clear-category");
        await waitFor(
          page,
          "the revenue chart shows several categories again",
          () => (document.getElementById("chart-revenue")?.dataset.series ?? "").includes(","),
        );
      });

      await t.step("drill-down from a category shows its products", async () => {
        await page.click(`#top-categories button[data-category="${second}"]`);
        await waitFor(
          page,
          `the products panel is about ${second}`,
          (c) => document.getElementById("h-products")?.textContent === `Top products in ${c}`,
          second,
        );
        await waitFor(
          page,
          `top products are all ${second}`,
          (c) => {
            const rows = [...document.querySelectorAll("#top-products tbody tr[data-category]")];
            return rows.length > 0 && rows.every((r) => (r as Dom).dataset.category === c);
          },
          second,
        );
        assert.deepEqual(
          [...new Set(await productCategories(page))],
          [second],
        );
        assert.equal(
          await page.$eval("#f-category", (s) => (s as Dom).value),
          second,
        );
      });

      await t.step("issue 19's dashboard defects stay fixed on a wide screen", async () => {
        // One frame of data does not stretch a chart's time axis over years.
        const span = await page.evaluate(async () => {
          const { timeChart } = await import(["/assets", "charts.js"].join("/"));
          const el = document.createElement("div");
          el.style.width = "600px";
          document.body.append(el);
          const chart = timeChart(el);
          chart.setData({
            x: [Date.now() / 1000],
            ys: [[null], [5]],
            series: [{ label: "a", color: "#fff" }, { label: "b", color: "#000" }],
          });
          // uPlot sets its scales on the next frame.
          for (let i = 0; i < 50 && el.dataset.xspan === undefined; i++) {
            await new Promise((r) => setTimeout(r, 20));
          }
          await new Promise((r) => setTimeout(r, 300));
          const s = Number(el.dataset.xspan);
          el.remove();
          return s;
        });
        assert.ok(span > 0 && span <= 3600, `one frame spans ${span} s`);
        // Order ids that share a prefix stay distinct in the fraud table.
        const ids = await page.evaluate(async () => {
          const { shortId } = await import(["/assets", "charts.js"].join("/"));
          return ["o-5f3a9c2e-1001", "o-5f3a9c2e-1002", "o-1"].map(shortId);
        });
        assert.equal(new Set(ids).size, 3, String(ids));
        assert.equal(ids[2], "o-1");
        // The inventory panel's last column (reorder) is not hidden behind a scrollbar.
        const inventory = await page.$eval(
          "#inventory",
          (t) => {
            const wrap = (t as Dom).closest(".table-wrap");
            return { scroll: wrap.scrollWidth, client: wrap.clientWidth };
          },
        );
        assert.ok(
          inventory.scroll <= inventory.client + 1,
          `the inventory table is ${inventory.scroll}px in ${inventory.client}px`,
        );
        // No negative stock, cover or reorder quantity is shown.
        const cells = await page.$$eval(
          "#inventory tbody td.num",
          (tds) => tds.map((td) => (td as Dom).textContent ?? ""),
        );
        assert.ok(cells.every((c) => !/^[-−]\d/.test(c)), String(cells));
        // The lag value stays on one line.
        const lag = await page.$eval("#kpi-lag", (el) => {
          const d = el as Dom;
          d.textContent = "12.3 min";
          return {
            h: d.getBoundingClientRect().height,
            line: parseFloat((globalThis as Dom).getComputedStyle(d).lineHeight),
          };
        });
        assert.ok(lag.h < lag.line * 1.5, `the lag value is ${lag.h}px high, a line ${lag.line}px`);
      });

      await t.step("a phone-sized screen has no horizontal overflow", async () => {
        const phone = await browser.newPage({ width: 390, height: 844 });
        phone.on("pageerror", (err) => pageErrors.push(String(err)));
        await phone.goto(`${base}/`);
        await waitFor(
          phone,
          "the phone's traffic chart has data",
          () => Number(document.getElementById("chart-traffic")?.dataset.sum ?? 0) > 0,
        );
        await waitFor(
          phone,
          "the phone's tables and ingest rate are filled",
          () =>
            document.querySelector("#top-products tbody tr:not(.empty)") &&
            document.getElementById("kpi-ingest-rate")?.textContent !== "–",
        );
        const overflow = await phone.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          view: (globalThis as Dom).innerWidth,
          wide: [...document.querySelectorAll("body *")]
            .filter((el) => el.getBoundingClientRect().right > (globalThis as Dom).innerWidth + 1)
            .filter((el) => !el.closest(".table-wrap"))
            .slice(0, 5)
            .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`),
        }));
        assert.ok(
          overflow.scroll <= overflow.view,
          `page is ${overflow.scroll}px wide in a ${overflow.view}px viewport: ${overflow.wide}`,
        );
        // The window selector is not cut off, and the product table does not scroll sideways.
        const phoneLayout = await phone.evaluate(() => {
          const select = document.getElementById("f-window") as Dom;
          const r = select.getBoundingClientRect();
          const text = select.options[select.selectedIndex].text;
          const ctx = document.createElement("canvas").getContext("2d");
          ctx.font = (globalThis as Dom).getComputedStyle(select).font;
          const wrap = document.getElementById("top-products")!.closest(".table-wrap") as Dom;
          return {
            left: r.left,
            right: r.right,
            view: (globalThis as Dom).innerWidth,
            textWidth: ctx.measureText(text).width,
            selectWidth: r.width,
            productsScroll: wrap.scrollWidth,
            productsClient: wrap.clientWidth,
          };
        });
        assert.ok(
          phoneLayout.left >= 0 && phoneLayout.right <= phoneLayout.view,
          JSON.stringify(phoneLayout),
        );
        // The selected window's label fits, with room for the arrow.
        assert.ok(
          phoneLayout.textWidth + 24 <= phoneLayout.selectWidth,
          JSON.stringify(phoneLayout),
        );
        assert.ok(
          phoneLayout.productsScroll <= phoneLayout.productsClient + 1,
          JSON.stringify(phoneLayout),
        );
        // The first screen, as a phone shows it.
        await phone.screenshot({ path: new URL("dashboard-phone.png", SHOTS).pathname });
      });

      assert.deepEqual(pageErrors, [], "the page threw no errors");
    } finally {
      stopProducing.abort();
      await producing.catch(() => {});
      await browser.close();
      await server.shutdown();
      await app.close();
      await consumer.stop();
      await q.close();
      await db.close();
    }
  },
});

Deno.test({
  name: "with API keys configured the dashboard asks for a read key, takes ?key= once and " +
    "reads the API and the stream with it",
  ignore: chromium === null,
  async fn() {
    const db = await createTestDb();
    const key = `ssk_dashboard_${crypto.randomUUID()}`;
    const app = createApp({
      sql: db.sql,
      apiKeys: await parseApiKeys(`wall:read:${key}`),
      streamIntervalMs: 500,
    });
    if (!app.routes.some((r) => r.method === "GET" && r.path === "/")) registerDashboard(app);
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ width: 1200, height: 800 });
      await page.goto(`${base}/`);
      await waitFor(
        page,
        "the key form is shown",
        () =>
          !document.getElementById("key-banner")?.hidden &&
          document.getElementById("conn-text")?.textContent === "Needs an API key",
      );

      await page.fill("#key-input", "ssk_not_a_valid_key_at_all");
      await page.click("#key-form button[type=submit]");
      await waitFor(
        page,
        "a wrong key is refused",
        () =>
          !document.getElementById("key-banner")?.hidden &&
          document.getElementById("conn-dot")?.dataset.state === "down",
      );

      await page.fill("#key-input", key);
      await page.click("#key-form button[type=submit]");
      await waitFor(
        page,
        "the stream is live with the key",
        () =>
          document.getElementById("key-banner")?.hidden &&
          document.getElementById("conn-dot")?.dataset.state === "live",
      );

      // A wall screen opened with ?key=: the key moves to sessionStorage and leaves the address.
      const wall = await browser.newPage({ width: 1200, height: 800 });
      await wall.goto(`${base}/?key=${encodeURIComponent(key)}&window=5m`);
      await waitFor(
        wall,
        "the wall screen is live",
        () =>
          document.getElementById("conn-dot")?.dataset.state === "live" &&
          Number(document.body.dataset.refreshed) > 0,
      );
      assert.doesNotMatch(wall.url(), /key=/);
      assert.match(wall.url(), /window=5m/);
      assert.equal(
        await wall.evaluate(() => document.getElementById("key-banner")?.hidden),
        true,
      );
      assert.equal(
        await wall.$eval("#error-banner", (e) => (e as Dom).hidden),
        true,
      );
      assert.equal(
        await wall.$eval("#f-window", (s) => (s as Dom).value),
        "5m",
      );
    } finally {
      await browser.close();
      await server.shutdown();
      await app.close();
      await db.close();
    }
  },
});
