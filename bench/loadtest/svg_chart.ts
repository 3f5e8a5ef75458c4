/**
 * Line charts as plain SVG strings: axes with round ticks (linear or logarithmic), one polyline
 * with markers per series, a legend. No dependencies; the file renders in any browser and on
 * GitHub.
 */

export interface Series {
  name: string;
  points: [number, number][];
  dashed?: boolean;
  /** Dash pattern (SVG stroke-dasharray), overrides `dashed`. */
  dash?: string;
  /** Line colour; by default one of a palette by position. */
  color?: string;
  /** Draw markers at the points (default true). */
  markers?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Forces the y axis to start at 0 (linear axes only; default true). */
  yFromZero?: boolean;
}

const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#17becf",
  "#bcbd22",
];

function escape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** Formats a tick value compactly: 1.5k, 20k, 1.2M, 0.05. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e6) return trim(v / 1e6) + "M";
  if (a >= 1e3) return trim(v / 1e3) + "k";
  return trim(v);
}

/** Round ticks covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  if (ticks.at(-1)! < hi) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)));
  return ticks;
}

/** 1-2-5 ticks on a log axis (lo > 0), from the largest tick ≤ lo to the smallest ≥ hi. */
export function logTicks(lo: number, hi: number): number[] {
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) all.push(Number((m * 10 ** e).toPrecision(12)));
  }
  const first = all.findLastIndex((t) => t <= lo * 1.0001);
  const last = all.findIndex((t) => t >= hi / 1.0001);
  return all.slice(Math.max(first, 0), last < 0 ? all.length : last + 1);
}

export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 420;
  const m = { left: 70, right: 190, top: 40, bottom: 55 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = o.series.flatMap((s) =>
    s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0)
    )
  );
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let xLo = xs.length ? Math.min(...xs) : 0;
  let xHi = xs.length ? Math.max(...xs) : 1;
  let yLo = ys.length ? Math.min(...ys) : 0;
  let yHi = ys.length ? Math.max(...ys) : 1;
  if (!o.logY && (o.yFromZero ?? true)) yLo = Math.min(0, yLo);
  if (o.logX) xLo = Math.max(xLo, 1e-9);
  const xTicks = o.logX ? logTicks(xLo, xHi) : linearTicks(xLo, xHi);
  const yTicks = o.logY ? logTicks(Math.max(yLo, 1e-9), yHi) : linearTicks(yLo, yHi);
  if (!o.logY) {
    yLo = yTicks[0]!;
    yHi = yTicks.at(-1)!;
  } else {
    yLo = Math.min(yLo, yTicks[0]!);
    yHi = Math.max(yHi, yTicks.at(-1)!);
  }
  if (!o.logX) {
    xLo = xTicks[0]!;
    xHi = xTicks.at(-1)!;
  } else {
    xLo = Math.min(xLo, xTicks[0]!);
    xHi = Math.max(xHi, xTicks.at(-1)!);
  }
  const fx = (x: number) => {
    const t = o.logX
      ? (Math.log10(x) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo) || 1)
      : (x - xLo) / (xHi - xLo || 1);
    return m.left + t * pw;
  };
  const fy = (y: number) => {
    const t = o.logY
      ? (Math.log10(y) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo) || 1)
      : (y - yLo) / (yHi - yLo || 1);
    return m.top + ph - t * ph;
  };
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left + pw / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${
      escape(o.title)
    }</text>`,
  );
  for (const t of xTicks) {
    const x = fx(t).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    const y = fy(t).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        formatTick(t)
      }</text>`,
    );
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">${escape(o.xLabel)}${
      o.logX ? " (log scale)" : ""
    }</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${
      escape(o.yLabel)
    }${o.logY ? " (log scale)" : ""}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]!;
    const dash = s.dash ?? (s.dashed ? "6 4" : undefined);
    const p = s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0)
    );
    if (p.length) {
      const d = p.map(([x, y]) => `${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join(" ");
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${
          dash ? ` stroke-dasharray="${dash}"` : ""
        } points="${d}"/>`,
      );
      if (s.markers ?? true) {
        for (const [x, y] of p) {
          out.push(
            `<circle cx="${fx(x).toFixed(1)}" cy="${fy(y).toFixed(1)}" r="3" fill="${color}"/>`,
          );
        }
      }
    }
    const ly = m.top + 10 + i * 18;
    const lx = m.left + pw + 14;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="2"${
        dash ? ` stroke-dasharray="${dash}"` : ""
      }/>`,
      `<text x="${lx + 28}" y="${ly}" dominant-baseline="middle">${escape(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
