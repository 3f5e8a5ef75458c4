/**
 * Every GET route of the API, taken from its own OpenAPI document, probed through `app.request()`
 * with hostile path and query parameters (NUL as `%00`, dates PostgreSQL cannot hold such as year
 * 0 or 300000, huge numbers, unusual unicode, SQL metacharacters) on a real PostgreSQL schema with
 * some stored events. Never a 5xx: a bad parameter is a 400 problem document (issue 13, item 3).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createApp } from "../api/mod.ts";
import { flushAll, seededEvents } from "./analytics_fixtures.ts";
import { fuzzParams } from "./fuzz_params.ts";
import { createTestDb } from "./harness.ts";

const db = await createTestDb();
const app = createApp({ sql: db.sql });
globalThis.addEventListener("unload", () => {
  void app.close().finally(() => db.close());
});
const { events } = seededEvents(300, Date.now() - 30 * 60_000, 25 * 60_000, { seed: 1303 });
await flushAll(db.sql, events);

interface Param {
  name: string;
  in: "path" | "query";
}
interface Route {
  template: string;
  params: Param[];
}

/** The GET routes under /v1 with their parameters, from the OpenAPI document. */
async function routes(): Promise<Route[]> {
  const doc = await (await app.request("/openapi.json")).json() as {
    paths: Record<string, { get?: { parameters?: Param[] } }>;
  };
  return Object.entries(doc.paths)
    .filter(([path, item]) => path.startsWith("/v1/") && item.get && !path.includes("stream"))
    .map(([template, item]) => ({ template, params: item.get!.parameters ?? [] }));
}

const DATES = [
  "0000-01-01T00:00:00Z",
  "0001-01-01T00:00:00Z",
  "0001-01-01T00:30:00+01:00",
  "1969-12-31T23:59:59Z",
  "9999-12-31T23:59:59-14:00",
  "+300000-01-01T00:00:00Z",
  "-000001-01-01T00:00:00Z",
  "300000-01-01T00:00:00Z",
  "2024-02-30T00:00:00Z",
  new Date().toISOString(),
];
const hostile = fc.oneof(
  fc.constantFrom(
    "%00",
    "a%00b",
    "%00%00",
    "%C0%80",
    "%ED%A0%80",
    "%FF",
    "%",
    "'; drop table events; --",
    "1e309",
    "-1",
    "0",
    "99999999999999999999",
    "NaN",
    "😀",
    "\u202e",
    "x".repeat(300),
    "00000000-0000-0000-0000-000000000000",
    "1m",
    "1h",
    "views",
  ),
  fc.constantFrom(...DATES).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 20 }).map((s) =>
    encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "?"))
  ),
  fc.integer().map(String),
);

Deno.test("fuzz: hostile path and query parameters on every GET route never cause a 5xx", async () => {
  const all = await routes();
  assert.ok(all.length >= 10, `only ${all.length} routes found`);
  let probes = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...all),
      fc.array(hostile, { minLength: 6, maxLength: 6 }),
      fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      async (route, values, present) => {
        let path = route.template;
        const query: string[] = [];
        route.params.forEach((p, i) => {
          const v = values[i % values.length]!;
          if (p.in === "path") path = path.replace(`{${p.name}}`, v === "" ? "x" : v);
          else if (present[i % present.length]) query.push(`${p.name}=${v}`);
        });
        const url = path + (query.length > 0 ? `?${query.join("&")}` : "");
        probes++;
        const res = await app.request(url);
        assert.ok(res.status < 500, `${res.status} for GET ${url}`);
        if (res.status >= 400) {
          assert.match(res.headers.get("content-type") ?? "", /problem\+json/, url);
          const p = await res.json();
          assert.ok(typeof p.detail === "string" && p.detail.length > 0, url);
        } else {
          await res.body?.cancel();
        }
      },
    ),
    fuzzParams("api params", 600),
  );
  assert.ok(probes >= 600);
});

Deno.test("NUL in any text parameter or path id, and dates outside 1970–9999, are 400 problems on every route", async () => {
  const all = await routes();
  for (const route of all) {
    for (const [i, p] of route.params.entries()) {
      for (const bad of ["%00", "a%00", ...DATES.slice(0, 8).map(encodeURIComponent)]) {
        let path = route.template;
        const query: string[] = [];
        route.params.forEach((q, j) => {
          if (q.in === "path") path = path.replace(`{${q.name}}`, j === i ? bad : "u1");
        });
        if (p.in === "query") query.push(`${p.name}=${bad}`);
        const url = path + (query.length > 0 ? `?${query.join("&")}` : "");
        const res = await app.request(url);
        assert.ok(res.status < 500, `${res.status} for GET ${url}`);
        if (bad.includes("%00")) assert.equal(res.status, 400, `GET ${url}`);
        await res.body?.cancel();
      }
    }
  }
  // The probes of the issue, literally.
  const cases = [
    "/v1/events/%00",
    "/v1/metrics/traffic?category=%00",
    "/v1/metrics/traffic?segment=%00",
    "/v1/metrics/traffic?to=0001-01-01T00:00:00Z",
    "/v1/metrics/revenue?from=0000-01-01T00:00:00Z&to=0000-01-02T00:00:00Z",
  ];
  for (const url of cases) {
    const res = await app.request(url);
    assert.equal(res.status, 400, `GET ${url}`);
    assert.match(res.headers.get("content-type") ?? "", /problem\+json/);
    await res.body?.cancel();
  }
});
