import assert from "node:assert/strict";
import {
  billedBreakdown,
  billedChunks,
  billedRequests,
  messageBytes,
  perMillionEvents,
} from "./mod.ts";

const body = (n: number) => "x".repeat(n);

Deno.test("billedChunks() counts every started 64 KiB chunk and at least one request", () => {
  assert.equal(billedChunks(0), 1);
  assert.equal(billedChunks(1), 1);
  assert.equal(billedChunks(65_536), 1);
  assert.equal(billedChunks(65_537), 2);
  assert.equal(billedChunks(10 * 65_536), 10);
  assert.equal(billedChunks(256 * 1024), 4); // AWS's own example: a 256 KiB payload is 4 requests
});

Deno.test("messageBytes() counts the body's UTF-8 bytes and attribute names, types and values", () => {
  assert.equal(messageBytes({ Body: "abc" }), 3);
  assert.equal(messageBytes({ MessageBody: "é" }), 2);
  assert.equal(
    messageBytes({
      Body: "abc",
      MessageAttributes: {
        "ss-encoding": { DataType: "String", StringValue: "zstd+base64" },
        bin: { DataType: "Binary", BinaryValue: new Uint8Array(5) },
      },
    }),
    3 + (11 + 6 + 11) + (3 + 6 + 5),
  );
});

Deno.test("billedRequests() bills a batch send by the 64 KiB chunks of all its messages", () => {
  const entries = Array.from({ length: 10 }, () => ({ MessageBody: body(40 * 1024) }));
  assert.equal(billedRequests("SendMessageBatch", { Entries: entries }), 7); // 400 KiB
  assert.equal(billedRequests("SendMessageBatch", { Entries: entries.slice(0, 1) }), 1);
  const full = Array.from({ length: 10 }, () => ({ MessageBody: body(65_536) }));
  assert.equal(billedRequests("SendMessageBatch", { Entries: full }), 10);
  assert.equal(billedRequests("SendMessage", { MessageBody: body(65_537) }), 2);
});

Deno.test("billedRequests() bills a receive by what it returned, and an empty one as 1", () => {
  assert.equal(billedRequests("ReceiveMessage", {}, {}), 1);
  assert.equal(billedRequests("ReceiveMessage", {}, { Messages: [] }), 1);
  const three = Array.from({ length: 3 }, () => ({ Body: body(30_000) }));
  assert.equal(billedRequests("ReceiveMessage", {}, { Messages: three }), 2); // 90,000 bytes
  assert.equal(billedRequests("DeleteMessageBatch", { Entries: [{}, {}] }), 1);
  assert.equal(billedRequests("ChangeMessageVisibilityBatch", {}), 1);
  assert.equal(billedRequests("GetQueueAttributes", {}), 1);
});

Deno.test("billedBreakdown() groups operations and shows empty receives on their own", () => {
  const b = billedBreakdown({
    SendMessageBatch: 900,
    ReceiveMessage: 1000,
    DeleteMessageBatch: 150,
    ChangeMessageVisibilityBatch: 4,
    ChangeMessageVisibility: 1,
    GetQueueAttributes: 7,
  }, 40);
  assert.deepEqual(b, {
    sends: 900,
    receives: 960,
    emptyReceives: 40,
    deletes: 150,
    visibility: 5,
    other: 7,
  });
  assert.equal(perMillionEvents(2_062, 500_000), 4_124);
  assert.ok(Number.isNaN(perMillionEvents(1, 0)));
});
