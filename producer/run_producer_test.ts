import assert from "node:assert/strict";
import type { EventSender, SenderStats } from "../shared/mod.ts";
import { metaOf, type SentMeta } from "./ledger.ts";
import { runProducer } from "./run_producer.ts";

/** A sender that records what it is given and can hold the caller, like a full queue. */
function recordingSender(hold: (n: number) => Promise<void> | void) {
  const sent: { timeMs: number }[] = [];
  const stats = {} as SenderStats;
  const sender: EventSender<SentMeta> = {
    async send(event) {
      sent.push(event as { timeMs: number });
      await hold(sent.length);
    },
    flush: () => Promise.resolve(),
    stats,
  };
  return { sent, sender };
}

Deno.test("runProducer sends what the profile makes due, stamped with due times", async () => {
  let clock = 1_000_000;
  const { sent, sender } = recordingSender(() => {});
  const result = await runProducer({
    rateAt: () => 2000,
    durationMs: 1000,
    now: () => (clock += 7),
  }, { next: (timeMs) => ({ event: { timeMs }, meta: metaOf("invalid", null) }), sender });
  assert.ok(Math.abs(result.sent - 2000) <= 1, `sent ${result.sent}`);
  assert.equal(result.sent, sent.length);
  for (let i = 1; i < sent.length; i++) assert.ok(sent[i]!.timeMs >= sent[i - 1]!.timeMs);
  assert.ok(sent[0]!.timeMs >= 1_000_000 && sent.at(-1)!.timeMs <= 1_001_000 + 7);
});

Deno.test("when the sender stalls, due events are sent afterwards with their due times (open loop)", async () => {
  let clock = 0;
  // The 100th send holds the caller for 500 ms of clock time.
  const { sent, sender } = recordingSender((n) => {
    if (n === 100) clock += 500;
  });
  const result = await runProducer({
    rateAt: () => 1000,
    durationMs: 1000,
    now: () => (clock += 1),
  }, { next: (timeMs) => ({ event: { timeMs }, meta: metaOf("invalid", null) }), sender });
  assert.ok(result.sent >= 995, `sent ${result.sent}`);
  // Due times stay evenly spread: no gap of the stall's length appears in the timestamps.
  let maxGap = 0;
  for (let i = 1; i < sent.length; i++) {
    maxGap = Math.max(maxGap, sent[i]!.timeMs - sent[i - 1]!.timeMs);
  }
  assert.ok(maxGap <= 5, `gap of ${maxGap} ms in due times`);
  assert.ok(result.maxLagMs >= 0);
});

Deno.test("runProducer stops at maxEvents and when aborted", async () => {
  const { sent, sender } = recordingSender(() => {});
  await runProducer({ rateAt: () => 100_000, maxEvents: 1234 }, {
    next: (timeMs) => ({ event: { timeMs }, meta: metaOf("invalid", null) }),
    sender,
  });
  assert.equal(sent.length, 1234);
  const ac = new AbortController();
  const b = recordingSender((n) => {
    if (n === 50) ac.abort();
  });
  const r = await runProducer({ rateAt: () => 100_000, signal: ac.signal }, {
    next: (timeMs) => ({ event: { timeMs }, meta: metaOf("invalid", null) }),
    sender: b.sender,
  });
  assert.equal(r.sent, 50);
});
