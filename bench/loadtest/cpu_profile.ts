/**
 * A CPU profile of a running Deno process through its inspector (`deno run --inspect=…`): the V8
 * sampling profiler over the Chrome DevTools Protocol, saved as a `.cpuprofile` (opens in Chrome
 * DevTools) and summarised as self time per function and per code area.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  seconds: number;
  samples: number;
  /** Share of samples by code area (idle, GC, postgres.js, AWS SDK, zod, ScaleStream code …). */
  areas: { area: string; share: number }[];
  /** Functions with the most self time. */
  top: { fn: string; where: string; share: number }[];
}

/** Records `seconds` of CPU profile of the process whose inspector listens on `port`. */
export async function profileProcess(port: number, seconds: number): Promise<CpuProfile> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const url = list[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`No inspector target on port ${port}`);
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: 1000 });
    await call("Profiler.start");
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const { profile } = await call("Profiler.stop") as { profile: CpuProfile };
    return profile;
  } finally {
    ws.close();
  }
}

function areaOf(f: CallFrame): string {
  const u = f.url;
  if (f.functionName === "(idle)") return "idle";
  if (f.functionName === "(garbage collector)") return "garbage collection";
  if (f.functionName === "(program)") return "runtime (program)";
  if (u.includes("/postgres/")) return "postgres.js";
  if (u.includes("@aws-sdk") || u.includes("@smithy") || u.includes("fast-xml-parser")) {
    return "AWS SDK (SQS client)";
  }
  if (u.includes("/zod/")) return "zod (validation)";
  if (u.includes("prom-client")) return "prom-client (metrics)";
  if (u.includes("logtape")) return "logging";
  if (u.includes("/consumer/") || u.includes("/shared/")) return "ScaleStream code";
  if (u.startsWith("ext:") || u.startsWith("node:")) return "Deno runtime (ext:, node:)";
  if (u === "") return "native / builtins (JSON.parse, …)";
  return "other";
}

/** Self time by area and by function. */
export function summarizeProfile(p: CpuProfile, topN = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  if (p.samples?.length) {
    for (const id of p.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  } else {
    for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  }
  let total = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; n: number }>();
  for (const [id, n] of hits) {
    const node = byId.get(id);
    if (!node) continue;
    total += n;
    const f = node.callFrame;
    const area = areaOf(f);
    areas.set(area, (areas.get(area) ?? 0) + n);
    const where = f.url
      ? `${f.url.replace(/^.*\/(npm\/registry\.npmjs\.org|wt-[^/]+|work\/[^/]+)\//, "")}:${
        f.lineNumber + 1
      }`
      : "";
    const key = `${f.functionName}|${where}`;
    const e = fns.get(key) ?? { fn: f.functionName || "(anonymous)", where, n: 0 };
    e.n += n;
    fns.set(key, e);
  }
  const share = (n: number) => Number((n / Math.max(total, 1)).toFixed(3));
  return {
    seconds: Number(((p.endTime - p.startTime) / 1e6).toFixed(1)),
    samples: total,
    areas: [...areas].sort((a, b) => b[1] - a[1]).map(([area, n]) => ({ area, share: share(n) })),
    top: [...fns.values()].sort((a, b) => b.n - a.n).slice(0, topN).map((e) => ({
      fn: e.fn,
      where: e.where,
      share: share(e.n),
    })),
  };
}
