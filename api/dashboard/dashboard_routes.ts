/**
 * `GET /` (the live dashboard) and `GET /assets/*` (its scripts, styles and the vendored uPlot).
 * Every file is imported as a text module, so it is part of the module graph: `deno compile`
 * embeds it and Deno Deploy bundles it, and nothing is read from disk or a CDN at run time.
 */
import { Hono } from "hono";
import indexHtml from "./static/index.html" with { type: "text" };
import dashboardJs from "./static/dashboard.js" with { type: "text" };
import apiClientJs from "./static/api_client.js" with { type: "text" };
import chartsJs from "./static/charts.js" with { type: "text" };
import dashboardCss from "./static/dashboard.css" with { type: "text" };
import lakePanelJs from "./static/lake_panel.js" with { type: "text" };
import lakePanelCss from "./static/lake_panel.css" with { type: "text" };
import uplotJs from "./vendor/uplot/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "./vendor/uplot/uPlot.min.css" with { type: "text" };
import { EVENT_TYPES } from "../../shared/mod.ts";

/** The vendored uPlot release; its files are served under versioned, immutable names. */
export const UPLOT_VERSION = "1.6.32";

interface Asset {
  body: string;
  type: string;
  /** Versioned names never change content, so browsers may keep them for a year. */
  immutable: boolean;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/**
 * The page, with the event contract's types (shared/event.ts) in a `<meta name="event-types">`
 * tag that dashboard.js reads: the dashboard keeps no list of its own.
 */
const page = indexHtml.replace(
  "<!-- event-types -->",
  `<meta name="event-types" content="${EVENT_TYPES.join(" ")}">`,
);
if (page === indexHtml) throw new Error("index.html lost its <!-- event-types --> placeholder");

const ASSETS: Record<string, Asset> = {
  "dashboard.js": { body: dashboardJs, type: JS, immutable: false },
  "api_client.js": { body: apiClientJs, type: JS, immutable: false },
  "charts.js": { body: chartsJs, type: JS, immutable: false },
  "dashboard.css": { body: dashboardCss, type: CSS, immutable: false },
  "lake_panel.js": { body: lakePanelJs, type: JS, immutable: false },
  "lake_panel.css": { body: lakePanelCss, type: CSS, immutable: false },
  [`uplot-${UPLOT_VERSION}.js`]: { body: uplotJs, type: JS, immutable: true },
  [`uplot-${UPLOT_VERSION}.css`]: { body: uplotCss, type: CSS, immutable: true },
};

/**
 * Scripts only from this origin, no inline script, no framing; `connect-src 'self'` covers the
 * API and the stream. Inline styles stay allowed: uPlot positions its cursor and legend with them.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

async function etagOf(body: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
  const hex = Array.from(
    new Uint8Array(digest).slice(0, 12),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  return `"${hex}"`;
}

/** The dashboard's routes as a Hono app; mount it at the root (`registerDashboard`). */
export function dashboardRoutes(): Hono {
  const app = new Hono();
  const etags = new Map<string, Promise<string>>();
  const etag = (name: string, body: string) => {
    let e = etags.get(name);
    if (!e) etags.set(name, e = etagOf(body));
    return e;
  };

  app.get("/", async (c) => {
    const tag = await etag("index.html", page);
    const headers = {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      etag: tag,
      "content-security-policy": CSP,
      "x-content-type-options": "nosniff",
      // `?key=` may be in the address; it must not travel in a Referer header.
      "referrer-policy": "no-referrer",
    };
    if (c.req.header("if-none-match") === tag) return c.body(null, 304, headers);
    return c.body(page, 200, headers);
  });

  app.get("/assets/:name", async (c) => {
    const name = c.req.param("name");
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return c.notFound();
    const tag = await etag(name, asset.body);
    const headers = {
      "content-type": asset.type,
      "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      etag: tag,
      "x-content-type-options": "nosniff",
    };
    if (c.req.header("if-none-match") === tag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, headers);
  });

  return app;
}

/** Mounts the dashboard on `app` at `/` and `/assets/*`. */
export function registerDashboard(app: { route(path: string, app: Hono): unknown }): void {
  app.route("/", dashboardRoutes());
}
