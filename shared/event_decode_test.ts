import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkInputLimits,
  decodeEvent,
  decodeUtf8,
  INPUT_LIMITS,
  jsonChunks,
  parseEventBatch,
  PoisonMessageError,
  printable,
  rejectInfo,
  unpackBody,
} from "./mod.ts";
import { fuzzParams } from "../test/fuzz_params.ts";

const base = {
  eventId: "7d0c5a4e-3b1f-4c2a-9e8d-1f2a3b4c5d6e",
  userId: "user123",
  sessionId: "session456",
  eventType: "page_view",
  timestamp: "2024-01-15T10:30:00Z",
  pageUrl: "/",
  deviceType: "mobile",
  location: { country: "US", region: "CA" },
};

const deep = (n: number) => JSON.parse('{"a":'.repeat(n) + "1" + "}".repeat(n));

Deno.test("checkInputLimits() names the first limit an event breaks, with its path, without recursion", () => {
  assert.equal(checkInputLimits(base), null);
  const cases: [unknown, RegExp][] = [
    [{ ...base, properties: deep(100_000) }, /^properties(\.a){15}: nests deeper than 16 levels$/],
    [JSON.parse("[".repeat(200_000) + "]".repeat(200_000)), /^(\[0\]){16}: nests deeper/],
    [{ ...base, properties: { "\u0000": 1 } }, /^properties: key "\\u0000" contains U\+0000/],
    [{ ...base, properties: { a: [1, "x\u0000"] } }, /^properties\.a\[1\]: contains U\+0000/],
    [{ ...base, userId: "\ud83d" }, /^userId: contains a lone surrogate/],
    [{ ...base, ["\udc00k"]: 1 }, /^\(event\): key "\\udc00k" contains a lone surrogate/],
    [{ ...base, pageUrl: "x".repeat(9000) }, /^pageUrl: is longer than 8192/],
    [
      { ...base, properties: { a: "x".repeat(8000), b: "y".repeat(8000), c: "z".repeat(900) } },
      /^properties: is larger than 16384/,
    ],
    [
      {
        ...base,
        properties: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`k${i}`, i])),
      },
      /^properties: has more than 200 keys/,
    ],
    [
      { ...base, properties: { a: Array.from({ length: 6000 }, () => 1) } },
      /has more than 5000 values/,
    ],
  ];
  for (const [value, reason] of cases) {
    assert.match(checkInputLimits(value) ?? "(none)", reason);
  }
});

Deno.test("decodeEvent() turns every limit, NUL and surrogate into a reason, maps aliases, and never throws", () => {
  assert.equal(decodeEvent(base).ok, true);
  const snake = decodeEvent({
    event_id: base.eventId,
    user_id: "u1",
    session_id: "s1",
    event_type: "page_view",
    timestamp: base.timestamp,
    page_url: "/",
    device_type: "desktop",
    country: "DE",
    region: "BE",
  });
  assert.equal(snake.ok, true);
  for (
    const v of [{ ...base, properties: deep(10_000) }, { ...base, properties: { "\u0000": 1 } }]
  ) {
    const r = decodeEvent(v);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && !r.reason.includes("\u0000"));
  }
});

Deno.test("parseEventBatch(), decodeUtf8() and unpackBody(): only unreadable bodies are poison", () => {
  assert.deepEqual(parseEventBatch('{"a":1}'), [{ a: 1 }]);
  assert.equal(parseEventBatch("[" + "[".repeat(100_000) + "]".repeat(100_000) + "]").length, 1);
  for (const bad of ["", "{", "1", "null", '"x"']) {
    assert.throws(() => parseEventBatch(bad), PoisonMessageError, bad);
  }
  assert.throws(() => decodeUtf8(new Uint8Array([0x7b, 0xff, 0x7d])), /not valid UTF-8/);
  assert.throws(() => unpackBody("H4sIAAAAAAAAA/v/HwAAAP//", "gzip+base64"), PoisonMessageError);
});

Deno.test("rejectInfo(): the key is the event's UUID, else a v8 UUID of the payload's SHA-256, stable across re-sends", () => {
  const withId = rejectInfo({ ...base, eventType: "teleport" });
  assert.equal(withId.key, base.eventId);
  assert.equal(withId.eventId, base.eventId);
  assert.equal(withId.eventType, "teleport");

  const noId = { userId: "u", eventType: "page_view" };
  const a = rejectInfo(noId);
  const b = rejectInfo(JSON.parse(JSON.stringify(noId)));
  assert.match(a.key, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(a.key, b.key, "the same payload, the same key");
  assert.equal(a.eventId, a.key, "findable by its key");
  assert.notEqual(rejectInfo({ ...noId, userId: "v" }).key, a.key);
  assert.notEqual(rejectInfo({ ...noId, eventId: "not-a-uuid" }).key, a.key);
  assert.equal(rejectInfo({ ...noId, eventId: "a\u0000b" }).eventId, "a\\u0000b");

  const huge = rejectInfo(deep(100_000));
  assert.match(huge.payload, /…\(truncated from 600001 chars\)$/);
  assert.equal(huge.key, rejectInfo(deep(100_000)).key);
});

Deno.test("jsonChunks() writes exactly what JSON.stringify writes, for any JSON value (property)", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (value, s) => {
      assert.equal([...jsonChunks(value)].join(""), JSON.stringify(value));
      assert.equal(
        [...jsonChunks({ [s]: [s, { s }] })].join(""),
        JSON.stringify({ [s]: [s, { s }] }),
      );
    }),
    fuzzParams("jsonChunks", 300),
  );
});

Deno.test("printable() escapes NUL, control characters and lone surrogates, and keeps pairs", () => {
  assert.equal(printable("a\u0000b\ud800c😀\n"), "a\\u0000b\\ud800c😀\\u000a");
  assert.equal(printable("x".repeat(100), 5), "xxxxx…");
  assert.equal(printable("ab😀", 3), "ab\\ud83d…");
  assert.ok(INPUT_LIMITS.maxDepth >= 8);
});

Deno.test("decodeEvent() keeps a __proto__ key a key: its fields never count as the event's", () => {
  const inherited = decodeEvent(
    JSON.parse(
      '{"__proto__": {"userId": "x", "price": 5, "quantity": 1}, "eventType": "purchase", "timestamp": "2024-01-15T10:30:00Z"}',
    ),
  );
  assert.equal(inherited.ok, false);
  const kept = decodeEvent(
    JSON.parse(
      '{"__proto__": {"a": 1}, "userId": "u", "eventType": "page_view", "timestamp": "2024-01-15T10:30:00Z"}',
    ),
  );
  assert.ok(kept.ok, kept.ok ? "" : kept.reason);
  assert.equal(Object.getPrototypeOf(kept.event), Object.prototype);
  assert.deepEqual(JSON.parse(JSON.stringify(kept.event.properties)), { ["__proto__"]: { a: 1 } });
  assert.equal(kept.event.userId, "u");
});
