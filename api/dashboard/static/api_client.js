/**
 * Every request the dashboard makes, in one place: the endpoints, their query parameters and the
 * fields read from each answer, turned into the small shapes the page draws. When the API changes
 * shape, this file alone changes.
 *
 * Endpoints: GET /v1/metrics/{traffic,revenue,funnel,active-users,geo}, /v1/top/{products,
 * categories}, /v1/fraud/alerts, /v1/inventory/alerts, /v1/anomalies, and the server-sent events
 * of /v1/stream (`event: metrics`, data `{ time, status, totals }`; `event: view`, the default
 * filters' answers to all of these, computed once per interval for every viewer).
 */

const KEY_STORAGE = "scalestream.apiKey";

/** Bucket widths of the `window` parameter, in seconds. */
export const WINDOW_S = { "1m": 60, "5m": 300, "1h": 3600 };

/** A non-2xx answer, with the problem document's detail when there is one. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} detail
   * @param {string} path
   */
  constructor(status, detail, path) {
    super(`${path}: ${status} ${detail}`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.path = path;
  }
}

/**
 * The read key: `?key=` is taken once into sessionStorage and removed from the address bar (so it
 * does not end up in bookmarks, screenshots or Referer headers); later loads read the storage.
 * @returns {string | null}
 */
export function takeApiKey() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("key");
  if (fromUrl) {
    sessionStorage.setItem(KEY_STORAGE, fromUrl);
    url.searchParams.delete("key");
    history.replaceState(null, "", url);
  }
  return sessionStorage.getItem(KEY_STORAGE);
}

/** @param {string | null} key */
export function storeApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

const seconds = (/** @type {string} */ iso) => Date.parse(iso) / 1000;

/**
 * @typedef {{ window: "1m" | "5m" | "1h", category: string, device: string }} Filters
 * @typedef {{ fromS: number, toS: number, windowS: number }} Range
 */

/** @param {{ from: string, to: string, window?: string }} r @returns {Range} */
const rangeOf = (r) => ({
  fromS: seconds(r.from),
  toS: seconds(r.to),
  windowS: WINDOW_S[/** @type {"1m"} */ (r.window)] ?? 60,
});

/**
 * Each answer turned into the shape the page draws: the same for an answer fetched by the client
 * and for one pushed in the stream's `view` frame.
 */
const shape = {
  /** @param {any} b */
  traffic: (b) => ({
    range: rangeOf(b.range),
    buckets: b.buckets.map((/** @type {any} */ x) => ({
      t: seconds(x.bucket),
      events: Number(x.events),
      byType: /** @type {Record<string, number>} */ (x.byType),
    })),
  }),
  /** @param {any} b */
  revenue: (b) => ({
    range: rangeOf(b.range),
    buckets: b.buckets.map((/** @type {any} */ x) => ({
      t: seconds(x.bucket),
      revenue: Number(x.netRevenue),
      orders: Number(x.orders),
      cancelledOrders: Number(x.cancelledOrders),
      units: Number(x.units),
    })),
  }),
  /** @param {any} b */
  funnel: (b) => b.total,
  /** @param {any} b */
  activeUsers: (b) => ({
    range: rangeOf(b.range),
    distinct: Number(b.distinctUsers),
    buckets: b.buckets.map((/** @type {any} */ x) => ({
      t: seconds(x.bucket),
      users: Number(x.users),
    })),
  }),
  /** @param {any} b */
  geo: (b) => {
    /** @type {Map<string, { country: string, users: number, events: number, revenue: number }>} */
    const by = new Map();
    for (const r of b.regions) {
      const c = by.get(r.country) ?? { country: r.country, users: 0, events: 0, revenue: 0 };
      c.users += Number(r.users);
      c.events += Number(r.events);
      c.revenue += Number(r.revenue);
      by.set(r.country, c);
    }
    return [...by.values()].sort((a, b) => b.events - a.events);
  },
  /** @param {any} b @returns {any[]} */
  topProducts: (b) => b.products,
  /** @param {any} b @returns {any[]} */
  topCategories: (b) => b.categories,
  /** @param {any} b @returns {any[]} */
  fraudAlerts: (b) => b.alerts,
  /** @param {any} b @returns {any[]} */
  inventoryAlerts: (b) => b.products,
  /** @param {any} b @returns {any[]} */
  anomalies: (b) => b.anomalies,
};

/**
 * The dashboard's default view as the stream pushes it (`event: view`, computed once per interval
 * for every viewer): the same reads as the client's methods, already answered. A revenue line of
 * a category the server did not include resolves to `undefined` (the caller then fetches it).
 * @param {any} v
 */
export function viewSource(v) {
  const of = (/** @type {keyof typeof shape} */ k) => () => Promise.resolve(shape[k](v[k]));
  return {
    timeMs: Date.parse(v.time),
    traffic: of("traffic"),
    revenue: of("revenue"),
    funnel: of("funnel"),
    activeUsers: of("activeUsers"),
    geo: of("geo"),
    topProducts: of("topProducts"),
    topCategories: of("topCategories"),
    fraudAlerts: of("fraudAlerts"),
    inventoryAlerts: of("inventoryAlerts"),
    anomalies: of("anomalies"),
    /** @param {string} category */
    revenueOf: (category) =>
      v.revenueByCategory?.[category] ? shape.revenue(v.revenueByCategory[category]) : undefined,
  };
}

/**
 * The API client. `key` is sent as `x-api-key` on every request, the stream included (it is read
 * with fetch, not EventSource, precisely so it can carry the header).
 * @param {{ key?: string | null }} options
 */
export function createApiClient(options = {}) {
  let key = options.key ?? null;

  /**
   * @param {string} path
   * @param {Record<string, string | number | undefined | null>} params
   * @param {AbortSignal} [signal]
   */
  async function get(path, params = {}, signal) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
    /** @type {Record<string, string>} */
    const headers = { accept: "application/json" };
    if (key) headers["x-api-key"] = key;
    const res = await fetch(url, { headers, signal });
    if (!res.ok) {
      let detail = res.statusText;
      try {
        detail = (await res.json()).detail ?? detail;
      } catch { /* not a problem document */ }
      throw new ApiError(res.status, detail, path);
    }
    return await res.json();
  }

  /** The explicit range of the top lists: the same 60 buckets the series cover. */
  const lastBuckets = (/** @type {Filters} */ f) => {
    const to = Date.now();
    return {
      from: new Date(to - 60 * WINDOW_S[f.window] * 1000).toISOString(),
      to: new Date(to).toISOString(),
    };
  };

  return {
    /** @param {string | null} k */
    setKey(k) {
      key = k;
    },

    /**
     * Events per bucket and by type. `GET /v1/metrics/traffic` → `{ range, buckets: [{ bucket,
     * events, byType }] }`.
     * @param {Filters} f @param {AbortSignal} [signal]
     */
    async traffic(f, signal) {
      const b = await get("/v1/metrics/traffic", {
        window: f.window,
        category: f.category,
        device: f.device,
      }, signal);
      return shape.traffic(b);
    },

    /**
     * Net revenue per bucket for one category (or all). `GET /v1/metrics/revenue` → `{ range,
     * buckets: [{ bucket, orders, cancelledOrders, units, netRevenue }] }`.
     * @param {Filters} f @param {AbortSignal} [signal]
     */
    async revenue(f, signal) {
      const b = await get("/v1/metrics/revenue", {
        window: f.window,
        category: f.category,
        device: f.device,
      }, signal);
      return shape.revenue(b);
    },

    /**
     * `GET /v1/metrics/funnel` → `{ total: { views, carts, purchases, viewToCart, cartToPurchase,
     * viewToPurchase } }`.
     * @param {Filters} f @param {AbortSignal} [signal]
     */
    async funnel(f, signal) {
      const b = await get("/v1/metrics/funnel", {
        window: f.window,
        category: f.category,
        device: f.device,
      }, signal);
      return shape.funnel(b);
    },

    /**
     * `GET /v1/metrics/active-users` → `{ distinctUsers, buckets: [{ bucket, users }] }`. Users
     * have no category, so only the device filter is sent.
     * @param {Filters} f @param {AbortSignal} [signal]
     */
    async activeUsers(f, signal) {
      const b = await get(
        "/v1/metrics/active-users",
        { window: f.window, device: f.device },
        signal,
      );
      return shape.activeUsers(b);
    },

    /**
     * Per country (regions summed). `GET /v1/metrics/geo` → `{ regions: [{ country, region, users,
     * events, purchases, revenue }] }`. Users are summed over regions, so a user seen in two
     * regions of a country counts twice; the API has no per-country distinct count.
     * @param {Filters} f @param {AbortSignal} [signal]
     */
    async geo(f, signal) {
      return shape.geo(await get("/v1/metrics/geo", { window: f.window }, signal));
    },

    /**
     * `GET /v1/top/products?by=revenue&category&limit&from&to` → `{ products: [{ productId,
     * category, views, carts, purchases, units, revenue }] }`.
     * @param {Filters} f @param {number} limit @param {AbortSignal} [signal]
     */
    async topProducts(f, limit, signal) {
      const b = await get("/v1/top/products", {
        window: f.window,
        ...lastBuckets(f),
        by: "revenue",
        category: f.category,
        limit,
      }, signal);
      return shape.topProducts(b);
    },

    /**
     * `GET /v1/top/categories?by=revenue&limit&from&to` → `{ categories: [{ category, views,
     * purchases, revenue }] }`.
     * @param {Filters} f @param {number} limit @param {AbortSignal} [signal]
     */
    async topCategories(f, limit, signal) {
      const b = await get("/v1/top/categories", {
        window: f.window,
        ...lastBuckets(f),
        by: "revenue",
        limit,
      }, signal);
      return shape.topCategories(b);
    },

    /**
     * `GET /v1/fraud/alerts?limit` → `{ alerts: [{ eventId, orderId, userId, eventTime, amount,
     * country, score, reasons }] }`.
     * @param {number} limit @param {AbortSignal} [signal]
     */
    async fraudAlerts(limit, signal) {
      return shape.fraudAlerts(await get("/v1/fraud/alerts", { limit }, signal));
    },

    /**
     * `GET /v1/inventory/alerts?limit` → `{ products: [{ productId, category, stock,
     * unitsSold24h, daysOfCover, reorderQuantity }] }`.
     * @param {number} limit @param {AbortSignal} [signal]
     */
    async inventoryAlerts(limit, signal) {
      return shape.inventoryAlerts(await get("/v1/inventory/alerts", { limit }, signal));
    },

    /**
     * `GET /v1/anomalies?limit` → `{ anomalies: [{ kind, series, bucket, value, baseline, zScore,
     * reason }] }`.
     * @param {number} limit @param {AbortSignal} [signal]
     */
    async anomalies(limit, signal) {
      return shape.anomalies(await get("/v1/anomalies", { limit }, signal));
    },

    /**
     * Follows `GET /v1/stream` until `close()`: each `metrics` frame is normalised and passed to
     * `onSnapshot`; `onState` hears "connecting", "live", or an ApiError (401/403 stop retrying).
     * Reconnects with a growing delay (1 s → 10 s) when the stream ends or fails.
     * @param {(s: Snapshot) => void} onSnapshot
     * @param {(state: "connecting" | "live" | ApiError | Error) => void} onState
     * @param {(view: ReturnType<typeof viewSource>) => void} [onView] the default view, pushed
     */
    stream(onSnapshot, onState, onView) {
      const abort = new AbortController();
      let delayMs = 1000;
      const run = async () => {
        while (!abort.signal.aborted) {
          onState("connecting");
          try {
            /** @type {Record<string, string>} */
            const headers = { accept: "text/event-stream" };
            if (key) headers["x-api-key"] = key;
            const res = await fetch("/v1/stream", { headers, signal: abort.signal });
            if (!res.ok || !res.body) {
              let detail = res.statusText;
              try {
                detail = (await res.json()).detail ?? detail;
              } catch { /* not a problem document */ }
              throw new ApiError(res.status, detail, "/v1/stream");
            }
            delayMs = 1000;
            await readEvents(res.body, (event, data) => {
              if (event === "view") return onView?.(viewSource(JSON.parse(data)));
              if (event !== "metrics") return;
              onState("live");
              onSnapshot(snapshotOf(JSON.parse(data)));
            });
          } catch (err) {
            if (abort.signal.aborted) return;
            onState(/** @type {Error} */ (err));
            if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
          }
          await new Promise((r) => setTimeout(r, delayMs));
          delayMs = Math.min(delayMs * 2, 10_000);
        }
      };
      void run();
      return { close: () => abort.abort() };
    },
  };
}

/**
 * @typedef {{
 *   timeMs: number, stored: number, byType: Record<string, number>, revenue: number,
 *   rejected: number, duplicates: number, tooOld: number, tooNew: number,
 *   queueVisible: number | null, queueInFlight: number | null, queueDelayed: number | null,
 *   dlqVisible: number | null, oldestAgeS: number | null, oldestAgeSource: string,
 *   lagMs: number | null, consumerEventsPerS: number, storedLastMinute: number,
 *   consumersLive: number, consumersStale: number, inflightEvents: number,
 *   problems: string[]
 * }} Snapshot
 */

/**
 * One `/v1/stream` frame: `{ time, status: PipelineStatus, totals: PipelineTotals }`.
 * @param {any} d
 * @returns {Snapshot}
 */
function snapshotOf(d) {
  const s = d.status ?? {};
  const t = d.totals ?? {};
  const consumers = Array.isArray(s.consumers) ? s.consumers : [];
  return {
    timeMs: Date.parse(d.time ?? s.time) || Date.now(),
    stored: Number(t.stored ?? 0),
    byType: t.byType ?? {},
    revenue: Number(t.revenue ?? 0),
    rejected: Number(t.rejected ?? 0),
    duplicates: Number(t.duplicates ?? 0),
    tooOld: Number(t.tooOld ?? 0),
    tooNew: Number(t.tooNew ?? 0),
    queueVisible: s.queue?.visible ?? null,
    queueInFlight: s.queue?.inFlight ?? null,
    queueDelayed: s.queue?.delayed ?? null,
    dlqVisible: s.dlq?.visible ?? null,
    oldestAgeS: s.oldestMessageAgeS ?? null,
    oldestAgeSource: s.oldestMessageAgeSource ?? "unavailable",
    lagMs: s.endToEndLagMs ?? null,
    consumerEventsPerS: Number(s.throughput?.eventsPerS ?? 0),
    storedLastMinute: Number(s.throughput?.storedLastMinute ?? 0),
    consumersLive: consumers.filter((/** @type {any} */ c) => !c.stale).length,
    consumersStale: consumers.filter((/** @type {any} */ c) => c.stale).length,
    inflightEvents: Number(s.inFlight?.consumerEvents ?? 0),
    problems: Array.isArray(s.problems) ? s.problems : [],
  };
}

/**
 * Reads a text/event-stream body and calls `onEvent(event, data)` per complete event.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(event: string, data: string) => void} onEvent
 */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
      if (data.length > 0) onEvent(event, data.join("\n"));
    }
  }
}
