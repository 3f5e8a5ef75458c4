/**
 * Events generated and serialized per second on one core: the behaviour model (with and without
 * injections) plus the ASCII-safe JSON encoding the sender packs. Each iteration makes 1000 events,
 * so events/s = 1000 / (time per iteration). Timestamps advance as at 200k events/s.
 *
 *   deno bench -A bench/producer_bench.ts
 */
import { createEventSource, createGenerator } from "../producer/mod.ts";
import { encodeEvent, packBody } from "../shared/mod.ts";

const BATCH = 1000;
const T0 = Date.now();

const gen = createGenerator({ seed: 1 });
let i = 0;
Deno.bench("model: generate + serialize 1000 events", { group: "producer", baseline: true }, () => {
  for (let n = 0; n < BATCH; n++, i++) encodeEvent(gen.next(T0 + Math.floor(i / 200)));
});

const source = createEventSource(createGenerator({ seed: 2 }), {
  rates: { fraud: 0.01, bots: 0.01, invalid: 0.01, duplicates: 0.01, late: 0.01, tooNew: 0.005 },
});
let j = 0;
Deno.bench("model + injections: generate + serialize 1000 events", { group: "producer" }, () => {
  for (let n = 0; n < BATCH; n++, j++) encodeEvent(source.next(T0 + Math.floor(j / 200)).event);
});

const packGen = createGenerator({ seed: 3 });
let k = 0;
Deno.bench(
  "model: generate + serialize + pack 1000 events into bodies",
  { group: "producer" },
  () => {
    let parts: string[] = [];
    let bytes = 0;
    for (let n = 0; n < BATCH; n++, k++) {
      const s = encodeEvent(packGen.next(T0 + Math.floor(k / 200)));
      if (bytes + s.length > 65_000) {
        packBody(parts);
        parts = [];
        bytes = 0;
      }
      parts.push(s);
      bytes += s.length + 1;
    }
    packBody(parts);
  },
);
