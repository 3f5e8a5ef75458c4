/**
 * `deno run -A bench/dev_rss.ts [--minutes 10] [--rate 1000]`: runs `deno task dev` (main.ts) on its
 * embedded defaults with a fresh data directory, samples the process's resident set size every 10 s,
 * stops it with SIGINT and prints one JSON object: RSS after 1 minute, at the end, their ratio, and
 * the samples. The issue-16 target: RSS at 10 minutes within 20% of RSS at 1 minute.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "1000" },
    "data-dir": { type: "string" },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
if (!(minutes >= 1) || !(rate >= 1)) throw new RangeError("--minutes and --rate must be ≥ 1");
const dataDir = values["data-dir"] ?? await Deno.makeTempDir({ prefix: "scalestream-dev-rss-" });

const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
  env: {
    PRODUCER_RATE: String(rate),
    DEV_DATA_DIR: dataDir,
    PORT: "0",
    LOG_LEVEL: "warning",
    CONSUMER_HEALTH_PORT: "0",
  },
  stdin: "null",
  stdout: "null",
  stderr: "inherit",
}).spawn();

const rssMb = async (): Promise<number> => {
  const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
};
const samples: { s: number; rssMb: number }[] = [];
const start = Date.now();
for (let s = 10; s <= minutes * 60; s += 10) {
  await new Promise((r) => setTimeout(r, start + s * 1000 - Date.now()));
  samples.push({ s, rssMb: await rssMb() });
}
child.kill("SIGINT");
await child.status;
const at = (s: number) => samples.find((x) => x.s === s)?.rssMb ?? NaN;
const oneMinute = at(60);
const end = at(minutes * 60);
console.log(JSON.stringify({
  rate,
  minutes,
  rssMbAt1Min: oneMinute,
  rssMbAtEnd: end,
  ratio: Math.round((end / oneMinute) * 1000) / 1000,
  withinTwentyPercent: end <= oneMinute * 1.2,
  samples,
}));
if (!values["data-dir"]) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
