import assert from "node:assert/strict";
import { demoRoutes } from "../demo/mod.ts";
import { sdkRoutes } from "./sdk_routes.ts";

Deno.test("GET /sdk/v1.js serves the tracker as a module any shop origin may import", async () => {
  const res = await sdkRoutes().request("/sdk/v1.js");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const text = await res.text();
  assert.match(text, /export function createTracker/);
  assert.doesNotMatch(text, /^\s*import\b/m, "the tracker imports nothing");
});

Deno.test("GET /demo serves the shop with a same-origin-only content security policy", async () => {
  const app = demoRoutes();
  const page = await app.request("/demo");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-security-policy") ?? "", /connect-src 'self'/);
  assert.match(await page.text(), /src="\/demo\/shop\.js"/);
  const js = await app.request("/demo/shop.js");
  assert.match(await js.text(), /from "\.\.\/sdk\/v1\.js"/);
});
