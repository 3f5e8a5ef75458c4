import assert from "node:assert/strict";
import { encodeEvent, packBody, packedSize, PoisonMessageError, unpackBody } from "./mod.ts";

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
    ]
  ) {
    assert.throws(() => unpackBody(body, enc), PoisonMessageError, `${body} ${enc}`);
  }
});
