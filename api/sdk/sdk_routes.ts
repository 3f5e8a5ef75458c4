/**
 * `GET /sdk/v1.js`: the browser tracker. The file is a text module, part of the module graph like
 * the dashboard's, so `deno compile` and Deno Deploy carry it and nothing is read from disk at run
 * time. Its path in the repository mirrors its URL, so the demo shop's relative import of it works
 * in both places.
 */
import { Hono } from "hono";
import trackerJs from "./v1.js" with { type: "text" };

/** The SDK route as a Hono app; mount it at the root (`registerSdk`). */
export function sdkRoutes(): Hono {
  const app = new Hono();
  app.get("/sdk/v1.js", (c) =>
    c.body(trackerJs, 200, {
      "content-type": "text/javascript; charset=utf-8",
      // v1 changes only compatibly, so a short cache lets fixes reach pages within minutes.
      "cache-control": "public, max-age=300",
      // Shops import it as a module from another origin: module scripts are fetched with CORS.
      "access-control-allow-origin": "*",
      "cross-origin-resource-policy": "cross-origin",
      "x-content-type-options": "nosniff",
    }));
  return app;
}

/** Mounts the browser SDK at `/sdk/v1.js`. */
export function registerSdk(app: { route(path: string, app: Hono): unknown }): void {
  app.route("/", sdkRoutes());
}
