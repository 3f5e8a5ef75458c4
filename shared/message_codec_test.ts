import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import {
  BODY_ENCODINGS,
  encodeEvent,
  MAX_DECODED_BODY_BYTES,
  packBody,
  packedSize,
  PoisonMessageError,
  unpackBody,
} from "./mod.ts";

Deno.test("encodeEvent() escapes emoji and other non-ASCII so length equals bytes", () => {
  const e = { searchQuery: "cadeau 🎁 für Oma", n: 1 };
  const encoded = encodeEvent(e);
  assert.ok([...encoded].every((c) => c.charCodeAt(0) < 128));
  assert.equal(new TextEncoder().encode(encoded).length, encoded.length);
  assert.deepEqual(JSON.parse(encoded), e);
});

Deno.test("packBody() and unpackBody() round-trip, plain and gzip", () => {
  const events = [{ a: 1 }, { b: "😀" }];
  const encoded = events.map(encodeEvent);
  const plain = packBody(encoded);
  assert.equal(plain.length, packedSize(encoded.reduce((s, x) => s + x.length, 0), 2));
  assert.deepEqual(unpackBody(plain, "json"), events);
  assert.deepEqual(unpackBody(packBody(encoded, "gzip+base64"), "gzip+base64"), events);
});

Deno.test("unpackBody() treats a single object as a batch of one", () => {
  assert.deepEqual(unpackBody('{"x":1}', undefined), [{ x: 1 }]);
});

Deno.test("unpackBody() throws PoisonMessageError for unreadable bodies", () => {
  for (
    const [body, enc] of [
      ["", undefined],
      ["{nope", "json"],
      ["42", "json"],
      ["!!", "gzip+base64"],
      ["[]", "zstd"],
      ["!!", "zstd+base64"],
      ["aGVsbG8=", "zstd+base64"],
    ]
  ) {
    assert.throws(() => unpackBody(body, enc), PoisonMessageError, `${body} ${enc}`);
  }
});

Deno.test("every body encoding round-trips emoji-bearing events and stays ASCII", () => {
  const events = Array.from({ length: 300 }, (_, i) => ({ i, q: `cadeau 🎁 n°${i}`, n: i % 7 }));
  const encoded = events.map(encodeEvent);
  const sizes: Record<string, number> = {};
  for (const enc of BODY_ENCODINGS) {
    const body = packBody(encoded, enc);
    assert.ok(/^[\x20-\x7e]*$/.test(body), enc);
    assert.deepEqual(unpackBody(body, enc), events, enc);
    sizes[enc] = body.length;
  }
  assert.ok(sizes["zstd+base64"]! < sizes["json"]! / 3, JSON.stringify(sizes));
  assert.ok(sizes["gzip+base64"]! < sizes["json"]! / 3, JSON.stringify(sizes));
});

Deno.test("unpackBody() refuses a compressed body that expands past the limit", () => {
  const huge = Buffer.alloc(MAX_DECODED_BODY_BYTES + 1024, 0x20);
  for (
    const [enc, bytes] of [
      ["zstd+base64", zstdCompressSync(huge)],
      ["gzip+base64", gzipSync(huge)],
    ] as const
  ) {
    assert.ok(bytes.length < 100_000);
    assert.throws(() => unpackBody(bytes.toString("base64"), enc), PoisonMessageError, enc);
  }
});
