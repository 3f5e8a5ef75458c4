/**
 * Message-body codecs compared on generated events: compressed size (what SQS bills in 64 KiB
 * chunks) and CPU per event to compress and to decompress, for messages packed as the sender packs
 * them (as many events as fit one 64 KiB message after encoding).
 *
 *   deno run -A bench/codec_measure.ts [events]
 */
import * as zlib from "node:zlib";
import { createGenerator } from "../producer/mod.ts";
import { encodeEvent } from "../shared/mod.ts";

const N = Number(Deno.args[0] ?? 40_000);
const gen = createGenerator({ seed: 1 });
const t0 = Date.parse("2026-11-29T12:00:00Z");
const encoded = Array.from({ length: N }, (_, i) => encodeEvent(gen.next(t0 + Math.floor(i / 10))));
const rawBytes = encoded.reduce((s, e) => s + e.length + 1, 0);

type Codec = { name: string; c: (b: Buffer) => Buffer; d: (b: Buffer) => Buffer };
const B = zlib.constants;
const codecs: Codec[] = [
  { name: "json (none)", c: (b) => b, d: (b) => b },
  ...[1, 3, 6].map((level) => ({
    name: `gzip -${level}`,
    c: (b: Buffer) => zlib.gzipSync(b, { level }),
    d: (b: Buffer) => zlib.gunzipSync(b),
  })),
  ...[1, 6].map((level) => ({
    name: `deflate-raw -${level}`,
    c: (b: Buffer) => zlib.deflateRawSync(b, { level }),
    d: (b: Buffer) => zlib.inflateRawSync(b),
  })),
  ...[1, 3, 4, 5, 6].map((q) => ({
    name: `brotli q${q}`,
    c: (b: Buffer) =>
      zlib.brotliCompressSync(b, {
        params: { [B.BROTLI_PARAM_QUALITY]: q, [B.BROTLI_PARAM_MODE]: B.BROTLI_MODE_TEXT },
      }),
    d: (b: Buffer) => zlib.brotliDecompressSync(b),
  })),
  ...[1, 3].map((level) => ({
    name: `zstd -${level}`,
    // deno-lint-ignore no-explicit-any
    c: (b: Buffer) => (zlib as any).zstdCompressSync(b, { params: { 100: level } }),
    // deno-lint-ignore no-explicit-any
    d: (b: Buffer) => (zlib as any).zstdDecompressSync(b),
  })),
];

const LIMIT = 65_536 - 64; // body bytes left after the attributes
const rows: string[] = [];
for (const codec of codecs) {
  // Ratio on a sample first, then messages packed to the limit with that ratio.
  const sample = Buffer.from("[" + encoded.slice(0, 500).join(",") + "]");
  const b64 = codec.name.startsWith("json") ? 1 : 4 / 3;
  const ratio = codec.c(sample).length * b64 / sample.length;
  const perMessage = Math.max(1, Math.floor(LIMIT * 0.95 / ratio / (rawBytes / N)));
  const bodies: Buffer[] = [];
  for (let i = 0; i < N; i += perMessage) {
    bodies.push(Buffer.from("[" + encoded.slice(i, i + perMessage).join(",") + "]"));
  }
  let out: Buffer[] = [];
  const reps = 3;
  let cBest = Infinity, dBest = Infinity;
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    out = bodies.map(codec.c);
    const b64s = codec.name.startsWith("json")
      ? out.map(String)
      : out.map((o) => o.toString("base64"));
    cBest = Math.min(cBest, performance.now() - s);
    const s2 = performance.now();
    for (const x of b64s) {
      const buf = codec.name.startsWith("json") ? Buffer.from(x) : Buffer.from(x, "base64");
      JSON.parse(codec.d(buf).toString("utf8")).length;
    }
    dBest = Math.min(dBest, performance.now() - s2);
  }
  const wire = out.reduce(
    (s, o) => s + (codec.name.startsWith("json") ? o.length : Math.ceil(o.length / 3) * 4),
    0,
  );
  const maxWire = Math.max(
    ...out.map((o) => codec.name.startsWith("json") ? o.length : Math.ceil(o.length / 3) * 4),
  );
  rows.push(
    `| ${codec.name} | ${(wire / rawBytes).toFixed(3)} | ${perMessage} | ${
      (wire / 65536 / N * 1e6).toFixed(0)
    } | ${(cBest * 1000 / N).toFixed(2)} | ${(dBest * 1000 / N).toFixed(2)} | ${maxWire} |`,
  );
}
console.log(
  `${N} events, ${(rawBytes / N).toFixed(0)} bytes each as JSON; load ${Deno.loadavg().join(" ")}`,
);
console.log(
  "| codec | wire/raw (base64 incl.) | events per message | 64 KiB chunks per 10⁶ events | compress µs/event | decode µs/event (incl. JSON.parse) | largest body |",
);
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
