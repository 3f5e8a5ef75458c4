import assert from "node:assert/strict";
import { decodeEvent, EVENT_SCHEMA_VERSION, EventSchema } from "../../shared/mod.ts";
import {
  backoffMs,
  createTracker,
  detectDeviceType,
  EVENT_FIELDS,
  SCHEMA_VERSION,
  SESSION_TIMEOUT_MS,
  uuidv7,
} from "./v1.js";

/** localStorage's interface over a Map, shared by "reloads" of a page. */
function memoryStorage(): Storage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    get length() {
      return data.size;
    },
    clear: () => data.clear(),
    getItem: (k: string) => data.get(k) ?? null,
    key: (i: number) => [...data.keys()][i] ?? null,
    removeItem: (k: string) => void data.delete(k),
    setItem: (k: string, v: string) => void data.set(k, v),
  };
}

interface Posted {
  url: string;
  events: Record<string, unknown>[];
}

/** A fetch that records requests and answers with the given statuses in turn (then 202). */
function recordingFetch(statuses: number[] = []) {
  const posted: Posted[] = [];
  const fetch = (url: string | URL | Request, init?: RequestInit) => {
    const events = JSON.parse(String(init?.body));
    posted.push({ url: String(url), events });
    const status = statuses.shift() ?? 202;
    const body = status === 202
      ? JSON.stringify({ accepted: events.length, rejected: 0, errors: [] })
      : "{}";
    return Promise.resolve(new Response(body, { status }));
  };
  return { posted, fetch: fetch as typeof globalThis.fetch };
}

const base = {
  endpoint: "https://api.example",
  key: "spk_test",
  autoPageView: false,
  flushIntervalMs: 3_600_000,
  location: { country: "GB", region: "England" },
  deviceType: "desktop" as const,
  onError: () => {},
};

Deno.test("tracker events pass the API's event schema, contract fields lifted, the rest in properties", () => {
  const seen: Record<string, unknown>[] = [];
  const t = createTracker({
    ...base,
    storage: memoryStorage(),
    onEvent: (e: Record<string, unknown>) => seen.push(e),
  });
  try {
    t.page("https://shop.example/");
    t.track("add_to_cart", {
      productId: "sku-1",
      category: "shoes",
      price: 59.9,
      quantity: 1,
      colour: "red",
    });
    t.track("purchase", {
      productId: "sku-1",
      category: "shoes",
      price: 59.9,
      quantity: 1,
      orderId: "o-1",
    });
    t.track("search", { searchQuery: "red shoes" });
    for (const e of seen) {
      const decoded = decodeEvent(e);
      assert.ok(decoded.ok, `${e.eventType}: ${decoded.ok ? "" : decoded.reason}`);
      assert.match(String(e.eventId), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-/);
    }
    assert.equal(seen[1]!.productId, "sku-1");
    assert.deepEqual(seen[1]!.properties, { anonymousId: t.state().anonymousId, colour: "red" });
  } finally {
    t.close();
  }
});

Deno.test("the tracker's contract field names are fields of the shared event schema", () => {
  const shape = Object.keys(EventSchema.shape);
  for (const f of EVENT_FIELDS) assert.ok(shape.includes(f), `"${f}" is not in the schema`);
  assert.equal(SCHEMA_VERSION, EVENT_SCHEMA_VERSION);
});

Deno.test("the session id survives 29 minutes of quiet and renews after 30; the anonymous id persists across reloads", () => {
  const storage = memoryStorage();
  let now = Date.parse("2026-11-30T10:00:00Z");
  const opts = { ...base, storage, now: () => now };
  const first = createTracker(opts);
  first.track("search", { searchQuery: "a" });
  const { sessionId, anonymousId } = first.state();
  first.close();
  now += SESSION_TIMEOUT_MS - 60_000;
  const reloaded = createTracker(opts);
  reloaded.track("search", { searchQuery: "b" });
  assert.equal(reloaded.state().sessionId, sessionId);
  assert.equal(reloaded.state().anonymousId, anonymousId);
  now += SESSION_TIMEOUT_MS;
  reloaded.track("search", { searchQuery: "c" });
  assert.notEqual(reloaded.state().sessionId, sessionId);
  reloaded.identify("customer-7");
  assert.equal(reloaded.state().userId, "customer-7");
  reloaded.reset();
  assert.notEqual(reloaded.state().anonymousId, anonymousId);
  assert.equal(reloaded.state().userId, reloaded.state().anonymousId);
  reloaded.close();
});

Deno.test("flush() sends batches with the key in the URL; a 503 keeps the events queued for a retry, even across a reload", async () => {
  const storage = memoryStorage();
  const net = recordingFetch([503]);
  const t = createTracker({ ...base, storage, fetch: net.fetch, batchSize: 2 });
  const ids = [1, 2, 3].map((i) => t.track("search", { searchQuery: `q${i}` }));
  // batchSize 2 reached: the third track started a flush of the first two, which got the 503.
  await t.flush();
  assert.equal(net.posted.length, 1);
  assert.equal(net.posted[0]!.url, "https://api.example/v1/events?key=spk_test");
  assert.equal(t.state().queued, 3, "nothing is lost on a 503");
  t.close();

  const reloaded = createTracker({ ...base, storage, fetch: net.fetch, batchSize: 2 });
  await reloaded.flush();
  const sent = net.posted.slice(1).flatMap((p) => p.events.map((e) => e.eventId));
  assert.deepEqual(sent, ids);
  assert.equal(reloaded.state().queued, 0);
  reloaded.close();
});

Deno.test("a refused request (400) is dropped and reported, not retried forever", async () => {
  const errors: string[] = [];
  const net = recordingFetch([400]);
  const t = createTracker({
    ...base,
    storage: memoryStorage(),
    fetch: net.fetch,
    onError: (e: Error) => errors.push(e.message),
  });
  t.track("search", { searchQuery: "x" });
  await t.flush();
  assert.equal(t.state().queued, 0);
  assert.match(errors[0] ?? "", /refused 1 events: 400/);
  t.close();
});

Deno.test("the offline queue is bounded: the oldest events go first", async () => {
  const errors: string[] = [];
  const storage = memoryStorage();
  const offline = createTracker({
    ...base,
    storage,
    maxQueue: 5,
    batchSize: 500,
    onError: (e: Error) => errors.push(e.message),
  });
  const ids = Array.from({ length: 8 }, (_, i) => offline.track("search", { searchQuery: `${i}` }));
  assert.equal(offline.state().queued, 5);
  assert.ok(errors.some((m) => /dropped the 1 oldest/.test(m)));
  offline.close();
  const net = recordingFetch();
  const online = createTracker({ ...base, storage, fetch: net.fetch });
  await online.flush();
  assert.deepEqual(net.posted.flatMap((p) => p.events.map((e) => e.eventId)), ids.slice(3));
  online.close();
});

Deno.test("backoff doubles from the minimum, stays within [half, full] and is capped", () => {
  const lo = { minMs: 1000, maxMs: 8000, random: () => 0 };
  const hi = { ...lo, random: () => 1 };
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => backoffMs(a, hi)), [1000, 2000, 4000, 8000, 8000]);
  assert.deepEqual([1, 2, 3].map((a) => backoffMs(a, lo)), [500, 1000, 2000]);
});

Deno.test("uuidv7 puts the time first and sets version and variant; device types from user agents", () => {
  const id = uuidv7(Date.UTC(2026, 10, 30));
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(id.replace(/-/g, "").slice(0, 12), 16), Date.UTC(2026, 10, 30));
  assert.ok(uuidv7(1) < uuidv7(2));
  const ua = (userAgent: string) => detectDeviceType({ userAgent });
  assert.equal(
    ua("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"),
    "mobile",
  );
  assert.equal(ua("Mozilla/5.0 (Linux; Android 14; SM-X710) Safari/537.36"), "tablet");
  assert.equal(ua("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36"), "mobile");
  assert.equal(ua("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"), "desktop");
});

Deno.test("without a configured location the tracker's events are accepted, counted under an unknown country", () => {
  const seen: Record<string, unknown>[] = [];
  const { location: _location, ...rest } = base;
  const t = createTracker({
    ...rest,
    storage: memoryStorage(),
    onEvent: (e: Record<string, unknown>) => seen.push(e),
  });
  try {
    t.page("https://shop.example/");
    const decoded = decodeEvent(seen[0]);
    assert.ok(decoded.ok, decoded.ok ? "" : decoded.reason);
    assert.equal(seen[0]!.location, undefined);
    assert.equal(decoded.event.location.country, "unknown");
  } finally {
    t.close();
  }
});
