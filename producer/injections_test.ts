import assert from "node:assert/strict";
import { type Event, validateEvent } from "../shared/mod.ts";
import { createEventSource, type InjectionKind, type SourceItem } from "./injections.ts";
import { createGenerator } from "./shopper_sessions.ts";

const T0 = Date.parse("2026-03-02T09:00:00Z");
const RATES = {
  fraud: 0.02,
  bots: 0.03,
  invalid: 0.01,
  duplicates: 0.02,
  late: 0.01,
  future: 0.01,
  tooNew: 0.005,
  tooOld: 0.005,
} as const;
const N = 100_000;

function generate(seed = 9): { items: SourceItem[]; times: number[] } {
  const gen = createGenerator({ seed, users: 500, products: 100 });
  const source = createEventSource(gen, { rates: RATES, lateHorizonS: 86_400, futureSkewS: 300 });
  const items: SourceItem[] = [];
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = T0 + i; // 1000 events/s
    times.push(t);
    items.push(source.next(t));
  }
  return { items, times };
}

const { items, times } = generate();
const of = (kind: InjectionKind) => items.filter((i) => i.injection === kind);

Deno.test("each injection appears at about its configured rate (fixed seed)", () => {
  for (const [kind, rate] of Object.entries(RATES) as [InjectionKind, number][]) {
    const n = of(kind).length;
    const expected = rate * N;
    // Bursty kinds (bots, fraud) vary more: a burst is dozens of events.
    const tolerance = kind === "bots" || kind === "fraud" ? 0.3 : 0.15;
    assert.ok(
      Math.abs(n - expected) <= expected * tolerance,
      `${kind}: ${n} events, expected about ${expected}`,
    );
  }
  assert.deepEqual(generate().items.map((i) => i.meta), items.map((i) => i.meta), "seeded");
});

Deno.test("invalid events break the schema; every other event is valid", () => {
  for (const item of items) {
    const r = validateEvent(item.event);
    if (item.injection === "invalid") {
      assert.ok(!r.ok, `should be invalid: ${JSON.stringify(item.event)}`);
      assert.equal(item.meta.kind, "invalid");
    } else assert.ok(r.ok, `${JSON.stringify(item.event)}: ${r.ok ? "" : r.reason}`);
  }
});

Deno.test("duplicates re-send an earlier event exactly, and unique ids are never reused", () => {
  const sent = new Map<string, string>();
  for (const item of items) {
    const e = item.event as Event;
    if (item.meta.kind === "invalid") continue;
    const json = JSON.stringify(e);
    if (item.injection === "duplicates") {
      assert.equal(item.meta.kind, "duplicate");
      assert.equal(sent.get(e.eventId), json, "a duplicate is an exact re-send");
    } else {
      assert.ok(!sent.has(e.eventId), `event id ${e.eventId} reused`);
      sent.set(e.eventId, json);
    }
  }
});

Deno.test("late and future events stay inside the consumer's window; too old and too new fall outside it", () => {
  items.forEach((item, i) => {
    if (!item.injection || item.meta.kind === "invalid" || item.meta.kind === "duplicate") return;
    const offset = Date.parse((item.event as Event).timestamp) - times[i]!;
    switch (item.injection) {
      case "late":
        assert.ok(offset <= -60_000 && offset >= -(86_400_000 - 3_600_000), `late ${offset}`);
        break;
      case "future":
        assert.ok(offset >= 0 && offset <= 150_000, `future ${offset}`);
        break;
      case "tooNew":
        assert.equal(item.meta.kind, "too_new");
        assert.ok(offset >= 300_000 + 600_000, `too new ${offset}`);
        break;
      case "tooOld":
        assert.equal(item.meta.kind, "too_old");
        assert.ok(offset <= -(86_400_000 + 3_600_000), `too old ${offset}`);
        break;
    }
  });
});

Deno.test("bots send bursts at inhuman rates from data-centre addresses", () => {
  const bots = new Map<string, number[]>();
  for (const item of of("bots")) {
    const e = item.event as Event;
    assert.match(e.userId, /^bot-/);
    assert.match(e.ipAddress!, /^203\.0\.113\./);
    bots.set(e.userId, [...(bots.get(e.userId) ?? []), Date.parse(e.timestamp)]);
  }
  assert.ok(bots.size >= 30);
  for (const [id, ts] of bots) {
    const perSecond = ts.length / Math.max(0.001, (ts.at(-1)! - ts[0]!) / 1000);
    assert.ok(perSecond > 5, `${id}: ${perSecond} events/s is a human pace`);
  }
});

Deno.test("fraud scenarios produce the four patterns", () => {
  const gen = createGenerator({ seed: 9, users: 500, products: 100 });
  const home = new Map(gen.users.map((u) => [u.userId, u]));
  const fraud = of("fraud").map((i) => i.event as Event);
  assert.ok(fraud.every((e) => e.eventType === "purchase"));
  const byIp = new Map<string, Set<string>>();
  const byUser = new Map<string, number>();
  for (const e of fraud) {
    byIp.set(e.ipAddress!, (byIp.get(e.ipAddress!) ?? new Set()).add(e.orderId!));
    byUser.set(e.userId, (byUser.get(e.userId) ?? 0) + 1);
  }
  assert.ok([...byIp.values()].some((orders) => orders.size >= 6), "many orders from one IP");
  assert.ok([...byUser.values()].some((n) => n >= 5), "purchase velocity");
  assert.ok(
    fraud.some((e) => home.get(e.userId)!.segment === "new" && e.price! * e.quantity! >= 500),
    "a high-value order from a new user",
  );
  assert.ok(fraud.some((e) => e.location.country !== home.get(e.userId)!.country), "far country");
});

Deno.test("rates outside [0, 1) or adding up to 1 are refused", () => {
  const gen = createGenerator({ seed: 1, users: 10, products: 5 });
  assert.throws(() => createEventSource(gen, { rates: { invalid: 1.5 } }), /must be in \[0, 1\)/);
  assert.throws(() => createEventSource(gen, { rates: { invalid: 0.6, late: 0.5 } }), /below 1/);
});
