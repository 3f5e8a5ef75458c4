/**
 * `GET /demo`: a small shop that uses the browser SDK as a real shop would (product list, product
 * pages, cart, checkout). Text modules, like the dashboard's files.
 */
import { Hono } from "hono";
import demoHtml from "./index.html" with { type: "text" };
import demoJs from "./shop.js" with { type: "text" };
import demoCss from "./shop.css" with { type: "text" };

/** The demo's own scripts and styles, and requests to this API only. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** The demo shop's routes as a Hono app; mount it at the root (`registerDemo`). */
export function demoRoutes(): Hono {
  const app = new Hono();
  const common = { "cache-control": "no-cache", "x-content-type-options": "nosniff" };
  app.get("/demo", (c) =>
    c.body(demoHtml, 200, {
      ...common,
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CSP,
      // `?key=` may be in the address; it must not travel in a Referer header.
      "referrer-policy": "no-referrer",
    }));
  app.get(
    "/demo/shop.js",
    (c) => c.body(demoJs, 200, { ...common, "content-type": "text/javascript; charset=utf-8" }),
  );
  app.get(
    "/demo/shop.css",
    (c) => c.body(demoCss, 200, { ...common, "content-type": "text/css; charset=utf-8" }),
  );
  return app;
}

/** Mounts the demo shop at `/demo`. */
export function registerDemo(app: { route(path: string, app: Hono): unknown }): void {
  app.route("/", demoRoutes());
}
