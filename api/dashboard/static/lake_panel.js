/**
 * The data-lake panels: weekly retention cohorts as a heat map, each A/B experiment's conversion
 * per variant with its confidence interval, and the lake's state (export watermark, batch-view
 * differences). They read /v1/lake/{status,cohorts,experiments}, which the lake's batch jobs
 * fill, every 30 seconds. A module of its own: it shares only the stored read key with the rest
 * of the dashboard.
 */

const REFRESH_MS = 30_000;
const KEY_STORAGE = "scalestream.apiKey";

const $ = (/** @type {string} */ id) => document.getElementById(id);

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node | string | null)} children
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

/** @param {string} path */
async function get(path) {
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers["x-api-key"] = key;
  const res = await fetch(path, { headers });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return await res.json();
}

const pct = (/** @type {number} */ v, digits = 1) => `${(v * 100).toFixed(digits)}%`;
const signedPct = (/** @type {number} */ v) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(1)}%`;
const ago = (/** @type {string} */ iso) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90
    ? `${s} s ago`
    : s < 5400
    ? `${Math.round(s / 60)} min ago`
    : `${Math.round(s / 3600)} h ago`;
};

/** @param {any} report */
function renderCohorts(report) {
  const table = /** @type {HTMLTableElement} */ ($("lake-cohorts"));
  const scope = $("lake-cohorts-scope");
  if (!table || !scope) return;
  table.replaceChildren();
  if (!report || report.cohorts.length === 0) {
    scope.textContent = "no cohorts yet";
    return;
  }
  scope.textContent = `computed ${ago(report.computedAt)}`;
  const weeks = Math.max(...report.cohorts.map((/** @type {any} */ c) => c.retained.length));
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "First seen"),
    h("th", { scope: "col", class: "num" }, "Users"),
  );
  for (let w = 0; w < weeks; w++) head.append(h("th", { scope: "col", class: "num" }, `W${w}`));
  const body = h("tbody");
  for (const c of report.cohorts) {
    const row = h(
      "tr",
      {},
      h("th", { scope: "row" }, c.week),
      h("td", { class: "num" }, String(c.users)),
    );
    for (let w = 0; w < weeks; w++) {
      const rate = c.rates[w];
      const cell = h("td", { class: "num heat" }, rate === undefined ? "" : pct(rate, 0));
      if (rate !== undefined) {
        cell.style.background = `rgba(86, 180, 233, ${(0.1 + 0.8 * rate).toFixed(2)})`;
        cell.title = `${c.retained[w]} of ${c.users} users active in week ${w}`;
      }
      row.append(cell);
    }
    body.append(row);
  }
  table.append(h("thead", {}, head), body);
}

/**
 * A horizontal interval bar on a shared 0..max scale: the interval as a band, the rate as a tick.
 * @param {number} rate @param {[number, number]} interval @param {number} max
 */
function intervalBar(rate, interval, max) {
  const at = (/** @type {number} */ v) => `${Math.min(100, (v / max) * 100).toFixed(2)}%`;
  const bar = h("span", { class: "ci", role: "img" });
  bar.setAttribute("aria-label", `${pct(rate)} (${pct(interval[0])} to ${pct(interval[1])})`);
  const band = h("span", { class: "ci-band" });
  band.style.left = at(interval[0]);
  band.style.width = `calc(${at(interval[1])} - ${at(interval[0])})`;
  const tick = h("span", { class: "ci-tick" });
  tick.style.left = at(rate);
  bar.append(band, tick);
  return bar;
}

/** @param {any[]} experiments */
function renderExperiments(experiments) {
  const box = $("lake-experiments");
  if (!box) return;
  box.replaceChildren();
  if (experiments.length === 0) {
    box.append(
      h(
        "p",
        { class: "empty" },
        "No experiments in the lake yet (events with properties.experiment and properties.variant).",
      ),
    );
    return;
  }
  for (const e of experiments) {
    const max = Math.max(...e.variants.map((/** @type {any} */ v) => v.interval[1])) * 1.1 || 1;
    const table = h("table", { class: "experiment" });
    table.append(
      h(
        "caption",
        {},
        `${e.experiment} · ${Math.round(e.confidence * 100)}% intervals · ${ago(e.computedAt)}`,
      ),
    );
    table.append(
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Variant"),
          h("th", { scope: "col", class: "num" }, "Users"),
          h("th", { scope: "col", class: "num" }, "Conv."),
          h("th", { scope: "col", class: "wide" }, "Rate and interval"),
          h("th", { scope: "col", class: "num" }, "Lift"),
          h("th", { scope: "col", class: "num" }, "p"),
        ),
      ),
    );
    const body = h("tbody");
    for (const v of e.variants) {
      const c = e.comparisons.find((/** @type {any} */ x) => x.variant === v.variant);
      const lift = c && c.relativeLift !== null
        ? h("span", { class: c.significant ? "sig" : "" }, signedPct(c.relativeLift))
        : "baseline";
      if (c && c.relativeLiftInterval) {
        /** @type {HTMLElement} */ (lift).title = `lift interval ${
          signedPct(c.relativeLiftInterval[0])
        } to ${signedPct(c.relativeLiftInterval[1])}`;
      }
      body.append(
        h(
          "tr",
          {},
          h("th", { scope: "row" }, v.variant),
          h("td", { class: "num" }, String(v.users)),
          h("td", { class: "num" }, String(v.conversions)),
          h(
            "td",
            { class: "wide" },
            intervalBar(v.rate, v.interval, max),
            h("span", { class: "rate" }, pct(v.rate)),
          ),
          h("td", { class: "num" }, lift),
          h("td", { class: "num" }, c ? c.pValue < 0.0001 ? "<0.0001" : c.pValue.toFixed(4) : ""),
        ),
      );
    }
    table.append(body);
    box.append(table);
    if (e.sampleRatio.mismatch) {
      box.append(
        h(
          "p",
          { class: "srm", role: "alert" },
          `Sample-ratio mismatch (χ² p = ${
            e.sampleRatio.pValue.toExponential(1)
          }): the split is not the intended one; do not trust these results.`,
        ),
      );
    }
  }
}

/** @param {any} status */
function renderStatus(status) {
  const el = $("lake-status");
  if (!el || !status) return;
  const diff = status.batchView.differences;
  el.replaceChildren(
    h("span", {}, `${status.exportedEvents.toLocaleString("en-US")} events in the lake`),
    h(
      "span",
      {},
      status.lastExport ? `last export ${ago(status.lastExport.committedAt)}` : "no export yet",
    ),
    h(
      "span",
      { class: diff > 0 ? "bad" : "good" },
      status.batchView.checks.length === 0
        ? "batch view: not run yet"
        : diff > 0
        ? `batch view: ${diff} differences`
        : "batch view: stream = lake",
    ),
  );
}

async function refresh() {
  try {
    const [status, cohorts, experiments] = await Promise.all([
      get("/v1/lake/status"),
      get("/v1/lake/cohorts"),
      get("/v1/lake/experiments"),
    ]);
    renderStatus(status);
    renderCohorts(cohorts);
    renderExperiments(experiments?.experiments ?? []);
  } catch (err) {
    const el = $("lake-status");
    if (el) el.textContent = `Lake unavailable: ${/** @type {Error} */ (err).message}`;
  }
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
