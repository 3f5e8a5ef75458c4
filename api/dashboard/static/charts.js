/**
 * Time-series charts on uPlot (loaded as the global `uPlot` from /assets/uplot-1.6.32.js): sized
 * to their container, redrawn in place when only the data changes and rebuilt when the set of
 * series changes (a category appears, a filter narrows the lines).
 */

/** Okabe–Ito hues, lightened to read on the dark background, plus lavender and tan. */
export const PALETTE = [
  "#56b4e9",
  "#e69f00",
  "#2fc48d",
  "#f0e442",
  "#cc79a7",
  "#a58bff",
  "#ff7b3a",
  "#c3c3c3",
  "#c8a06a",
];

const AXIS = {
  stroke: "#aab4c3",
  grid: { stroke: "rgba(170,180,195,0.12)", width: 1 },
  ticks: { stroke: "rgba(170,180,195,0.25)", width: 1 },
  font: "12px system-ui, sans-serif",
};

/**
 * A compact number: 950, 1.2k, 3.4M.
 * @param {number | null | undefined} v
 */
export function compact(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(a >= 1e10 ? 0 : 1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(a >= 10 ? 1 : 2);
}

/**
 * An identifier short enough for a table cell, keeping the end where ids differ: order ids share
 * their prefix (`o-<run>-1`, `o-<run>-2`), so the first characters would be the same on every row.
 * @param {unknown} id
 */
export function shortId(id) {
  const s = String(id ?? "");
  return s.length <= 12 ? s : `…${s.slice(-10)}`;
}

/**
 * @typedef {{ label: string, color: string, fill?: boolean, dash?: number[] }} SeriesDef
 * @typedef {{ x: number[], ys: (number | null)[][], series: SeriesDef[] }} ChartData
 */

/**
 * Creates a chart in `el`. `yFormat` formats axis ticks and legend values.
 * @param {HTMLElement} el
 * @param {{ yFormat?: (v: number) => string, axisFormat?: (v: number) => string, y2?: { label: string, format?: (v: number) => string } }} [options]
 */
export function timeChart(el, options = {}) {
  const yFormat = options.yFormat ?? compact;
  const axisFormat = options.axisFormat ?? yFormat;
  /** @type {any} */
  let plot = null;
  let key = "";
  /** @type {ChartData | null} */
  let last = null;

  // The plot's height comes from the CSS variable --plot-h (per breakpoint); the legend sits below
  // it, so the panel grows with the legend instead of squeezing the plot.
  const size = () => ({
    width: Math.max(200, Math.floor(el.clientWidth)),
    height: parseInt(getComputedStyle(el).getPropertyValue("--plot-h"), 10) || 220,
  });

  /** @param {ChartData} d */
  function build(d) {
    plot?.destroy();
    const single = d.x.length < 3;
    const series = [
      {},
      ...d.series.map((s, i) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: s.fill ? s.color + "22" : undefined,
        dash: s.dash,
        scale: options.y2 && i === d.series.length - 1 ? "y2" : "y",
        points: { show: single, size: 6, fill: s.color },
        // Away from the cursor (a wall screen has none) the legend shows the latest value.
        value: (
          /** @type {any} */ u,
          /** @type {number | null} */ v,
          /** @type {number} */ sidx,
          /** @type {number | null} */ idx,
        ) => {
          const shown = idx === null ? latest(u.data[sidx]) : v;
          return shown === null || shown === undefined ? "–" : yFormat(shown);
        },
      })),
    ];
    const axes = [
      { ...AXIS },
      {
        ...AXIS,
        size: 56,
        values: (/** @type {any} */ _u, /** @type {number[]} */ ticks) => ticks.map(axisFormat),
      },
    ];
    /** @type {Record<string, any>} */
    const scales = {
      // One point alone would make uPlot span years (it widens a zero-width time range to
      // 86400 / ms seconds before asking this function, so min and max arrive apart): when the
      // data holds one instant, show the minute before it instead.
      x: {
        time: true,
        range: (/** @type {any} */ u, /** @type {number} */ min, /** @type {number} */ max) => {
          /** @type {number[]} */
          const xs = u.data[0] ?? [];
          const first = xs[0];
          return first !== undefined && first === xs[xs.length - 1]
            ? [first - 60, first + 1]
            : [min, max];
        },
      },
      y: { range: nonNegative },
    };
    if (options.y2) {
      const f = options.y2.format ?? compact;
      scales.y2 = { range: nonNegative };
      axes.push({
        ...AXIS,
        scale: "y2",
        side: 1,
        size: 50,
        grid: { show: false },
        values: (/** @type {any} */ _u, /** @type {number[]} */ ticks) => ticks.map(f),
      });
    }
    // @ts-ignore: the global comes from the vendored IIFE build
    plot = new uPlot(
      {
        ...size(),
        series,
        axes,
        scales,
        cursor: { points: { size: 7 } },
        legend: { live: true },
        hooks: {
          // The time span the x axis shows, in seconds: tests check one frame does not span years.
          setScale: [
            (/** @type {any} */ u, /** @type {string} */ k) => {
              if (k === "x") el.dataset.xspan = String(u.scales.x.max - u.scales.x.min);
            },
          ],
        },
      },
      [d.x, ...d.ys],
      el,
    );
  }

  let width = 0;
  const observer = new ResizeObserver(() => {
    const s = size();
    if (plot && s.width !== width) {
      width = s.width;
      plot.setSize(s);
    }
  });
  observer.observe(el);

  return {
    /** @param {ChartData} d */
    setData(d) {
      last = d;
      const k = d.series.map((s) => s.label + s.color).join("|") + (d.x.length < 3 ? "s" : "");
      if (!plot || k !== key) {
        key = k;
        build(d);
      } else {
        plot.setData([d.x, ...d.ys]);
      }
      el.dataset.series = d.series.map((s) => s.label).join(",");
      el.dataset.points = String(d.x.length);
      el.dataset.sum = String(
        d.ys.reduce((s, ys) => s + ys.reduce((a, v) => a + (v ?? 0), 0), 0),
      );
    },
    /** The data last drawn (tests and debugging read it). */
    get data() {
      return last;
    },
  };
}

/**
 * The last non-null value of a series.
 * @param {(number | null)[] | undefined} ys
 */
function latest(ys) {
  for (let i = (ys?.length ?? 0) - 1; i >= 0; i--) {
    const v = ys?.[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/**
 * A y range from 0 (the charts show counts and money) with a little headroom.
 * @param {any} _u @param {number | null} _min @param {number | null} max
 * @returns {[number, number]}
 */
function nonNegative(_u, _min, max) {
  const top = max === null || !Number.isFinite(max) || max <= 0 ? 1 : max * 1.1;
  return [0, top];
}
