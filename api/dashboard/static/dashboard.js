/**
 * The live dashboard: pipeline health and totals from the /v1/stream server-sent events (about
 * once a second); the analytics panels of the default filters from the same stream's `view`
 * frames (computed once per interval on the server for every viewer), and re-read from the API
 * every few seconds only under other filters, and whenever a filter changes. Filters live in the address bar (`?window=5m&category=books&device=mobile`), so a wall
 * screen can be bookmarked. All data access is in api_client.js.
 */
import { ApiError, createApiClient, storeApiKey, takeApiKey, WINDOW_S } from "./api_client.js";
import { compact, PALETTE, shortId, timeChart } from "./charts.js";

const REFRESH_MS = 5000;
const LIVE_POINTS = 300;
const TOP_CATEGORY_LINES = 5;
/** The event contract's types, in its order: the server writes them into the page from shared/. */
const EVENT_TYPES = (
  document.querySelector('meta[name="event-types"]')?.getAttribute("content") ?? ""
).split(" ").filter(Boolean);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * A DOM element; children are nodes or text (never parsed as HTML).
 * @param {string} tag
 * @param {Record<string, string | boolean | ((e: Event) => void)>} [attrs]
 * @param {...(Node | string | number | null)} children
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null) el.append(typeof c === "number" ? String(c) : c);
  return el;
}

/** Cents below $1,000, whole dollars to $10,000, then compact ($21.7k). */
const money = (/** @type {number} */ v) => {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e4) return "$" + compact(v);
  const digits = a >= 1e3 ? 0 : 2;
  return "$" + v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
};
const shortMoney = (/** @type {number} */ v) => "$" + compact(v);
const pct = (/** @type {number | null} */ v) =>
  v === null || v === undefined ? "–" : `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`;
const clock = (/** @type {number} */ ms) =>
  new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
const duration = (/** @type {number | null} */ ms) => {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.round(ms / 60_000)} min`;
};
const label = (/** @type {string} */ s) => s.replaceAll("_", " ");
const colorOf = (/** @type {string[]} */ known, /** @type {string} */ name) => {
  const i = known.indexOf(name);
  return PALETTE[(i >= 0 ? i : known.length + name.length) % PALETTE.length];
};

// ---- state ---------------------------------------------------------------------------------

/** @type {{ window: "1m" | "5m" | "1h", category: string, device: string }} */
const filters = (() => {
  const p = new URL(location.href).searchParams;
  const w = p.get("window");
  return {
    window: w === "5m" || w === "1h" ? w : "1m",
    category: p.get("category") ?? "",
    device: p.get("device") ?? "",
  };
})();
const knownCategories = new Set(filters.category ? [filters.category] : []);
const client = createApiClient({ key: takeApiKey() });
/** @type {AbortController | null} */
let inflight = null;
/** @type {import("./api_client.js").Snapshot[]} */
const live = [];

const charts = {
  traffic: timeChart($("chart-traffic"), { yFormat: compact }),
  revenue: timeChart($("chart-revenue"), { yFormat: money, axisFormat: shortMoney }),
  users: timeChart($("chart-users"), { yFormat: compact }),
  live: timeChart($("chart-live"), { y2: { label: "queue" } }),
};

// ---- filters -------------------------------------------------------------------------------

function syncControls() {
  /** @type {HTMLSelectElement} */ ($("f-window")).value = filters.window;
  /** @type {HTMLSelectElement} */ ($("f-device")).value = filters.device;
  const select = /** @type {HTMLSelectElement} */ ($("f-category"));
  const options = [...knownCategories].sort();
  const current = [...select.options].slice(1).map((o) => o.value);
  if (current.join() !== options.join()) {
    select.replaceChildren(
      h("option", { value: "" }, "All"),
      ...options.map((c) => h("option", { value: c }, c)),
    );
  }
  select.value = filters.category;
  $("clear-category").hidden = filters.category === "";
  $("h-products").textContent = filters.category
    ? `Top products in ${filters.category}`
    : "Top products";
  const device = filters.device ? filters.device : "all devices";
  const cat = filters.category ? filters.category : "all categories";
  $("scope-traffic").textContent = `${cat} · ${device}`;
  $("scope-revenue").textContent = filters.category
    ? `${cat} · ${device}`
    : `top ${TOP_CATEGORY_LINES} categories · ${device}`;
  $("scope-funnel").textContent = `${cat} · ${device}`;
  $("scope-users").textContent = `${device} (users have no category)`;
}

/** @param {Partial<typeof filters>} change */
function setFilters(change) {
  Object.assign(filters, change);
  if (filters.category) knownCategories.add(filters.category);
  const url = new URL(location.href);
  for (const k of /** @type {const} */ (["window", "category", "device"])) {
    const v = filters[k];
    if (v && !(k === "window" && v === "1m")) url.searchParams.set(k, v);
    else url.searchParams.delete(k);
  }
  history.replaceState(null, "", url);
  syncControls();
  void refresh();
}

$("filters").addEventListener("change", (e) => {
  const t = /** @type {HTMLSelectElement} */ (e.target);
  setFilters({ [t.name]: t.value });
});
$("filters").addEventListener("submit", (e) => e.preventDefault());
$("clear-category").addEventListener("click", () => setFilters({ category: "" }));

// ---- API key -------------------------------------------------------------------------------

/** @param {string} [message] */
function askForKey(message) {
  $("key-banner").hidden = false;
  $("key-error").textContent = message ?? "";
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($("key-input"));
  const key = input.value.trim();
  if (!key) return;
  storeApiKey(key);
  client.setKey(key);
  input.value = "";
  $("key-banner").hidden = true;
  startStream();
  void refresh();
});

/** @param {unknown[]} errors */
function showErrors(errors) {
  const isAuth = (/** @type {unknown} */ e) =>
    e instanceof ApiError && (e.status === 401 || e.status === 403);
  const auth = /** @type {ApiError | undefined} */ (errors.find(isAuth));
  if (auth) askForKey(auth.status === 403 ? "That key lacks the read scope." : auth.detail);
  const other = errors.filter((e) => !isAuth(e) && !(e instanceof DOMException));
  const banner = $("error-banner");
  banner.hidden = other.length === 0;
  banner.textContent = other.length === 0
    ? ""
    : `Some panels could not be updated: ${
      other.map((e) => String(/** @type {Error} */ (e).message)).join("; ")
    }`;
}

// ---- analytics panels ----------------------------------------------------------------------

/**
 * The bucket starts of a range, and the seconds each covers: a bucket in progress covers only
 * the time elapsed in it, so its rate is not drawn as a drop. `span` is null for a bucket begun
 * too recently to give a meaningful rate (less than a quarter of it, at most 15 s, elapsed).
 * @param {{ fromS: number, toS: number, windowS: number }} range
 */
function bucketTimes(range) {
  const first = Math.floor(range.fromS / range.windowS) * range.windowS;
  const xs = [];
  for (let t = first; t < range.toS; t += range.windowS) xs.push(t);
  const minS = Math.min(15, range.windowS / 4);
  const span = (/** @type {number} */ t) => {
    const s = Math.min(range.windowS, range.toS - t);
    return s < minS ? null : s;
  };
  return { xs, span };
}

/** `v / s`, or null when there is no span. */
const per = (
  /** @type {number} */ v,
  /** @type {number | null} */ s,
) => (s === null ? null : v / s);

/** @param {Awaited<ReturnType<typeof client.traffic>>} traffic */
function drawTraffic(traffic) {
  const { xs, span } = bucketTimes(traffic.range);
  const at = new Map(traffic.buckets.map((b) => [b.t, b]));
  const totals = new Map();
  for (const b of traffic.buckets) {
    for (const [k, v] of Object.entries(b.byType)) totals.set(k, (totals.get(k) ?? 0) + v);
  }
  const types = [...totals.keys()].filter((k) => totals.get(k) > 0).sort((a, b) =>
    (EVENT_TYPES.indexOf(a) + 100) % 100 - (EVENT_TYPES.indexOf(b) + 100) % 100
  );
  charts.traffic.setData({
    x: xs,
    ys: types.map((type) => xs.map((t) => per(at.get(t)?.byType[type] ?? 0, span(t)))),
    series: types.map((type) => ({ label: label(type), color: colorOf(EVENT_TYPES, type) })),
  });
}

/**
 * @param {{ category: string, series: Awaited<ReturnType<typeof client.revenue>> }[]} lines
 * @param {{ fromS: number, toS: number, windowS: number }} range
 */
function drawRevenue(lines, range) {
  const { xs, span } = bucketTimes(range);
  const cats = [...knownCategories].sort();
  charts.revenue.setData({
    x: xs,
    ys: lines.map(({ series }) => {
      const at = new Map(series.buckets.map((b) => [b.t, b.revenue]));
      return xs.map((t) => {
        const s = span(t);
        return per(at.get(t) ?? 0, s === null ? null : s / 60);
      });
    }),
    series: lines.map(({ category }) => ({ label: category, color: colorOf(cats, category) })),
  });
}

/** @param {Awaited<ReturnType<typeof client.activeUsers>>} au */
function drawUsers(au) {
  const { xs } = bucketTimes(au.range);
  const at = new Map(au.buckets.map((b) => [b.t, b.users]));
  charts.users.setData({
    x: xs,
    ys: [xs.map((t) => at.get(t) ?? 0)],
    series: [{ label: "users per bucket", color: PALETTE[2], fill: true }],
  });
  $("kpi-active-users").textContent = compact(au.distinct);
}

/** @param {any} f */
function drawFunnel(f) {
  const steps = [
    { name: "Views", value: f.views, rate: null },
    { name: "Added to cart", value: f.carts, rate: f.viewToCart },
    { name: "Purchased", value: f.purchases, rate: f.cartToPurchase },
  ];
  const max = Math.max(1, f.views);
  $("funnel").replaceChildren(
    ...steps.map((s, i) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${Math.max(0.5, (100 * s.value) / max)}%`;
      bar.style.background = PALETTE[[0, 1, 2][i] ?? 0];
      return h(
        "li",
        { "data-step": s.name },
        h("span", { class: "step" }, s.name),
        h("span", { class: "track" }, bar),
        h("span", { class: "num" }, compact(s.value)),
        h("span", { class: "rate" }, s.rate === null ? "" : `${pct(s.rate)} of previous`),
      );
    }),
  );
  $("kpi-conversion").textContent = pct(f.viewToPurchase);
}

/** @param {Awaited<ReturnType<typeof client.revenue>>} r */
function drawOrders(r) {
  const sum = (/** @type {"orders" | "cancelledOrders" | "units" | "revenue"} */ k) =>
    r.buckets.reduce((s, b) => s + b[k], 0);
  const kept = sum("orders") - sum("cancelledOrders");
  const item = (/** @type {string} */ term, /** @type {string} */ value) =>
    h("div", {}, h("dt", {}, term), h("dd", {}, value));
  $("orders").replaceChildren(
    item("Orders", compact(sum("orders"))),
    item("Cancelled", compact(sum("cancelledOrders"))),
    item("Units sold", compact(sum("units"))),
    item("Avg order value", kept > 0 ? money(sum("revenue") / kept) : "–"),
  );
}

/**
 * Rows for a table body, or one "nothing" row.
 * @param {string} id @param {Node[]} rows @param {number} cols @param {string} empty
 */
function fillTable(id, rows, cols, empty) {
  const body = /** @type {HTMLTableElement} */ ($(id)).tBodies[0];
  body?.replaceChildren(
    ...(rows.length > 0
      ? rows
      : [h("tr", { class: "empty" }, h("td", { colspan: String(cols) }, empty))]),
  );
}

/** A number cell with a proportional bar behind it. */
const barCell = (/** @type {string} */ text, /** @type {number} */ share) => {
  const td = h("td", { class: "num bar-cell" }, text);
  td.style.setProperty("--share", `${Math.max(0, Math.min(1, share)) * 100}%`);
  return td;
};

/** @param {any[]} categories */
function drawCategories(categories) {
  const max = Math.max(1e-9, ...categories.map((c) => c.revenue));
  const cats = [...knownCategories].sort();
  fillTable(
    "top-categories",
    categories.map((c) => {
      const selected = c.category === filters.category;
      const button = h(
        "button",
        {
          type: "button",
          class: "link",
          "data-category": c.category,
          "aria-pressed": String(selected),
          title: `Show ${c.category} only`,
        },
        h("span", { class: "swatch" }),
        c.category,
        h("span", { "aria-hidden": "true" }, " ›"),
      );
      /** @type {HTMLElement} */ (button.firstChild).style.background = colorOf(cats, c.category);
      button.addEventListener(
        "click",
        () => setFilters({ category: selected ? "" : c.category }),
      );
      return h(
        "tr",
        { class: selected ? "selected" : "" },
        h("td", {}, button),
        h("td", { class: "num" }, compact(c.views)),
        h("td", { class: "num" }, compact(c.purchases)),
        barCell(money(c.revenue), c.revenue / max),
      );
    }),
    4,
    "No sales in range yet",
  );
}

/** @param {any[]} products */
function drawProducts(products) {
  const max = Math.max(1e-9, ...products.map((p) => p.revenue));
  fillTable(
    "top-products",
    products.map((p) =>
      h(
        "tr",
        { "data-category": p.category },
        h("td", { class: "mono" }, p.productId),
        h("td", { class: "hide-sm" }, p.category),
        h("td", { class: "num" }, compact(p.views)),
        h("td", { class: "num" }, compact(p.units)),
        barCell(money(p.revenue), p.revenue / max),
      )
    ),
    5,
    "No products in range yet",
  );
}

/** @param {Awaited<ReturnType<typeof client.geo>>} countries */
function drawGeo(countries) {
  const top = countries.slice(0, 8);
  const max = Math.max(1, ...top.map((c) => c.events));
  fillTable(
    "geo",
    top.map((c) =>
      h(
        "tr",
        {},
        h("td", {}, c.country),
        h("td", { class: "num" }, compact(c.users)),
        barCell(compact(c.events), c.events / max),
        h("td", { class: "num" }, money(c.revenue)),
      )
    ),
    4,
    "No traffic in range yet",
  );
}

/** @param {any[]} alerts */
function drawFraud(alerts) {
  fillTable(
    "fraud",
    alerts.map((a) =>
      h(
        "tr",
        {},
        h("td", { class: "mono" }, clock(Date.parse(a.eventTime))),
        h("td", { class: "mono hide-sm", title: a.orderId }, shortId(a.orderId)),
        h("td", { class: "num" }, money(a.amount)),
        h(
          "td",
          { class: "num" },
          h("span", { class: `score ${a.score >= 90 ? "bad" : "warn"}` }, a.score),
        ),
        h(
          "td",
          { class: "reasons" },
          ...(a.reasons ?? []).map((/** @type {string} */ r) =>
            h("span", { class: "tag", title: r }, label(r.split(":")[0] ?? r))
          ),
        ),
      )
    ),
    5,
    "No fraud alerts",
  );
}

/** @param {any[]} products */
function drawInventory(products) {
  fillTable(
    "inventory",
    products.map((p) =>
      h(
        "tr",
        {},
        h("td", { class: "mono", title: p.category ?? "" }, p.productId),
        // Stock sold beyond the last count shows as 0 (out of stock), never as a negative count.
        h(
          "td",
          { class: `num ${p.stock <= 0 ? "bad-text" : "warn-text"}` },
          compact(Math.max(0, p.stock)),
        ),
        h("td", { class: "num hide-narrow" }, compact(p.unitsSold24h)),
        h(
          "td",
          { class: "num" },
          p.daysOfCover === null ? "–" : `${Math.max(0, p.daysOfCover)} d`,
        ),
        h("td", { class: "num" }, compact(Math.max(0, p.reorderQuantity ?? 0))),
      )
    ),
    5,
    "No products below the threshold",
  );
}

/** @param {any[]} anomalies */
function drawAnomalies(anomalies) {
  $("anomalies").replaceChildren(
    ...(anomalies.length > 0
      ? anomalies.map((a) =>
        h(
          "li",
          {},
          h("span", { class: "mono" }, clock(Date.parse(a.bucket))),
          h("span", { class: "kind" }, label(a.kind)),
          h("span", { class: "reason" }, a.reason),
        )
      )
      : [h("li", { class: "empty" }, "No anomalies detected")]),
  );
}

/** The default view as last pushed by the stream, and when it arrived. */
/** @type {{ source: ReturnType<typeof import("./api_client.js").viewSource>, atMs: number } | null} */
let pushed = null;
const isDefaultView = (/** @type {typeof filters} */ f) =>
  f.window === "1m" && f.category === "" && f.device === "";
/** Whether the stream's view can stand in for polling (it comes every few seconds). */
const pushedFresh = () => pushed !== null && Date.now() - pushed.atMs < 2.5 * REFRESH_MS;

/**
 * Redraws the analytics panels: from the pushed view when the filters are the defaults and one
 * arrived recently (the server computed it once for every viewer), else by polling the API.
 */
function refresh() {
  return load(isDefaultView(filters) && pushedFresh() ? pushed?.source ?? null : null);
}

/** @param {ReturnType<typeof import("./api_client.js").viewSource>} source */
function onView(source) {
  pushed = { source, atMs: Date.now() };
  if (isDefaultView(filters)) void load(source);
}

/**
 * Reads every analytics panel for the current filters, from `view` or the API; a newer call
 * cancels an older one.
 * @param {ReturnType<typeof import("./api_client.js").viewSource> | null} view
 */
async function load(view) {
  inflight?.abort();
  const abort = new AbortController();
  inflight = abort;
  const f = { ...filters };
  const signal = abort.signal;
  /** @type {unknown[]} */
  const errors = [];
  /** @template T @param {Promise<T>} p @param {(v: T) => unknown} draw */
  const panel = (p, draw) =>
    p.then((v) => (signal.aborted ? undefined : draw(v))).catch((err) => {
      errors.push(err);
    });

  const src = view ?? client;
  const categories = src.topCategories(f, 20, signal);
  const revenueLines = categories.then(async (cats) => {
    for (const c of cats) knownCategories.add(c.category);
    const names = f.category
      ? [f.category]
      : cats.slice(0, TOP_CATEGORY_LINES).map((c) => c.category);
    return await Promise.all(
      names.map(async (category) => ({
        category,
        series: view?.revenueOf(category) ?? await client.revenue({ ...f, category }, signal),
      })),
    );
  });
  // Read only by the revenue panel, and not at all once this refresh is aborted: without a handler
  // of its own, an abort (a newer refresh, slow answers on a loaded machine) rejects it unhandled.
  revenueLines.catch(() => {});
  await Promise.all([
    panel(src.traffic(f, signal), drawTraffic),
    panel(src.revenue(f, signal), (r) => {
      drawOrders(r);
      $("kpi-revenue").textContent = money(r.buckets.reduce((s, b) => s + b.revenue, 0));
      $("kpi-revenue-unit").textContent = `net, last ${60 * WINDOW_S[f.window] / 3600} h`;
      return revenueLines.then((lines) => {
        if (!signal.aborted) drawRevenue(lines, r.range);
      });
    }),
    panel(src.funnel(f, signal), drawFunnel),
    panel(src.activeUsers(f, signal), drawUsers),
    panel(categories, (c) => {
      drawCategories(c);
      syncControls();
    }),
    panel(src.topProducts(f, 10, signal), drawProducts),
    panel(src.geo(f, signal), drawGeo),
    panel(src.fraudAlerts(8, signal), drawFraud),
    panel(src.inventoryAlerts(8, signal), drawInventory),
    panel(src.anomalies(6, signal), drawAnomalies),
  ]);
  if (signal.aborted) return;
  showErrors(errors);
  $("foot-refresh").textContent = `Analytics refreshed ${clock(Date.now())} · every ${
    REFRESH_MS / 1000
  } s`;
  document.body.dataset.refreshed = String(Date.now());
}

// ---- live stream ---------------------------------------------------------------------------

/**
 * Events stored per second over the last few frames (smoother than frame to frame).
 * @returns {number | null}
 */
function ingestRate() {
  const n = live.length;
  if (n < 2) return null;
  const a = live[Math.max(0, n - 6)];
  const b = live[n - 1];
  if (!a || !b || b.timeMs <= a.timeMs) return null;
  return Math.max(0, ((b.stored - a.stored) * 1000) / (b.timeMs - a.timeMs));
}

/** @param {string} term @param {string} value @param {"ok" | "warn" | "bad" | ""} [tone] */
const stat = (term, value, tone = "") => [h("dt", {}, term), h("dd", { class: tone }, value)];

/** @param {import("./api_client.js").Snapshot} s */
function onSnapshot(s) {
  live.push(s);
  if (live.length > LIVE_POINTS) live.shift();
  const rate = ingestRate();
  $("kpi-ingest-rate").textContent = rate === null ? "–" : compact(rate);
  $("kpi-stored").textContent = compact(s.stored);
  $("kpi-stored").dataset.raw = String(s.stored);
  $("kpi-queue").textContent = s.queueVisible === null ? "–" : compact(s.queueVisible);
  $("kpi-queue-unit").textContent = s.queueInFlight === null
    ? "queue not readable"
    : `visible · ${compact(s.queueInFlight)} in flight`;
  $("kpi-dlq").textContent = s.dlqVisible === null ? "–" : compact(s.dlqVisible);
  $("kpi-lag").textContent = duration(s.lagMs);
  tone("dlq", s.dlqVisible === null ? "" : s.dlqVisible > 0 ? "warn" : "ok");
  tone("lag", s.lagMs === null ? "" : s.lagMs > 30_000 ? "bad" : s.lagMs > 5_000 ? "warn" : "ok");
  tone(
    "queue",
    s.queueVisible === null ? "" : s.queueVisible > 10_000 ? "warn" : "ok",
  );

  const age = s.oldestAgeS === null
    ? "–"
    : `${duration(s.oldestAgeS * 1000)}${
      s.oldestAgeSource === "consumer_lag_estimate" ? " (est.)" : ""
    }`;
  $("health").replaceChildren(
    ...stat(
      "Queue",
      s.queueVisible === null
        ? "unreadable"
        : `${compact(s.queueVisible)} visible · ${compact(s.queueInFlight)} in flight · ${
          compact(s.queueDelayed)
        } delayed`,
    ),
    ...stat(
      "Dead-letter queue",
      s.dlqVisible === null ? "unreadable" : `${compact(s.dlqVisible)} messages`,
      s.dlqVisible ? "warn" : "ok",
    ),
    ...stat("Oldest message", age),
    ...stat("End-to-end lag", duration(s.lagMs)),
    ...stat(
      "Consumers",
      `${s.consumersLive} live${s.consumersStale ? ` · ${s.consumersStale} stale` : ""} · ${
        compact(s.consumerEventsPerS)
      } events/s reported`,
      s.consumersLive === 0 ? "warn" : "ok",
    ),
    ...stat("Stored last minute", compact(s.storedLastMinute)),
    ...stat(
      "Rejected",
      `${compact(s.rejected)} invalid · ${compact(s.tooOld)} too old · ${
        compact(s.tooNew)
      } too new`,
    ),
    ...stat("Duplicates absorbed", compact(s.duplicates)),
    ...(s.problems.length > 0 ? stat("Unreadable", s.problems.join("; "), "bad") : []),
  );
  $("health-time").textContent = `as of ${clock(s.timeMs)}`;

  const xs = [];
  const rates = [];
  const queue = [];
  // Consumers store in flushes, so frame-to-frame rates jump; each point averages the last ~3 s.
  let j = 0;
  for (let i = 0; i < live.length; i++) {
    const c = /** @type {import("./api_client.js").Snapshot} */ (live[i]);
    while (j < i - 1 && c.timeMs - /** @type {any} */ (live[j + 1]).timeMs >= 3000) j++;
    const p = i === 0 ? undefined : live[j];
    xs.push(c.timeMs / 1000);
    rates.push(
      p && c.timeMs > p.timeMs ? ((c.stored - p.stored) * 1000) / (c.timeMs - p.timeMs) : null,
    );
    queue.push(c.queueVisible);
  }
  charts.live.setData({
    x: xs,
    ys: [rates, queue],
    series: [
      { label: "stored/s", color: PALETTE[0], fill: true },
      { label: "queue (visible)", color: PALETTE[1], dash: [6, 4] },
    ],
  });
}

/** @param {string} kpi @param {string} t */
function tone(kpi, t) {
  const el = document.querySelector(`[data-kpi="${kpi}"]`);
  if (el) /** @type {HTMLElement} */ (el).dataset.tone = t;
}

/** @type {{ close(): void } | null} */
let stream = null;
function startStream() {
  stream?.close();
  stream = client.stream(onSnapshot, (state) => {
    const dot = $("conn-dot");
    const text = $("conn-text");
    if (state === "live") {
      dot.dataset.state = "live";
      text.textContent = "Live";
    } else if (state === "connecting") {
      if (dot.dataset.state !== "live") text.textContent = "Connecting…";
    } else {
      dot.dataset.state = "down";
      text.textContent = state instanceof ApiError && state.status === 401
        ? "Needs an API key"
        : "Reconnecting…";
      if (state instanceof ApiError) showErrors([state]);
    }
  }, onView);
}

syncControls();
startStream();
void refresh();
// Only non-default filters poll: the default view arrives over the stream every interval.
setInterval(() => {
  if (document.visibilityState === "hidden") return;
  if (!(isDefaultView(filters) && pushedFresh())) void refresh();
}, REFRESH_MS);
