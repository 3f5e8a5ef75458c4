/**
 * The dashboard's lake panels in a real browser: cohorts, an experiment's variants with their
 * intervals and lift, the sample-ratio warning and the lake's state, from reports the lake jobs
 * computed over real PostgreSQL, fauxqs S3 and DuckDB.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createApp } from "../api/mod.ts";
import { flushEvents } from "../consumer/mod.ts";
import type { Event } from "../shared/mod.ts";
import { checkDay } from "../consumer/lake/batch_view.ts";
import { refreshReports } from "../consumer/lake/run_lake_jobs.ts";
import { accepted, makeEvent } from "./analytics_fixtures.ts";
import { chromiumPath, launchBrowser } from "./browser.ts";
import { createTestDb } from "./harness.ts";
import { createTestLake, exportAll } from "./lake_fixtures.ts";

// The callbacks given to the page run in the browser; Deno's lib has no DOM (see
// dashboard_browser_test.ts for why it is typed loosely rather than referenced).
// deno-lint-ignore no-explicit-any
declare const document: any;

async function waitFor(page: Page, what: string, fn: () => unknown) {
  try {
    await page.waitForFunction(fn, undefined, { timeout: 30_000, polling: 100 });
  } catch (err) {
    throw new Error(`Timed out waiting until ${what}`, { cause: err });
  }
}

Deno.test({
  name: "the dashboard draws the lake's cohorts, experiment intervals and sample-ratio warning",
  ignore: chromiumPath() === null,
  async fn() {
    const db = await createTestDb();
    const lake = await createTestLake();
    const browser = await launchBrowser();
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      createApp({ sql: db.sql }).fetch,
    );
    try {
      const now = Date.now();
      const at = (user: string, variant: string, type: Event["eventType"]) =>
        makeEvent({
          eventType: type,
          userId: user,
          timestamp: new Date(now - 60_000).toISOString(),
          properties: { experiment: "hero-banner", variant },
        });
      const events: Event[] = [];
      for (let i = 0; i < 600; i++) {
        events.push(at(`c${i}`, "control", i < 60 ? "purchase" : "page_view"));
      }
      for (let i = 0; i < 400; i++) {
        events.push(at(`t${i}`, "treatment", i < 60 ? "purchase" : "page_view"));
      }
      await flushEvents({ events: accepted(events), rejects: [], messages: 1, workerId: "t" }, {
        sql: db.sql,
      });
      await exportAll(db.sql, lake);
      const deps = { sql: db.sql, s3: lake.s3, bucket: lake.bucket, cacheDir: lake.cacheDir };
      await checkDay(new Date(now - 60_000).toISOString().slice(0, 10), deps);
      await refreshReports(deps);

      const page = await browser.newPage({ width: 1600, height: 1400 });
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(String(err)));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await waitFor(
        page,
        "the cohort table has a row",
        () => document.querySelectorAll("#lake-cohorts tbody tr").length === 1,
      );
      await waitFor(
        page,
        "the experiment shows both variants",
        () => document.querySelectorAll("#lake-experiments table.experiment tbody tr").length === 2,
      );
      const rows = await page.$$eval(
        "#lake-experiments table.experiment tbody tr",
        (trs) => trs.map((tr) => tr.textContent ?? ""),
      );
      assert.match(rows[0]!, /control\s*600\s*60.*10\.0%.*baseline/s);
      assert.match(rows[1]!, /treatment\s*400\s*60.*15\.0%.*\+50\.0%/s);
      assert.equal(await page.$$eval(".ci-band", (els) => els.length), 2);
      const srm = await page.$eval("#lake-experiments .srm", (el) => el.textContent ?? "");
      assert.match(srm, /Sample-ratio mismatch/);
      const status = await page.$eval("#lake-status", (el) => el.textContent ?? "");
      assert.match(status, /1,000 events in the lake/);
      assert.match(status, /stream = lake/);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await lake.close();
      await db.close();
    }
  },
});
