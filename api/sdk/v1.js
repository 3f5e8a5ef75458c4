/**
 * The ScaleStream browser tracker: a dependency-free ES module, served by the API at `/sdk/v1.js`.
 *
 *   import { createTracker } from "https://analytics.example/sdk/v1.js";
 *   const tracker = createTracker({ key: "spk_…" }); // a publishable key
 *   tracker.track("add_to_cart", { productId: "sku-1", category: "shoes", price: 59.9, quantity: 1 });
 *
 * What it does, and why:
 * - A `page_view` when created and on every history or hash navigation (single-page shops).
 * - An anonymous id (kept in localStorage) until `identify(userId)`; a session id that starts over
 *   after 30 minutes without an event, the rule the pipeline's session stage uses.
 * - Event ids made here (UUIDv7: time-ordered, random otherwise), so a retried request is
 *   harmless: the pipeline stores an event id once.
 * - Events queue in localStorage (bounded; the oldest go first) and leave in batches: when a batch
 *   is full, every `flushIntervalMs`, and with `navigator.sendBeacon` when the page is hidden.
 *   A failed request is retried with exponential backoff and jitter (and `Retry-After`); while the
 *   browser is offline nothing is sent and the queue survives reloads.
 * - Requests go only to the ScaleStream API the module was loaded from (or `endpoint`); nothing
 *   else, no cookies. The publishable key travels in the `key` query parameter because
 *   sendBeacon cannot set headers.
 *
 * Contract fields given to `track` (`productId`, `category`, `price`, `quantity`, `orderId`,
 * `searchQuery`, `rating`, `stock`, `pageUrl`, `referrer`) become fields of the event; any other
 * property goes into the event's `properties`.
 */

/** The SDK's major version: the path it is served under (`/sdk/v1.js`). */
export const VERSION = 1;

/** The version of the event contract the tracker writes (the pipeline stores it with each event). */
export const SCHEMA_VERSION = 1;

/** Inactivity after which the next event starts a new session. */
export const SESSION_TIMEOUT_MS = 30 * 60_000;

/** Properties of `track` that are fields of the event contract rather than free properties. */
export const EVENT_FIELDS = Object.freeze([
  "productId",
  "category",
  "price",
  "quantity",
  "orderId",
  "searchQuery",
  "rating",
  "stock",
  "pageUrl",
  "referrer",
]);

/** The API's limits: at most 500 events and 1 MiB per request. */
const MAX_BATCH_EVENTS = 500;
/** Browsers cap the bytes of beacons in flight at 64 KiB; stay under it per beacon. */
const MAX_BEACON_BYTES = 60_000;
const MAX_URL_LENGTH = 2048;

/**
 * @typedef {object} TrackerOptions
 * @property {string} [key] A publishable key (`spk_…`); omit it only for an API running without keys.
 * @property {string} [endpoint] The API's origin; default: where this module was loaded from.
 * @property {boolean} [autoPageView] A `page_view` on creation and on navigation (default true).
 * @property {number} [batchSize] Events per request (default 20, at most 500).
 * @property {number} [flushIntervalMs] Longest wait before queued events are sent (default 1000).
 * @property {number} [maxQueue] Events kept while they cannot be sent (default 1000).
 * @property {number} [minRetryMs] First retry delay (default 1000); later ones double, up to maxRetryMs.
 * @property {number} [maxRetryMs] Longest retry delay (default 60000).
 * @property {{ country: string, region: string }} [location] Where the visitor is, when the site knows.
 * @property {"mobile" | "desktop" | "tablet"} [deviceType] Overrides detection from the user agent.
 * @property {string} [storagePrefix] Prefix of the localStorage keys (default "scalestream:").
 * @property {(event: Record<string, unknown>) => void} [onEvent] Sees each event as it is queued.
 * @property {(error: Error) => void} [onError] Refused events and failed requests (default: console.warn).
 * @property {Storage} [storage] Replaces localStorage (tests).
 * @property {typeof fetch} [fetch] Replaces fetch (tests).
 * @property {() => number} [now] Replaces Date.now (tests).
 */

/**
 * @typedef {object} Tracker
 * @property {(eventType: string, properties?: Record<string, unknown>) => string} track
 *   Queues one event; returns its event id.
 * @property {(url?: string) => string} page Queues a `page_view` of `url` (default: the current address).
 * @property {(userId: string) => void} identify Names the user from now on (kept in localStorage).
 * @property {() => void} reset Forgets the user (logout): new anonymous id, new session.
 * @property {() => Promise<void>} flush Sends what is queued now; resolves when the requests end.
 * @property {() => void} close Removes listeners and timers (queued events stay in storage).
 * @property {() => { anonymousId: string, userId: string, sessionId: string, queued: number }} state
 *   Ids in use and the queue length, without touching the session.
 */

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. `crypto.getRandomValues`
 * works in every context, secure or not, unlike `crypto.randomUUID`.
 * @param {number} ms
 */
export function uuidv7(ms = Date.now()) {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let t = Math.max(0, Math.floor(ms));
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The delay before retry number `attempt` (1, 2, …): doubling from `minMs`, capped at `maxMs`,
 * with "equal jitter" (between half and all of it) so many pages recovering together spread out.
 * @param {number} attempt
 * @param {{ minMs?: number, maxMs?: number, random?: () => number }} [options]
 */
export function backoffMs(attempt, options = {}) {
  const minMs = options.minMs ?? 1000;
  const maxMs = options.maxMs ?? 60_000;
  const random = options.random ?? Math.random;
  const full = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(full / 2 + (random() * full) / 2);
}

/**
 * The device type from the user agent (client hints first, where the browser has them).
 * @param {{ userAgent?: string, userAgentData?: { mobile?: boolean } } | undefined} nav
 * @returns {"mobile" | "desktop" | "tablet"}
 */
export function detectDeviceType(nav) {
  const ua = nav?.userAgent ?? "";
  if (/iPad|Tablet|PlayBook|Silk|Android(?!.*Mobile)/i.test(ua)) return "tablet";
  if (nav?.userAgentData?.mobile === true || /Mobi|iPhone|iPod|Android/i.test(ua)) return "mobile";
  return "desktop";
}

/**
 * Storage that never throws: localStorage can be missing, full or forbidden (private modes, a
 * sandboxed frame); then the tracker keeps its state in memory for this page.
 * @param {Storage | undefined} storage
 */
function safeStorage(storage) {
  /** @type {Map<string, string>} */
  const memory = new Map();
  return {
    /** @param {string} k */
    get(k) {
      try {
        const v = storage?.getItem(k);
        if (v !== null && v !== undefined) return v;
      } catch { /* fall back to memory */ }
      return memory.get(k) ?? null;
    },
    /** @param {string} k @param {string} v */
    set(k, v) {
      memory.set(k, v);
      try {
        storage?.setItem(k, v);
      } catch { /* quota or access denied: memory only */ }
    },
    /** @param {string} k */
    remove(k) {
      memory.delete(k);
      try {
        storage?.removeItem(k);
      } catch { /* ignore */ }
    },
  };
}

/** @param {string | undefined} s @param {number} max */
const cut = (s, max) => (s === undefined || s.length <= max ? s : s.slice(0, max));

/**
 * Creates a tracker; see the module comment.
 * @param {TrackerOptions} [options]
 * @returns {Tracker}
 */
export function createTracker(options = {}) {
  const g = /** @type {any} */ (globalThis);
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? g.fetch?.bind(g);
  const store = safeStorage(options.storage ?? g.localStorage);
  const prefix = options.storagePrefix ?? "scalestream:";
  const batchSize = Math.min(Math.max(1, options.batchSize ?? 20), MAX_BATCH_EVENTS);
  const flushIntervalMs = options.flushIntervalMs ?? 1000;
  const maxQueue = Math.max(1, options.maxQueue ?? 1000);
  const retry = { minMs: options.minRetryMs ?? 1000, maxMs: options.maxRetryMs ?? 60_000 };
  const onError = options.onError ??
    ((/** @type {Error} */ err) => console.warn("[scalestream]", err.message));
  const base = options.endpoint ?? new URL(import.meta.url).origin;
  const url = new URL("/v1/events", base);
  if (options.key) url.searchParams.set("key", options.key);
  const eventsUrl = url.toString();
  const deviceType = options.deviceType ?? detectDeviceType(g.navigator);

  const K = {
    anon: prefix + "anonymous_id",
    user: prefix + "user_id",
    session: prefix + "session",
    queue: prefix + "queue",
  };

  let anonymousId = store.get(K.anon) ?? "";
  if (!anonymousId) store.set(K.anon, anonymousId = uuidv7(now()));
  let userId = store.get(K.user) ?? "";

  /** The session id, renewed after SESSION_TIMEOUT_MS without an event; touching counts. */
  function session() {
    const t = now();
    let s = null;
    try {
      s = JSON.parse(store.get(K.session) ?? "null");
    } catch { /* a corrupt value starts a new session */ }
    if (!s || typeof s.id !== "string" || !(t - Number(s.at) < SESSION_TIMEOUT_MS)) {
      s = { id: uuidv7(t), at: t };
    }
    s.at = t;
    store.set(K.session, JSON.stringify(s));
    return s.id;
  }

  /** @returns {Record<string, unknown>[]} */
  function loadQueue() {
    try {
      const q = JSON.parse(store.get(K.queue) ?? "[]");
      return Array.isArray(q) ? q : [];
    } catch {
      return [];
    }
  }
  /** @param {Record<string, unknown>[]} q */
  function saveQueue(q) {
    if (q.length === 0) store.remove(K.queue);
    else store.set(K.queue, JSON.stringify(q));
  }
  /** Removes the events with these ids; other tabs may have added to the queue meanwhile. */
  function dequeue(/** @type {Set<unknown>} */ ids) {
    saveQueue(loadQueue().filter((e) => !ids.has(e.eventId)));
  }

  /** Ids in a request of this tab right now, so a timer flush does not send them twice. */
  const sending = new Set();
  let attempt = 0;
  let retryAt = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {Promise<void> | undefined} */
  let inflight;
  let closed = false;

  function schedule(/** @type {number} */ ms) {
    if (closed || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, ms);
  }

  /** @param {string} eventType @param {Record<string, unknown>} [props] */
  function track(eventType, props = {}) {
    const t = now();
    /** @type {Record<string, unknown>} */
    const event = {
      eventId: uuidv7(t),
      schemaVersion: SCHEMA_VERSION,
      eventType,
      userId: userId || anonymousId,
      sessionId: session(),
      timestamp: new Date(t).toISOString(),
      deviceType,
    };
    if (options.location) event.location = options.location;
    const loc = g.location;
    if (loc?.href) event.pageUrl = cut(String(loc.href), MAX_URL_LENGTH);
    if (g.document?.referrer) event.referrer = cut(String(g.document.referrer), MAX_URL_LENGTH);
    if (g.navigator?.userAgent) event.userAgent = cut(String(g.navigator.userAgent), 512);
    /** @type {Record<string, unknown>} */
    const properties = { anonymousId };
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined) continue;
      if (EVENT_FIELDS.includes(k)) event[k] = v;
      else properties[k] = v;
    }
    event.properties = properties;
    options.onEvent?.(event);
    const q = loadQueue();
    q.push(event);
    if (q.length > maxQueue) {
      const dropped = q.splice(0, q.length - maxQueue);
      onError(new Error(`Offline queue full: dropped the ${dropped.length} oldest events`));
    }
    saveQueue(q);
    if (q.length - sending.size >= batchSize && now() >= retryAt) void flush();
    else schedule(Math.max(flushIntervalMs, retryAt - now()));
    return /** @type {string} */ (event.eventId);
  }

  /** One request; resolves to the delay before the next attempt, or 0 when it is done. */
  async function post(/** @type {Record<string, unknown>[]} */ batch) {
    const body = JSON.stringify(batch);
    /** @type {Response} */
    let res;
    try {
      res = await doFetch(eventsUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        credentials: "omit",
        keepalive: body.length < MAX_BEACON_BYTES,
      });
    } catch (err) {
      onError(new Error(`Sending ${batch.length} events failed: ${String(err)}`));
      return backoffMs(++attempt, retry);
    }
    if (res.status === 429 || res.status >= 500) {
      await res.body?.cancel();
      const after = Number(res.headers.get("retry-after")) * 1000;
      onError(new Error(`The API answered ${res.status}; retrying`));
      return Math.max(backoffMs(++attempt, retry), Number.isFinite(after) ? after : 0);
    }
    attempt = 0;
    const ids = new Set(batch.map((e) => e.eventId));
    if (!res.ok) {
      // 400, 401, 403, 413, 415: the same request cannot succeed later; keeping it would block
      // the queue behind it.
      const text = await res.text().catch(() => "");
      onError(
        new Error(`The API refused ${batch.length} events: ${res.status} ${text.slice(0, 300)}`),
      );
    } else {
      const answer = await res.json().catch(() => ({}));
      for (const e of answer.errors ?? []) {
        onError(new Error(`Event ${String(batch[e.index]?.eventType)} refused: ${e.reason}`));
      }
    }
    dequeue(ids);
    return 0;
  }

  /** Sends the queue in batches until it is empty, a request fails, or the browser is offline. */
  function flush() {
    clearTimeout(timer);
    timer = undefined;
    if (inflight) return inflight;
    inflight = (async () => {
      try {
        for (;;) {
          if (g.navigator?.onLine === false) return; // the "online" listener resumes
          const batch = loadQueue().filter((e) => !sending.has(e.eventId)).slice(0, batchSize);
          if (batch.length === 0) return;
          for (const e of batch) sending.add(e.eventId);
          let wait;
          try {
            wait = await post(batch);
          } finally {
            for (const e of batch) sending.delete(e.eventId);
          }
          if (wait > 0) {
            retryAt = now() + wait;
            schedule(wait);
            return;
          }
        }
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  /**
   * The page is being hidden (tab switch, navigation, close): hand everything queued to the
   * browser with sendBeacon, which outlives the page. A Blob typed application/json, because the
   * API takes nothing else. What the browser refuses stays queued for the next page.
   */
  function beacon() {
    const nav = g.navigator;
    if (typeof nav?.sendBeacon !== "function") return void flush();
    const q = loadQueue().filter((e) => !sending.has(e.eventId));
    const sent = new Set();
    let chunk = [];
    let bytes = 2;
    const send = () => {
      if (chunk.length === 0) return true;
      const blob = new Blob([JSON.stringify(chunk)], { type: "application/json" });
      let ok = false;
      try {
        ok = nav.sendBeacon(eventsUrl, blob);
      } catch { /* some browsers refuse non-form types cross-origin; fetch below */ }
      if (ok) { for (const e of chunk) sent.add(e.eventId); }
      chunk = [];
      bytes = 2;
      return ok;
    };
    for (const e of q) {
      const size = JSON.stringify(e).length + 1;
      if (chunk.length >= batchSize || (chunk.length > 0 && bytes + size > MAX_BEACON_BYTES)) {
        if (!send()) break;
      }
      chunk.push(e);
      bytes += size;
    }
    send();
    if (sent.size > 0) dequeue(sent);
    if (sent.size < q.length) void flush(); // keepalive fetch for what the beacon did not take
  }

  const onHide = () => {
    if (g.document?.visibilityState === "hidden") beacon();
  };
  const onOnline = () => void flush();
  let lastUrl = g.location?.href;
  const onNavigate = () => {
    if (g.location?.href === lastUrl) return;
    lastUrl = g.location?.href;
    page();
  };
  const autoPageView = options.autoPageView ?? true;
  g.document?.addEventListener?.("visibilitychange", onHide);
  g.addEventListener?.("pagehide", beacon);
  g.addEventListener?.("online", onOnline);
  if (autoPageView) {
    g.addEventListener?.("popstate", onNavigate);
    g.addEventListener?.("hashchange", onNavigate);
  }

  /** @param {string} [pageUrl] */
  function page(pageUrl) {
    return track("page_view", pageUrl ? { pageUrl } : {});
  }

  if (autoPageView) page();
  else if (loadQueue().length > 0) schedule(0); // events left by an earlier page or offline time

  return {
    track,
    page,
    identify(id) {
      if (typeof id !== "string" || id === "") throw new TypeError("identify() needs a user id");
      userId = id;
      store.set(K.user, id);
    },
    reset() {
      userId = "";
      store.remove(K.user);
      store.remove(K.session);
      store.set(K.anon, anonymousId = uuidv7(now()));
    },
    flush,
    close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      g.document?.removeEventListener?.("visibilitychange", onHide);
      g.removeEventListener?.("pagehide", beacon);
      g.removeEventListener?.("online", onOnline);
      g.removeEventListener?.("popstate", onNavigate);
      g.removeEventListener?.("hashchange", onNavigate);
    },
    state() {
      let sessionId = "";
      try {
        sessionId = JSON.parse(store.get(K.session) ?? "null")?.id ?? "";
      } catch { /* none yet */ }
      return { anonymousId, userId: userId || anonymousId, sessionId, queued: loadQueue().length };
    },
  };
}
