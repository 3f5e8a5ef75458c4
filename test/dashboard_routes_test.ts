/**
 * The dashboard's static routes through `app.request()`: the page and every asset it references
 * are served locally (nothing from a CDN), with types, caching and a strict content policy.
 */
import assert from "node:assert/strict";
import { dashboardRoutes, UPLOT_VERSION } from "../api/dashboard/mod.ts";
import { EVENT_TYPES } from "../shared/mod.ts";

const app = dashboardRoutes();

/** Local URLs the page loads: `src`/`href` attributes and the modules' relative imports. */
async function referencedAssets(): Promise<string[]> {
  const html = await (await app.request("/")).text();
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    .filter((u) => u.startsWith("/assets/"));
  const modules = [...urls];
  for (const url of urls.filter((u) => u.endsWith(".js") && !u.includes("uplot"))) {
    const js = await (await app.request(url)).text();
    for (const m of js.matchAll(/from "\.\/([\w.-]+\.js)"/g)) modules.push(`/assets/${m[1]}`);
  }
  return [...new Set(modules)];
}

Deno.test("GET / serves the dashboard page with a strict content policy and no external URLs", async () => {
  const res = await app.request("/");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  const html = await res.text();
  assert.match(html, /<html lang="en">/);
  assert.match(html, /name="viewport"/);
  assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//, "the page must work offline");
  assert.doesNotMatch(html, /<script>(?!<\/script>)/, "no inline script (CSP forbids it)");
  for (const id of ["f-window", "f-category", "f-device"]) {
    assert.match(html, new RegExp(`<label[^>]*>[^<]*\\s*<select id="${id}"`), `${id} has a label`);
  }
});

Deno.test("every asset the page loads is served with its content type", async () => {
  const assets = await referencedAssets();
  assert.ok(assets.includes(`/assets/uplot-${UPLOT_VERSION}.js`));
  assert.ok(assets.includes("/assets/api_client.js"), "dashboard.js imports the API client");
  for (const url of assets) {
    const res = await app.request(url);
    assert.equal(res.status, 200, url);
    const type = res.headers.get("content-type") ?? "";
    assert.match(type, url.endsWith(".js") ? /^text\/javascript/ : /^text\/css/, url);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    const body = await res.text();
    assert.ok(body.length > 100, `${url} is not empty`);
    assert.doesNotMatch(body, /https?:\/\/(?!github\.com\/leeoniya)[\w.-]+\/[\w./-]+\.(js|css)/);
  }
});

Deno.test("the uPlot asset is the vendored release, cached as immutable", async () => {
  const res = await app.request(`/assets/uplot-${UPLOT_VERSION}.js`);
  const body = await res.text();
  const vendored = await Deno.readTextFile(
    new URL("../api/dashboard/vendor/uplot/uPlot.iife.min.js", import.meta.url),
  );
  assert.equal(body, vendored);
  assert.ok(body.startsWith(`/*! https://github.com/leeoniya/uPlot (v${UPLOT_VERSION}) */`));
  assert.match(res.headers.get("cache-control") ?? "", /immutable/);
  const license = await Deno.readTextFile(
    new URL("../api/dashboard/vendor/uplot/LICENSE", import.meta.url),
  );
  assert.match(license, /MIT License/);
});

Deno.test("an asset answers 304 to its ETag and unknown assets are 404", async () => {
  const first = await app.request("/assets/dashboard.js");
  const etag = first.headers.get("etag");
  assert.ok(etag);
  assert.equal(first.headers.get("cache-control"), "no-cache");
  const again = await app.request("/assets/dashboard.js", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  const page = await app.request("/");
  const page304 = await app.request("/", {
    headers: { "if-none-match": page.headers.get("etag")! },
  });
  assert.equal(page304.status, 304);
  assert.equal((await app.request("/assets/nope.js")).status, 404);
  assert.equal((await app.request("/assets/..%2Fdashboard_routes.ts")).status, 404);
  assert.equal((await app.request("/assets/constructor")).status, 404);
});

Deno.test("the page carries the event contract's types from shared/, and dashboard.js no list of its own", async () => {
  const html = await (await app.request("/")).text();
  const meta = /<meta name="event-types" content="([^"]*)">/.exec(html);
  assert.ok(meta, "no event-types meta tag");
  assert.deepEqual(meta[1]!.split(" "), [...EVENT_TYPES]);
  const js = await (await app.request("/assets/dashboard.js")).text();
  for (const type of EVENT_TYPES) {
    assert.doesNotMatch(js, new RegExp(`"${type}"`), `dashboard.js spells out "${type}"`);
  }
});
