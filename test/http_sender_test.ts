/** The HTTP sender against a small real server implementing the ingestion contract. */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createHttpSender, retryAfterMs, validateEvent } from "../shared/mod.ts";
import {
  createEventSource,
  createGenerator,
  createLedger,
  type SentMeta,
} from "../producer/mod.ts";

/** `POST /v1/events` as the API promises it; answers 503, then 429 with Retry-After, then 202. */
function startIngestServer(key: string) {
  const received: unknown[] = [];
  const batchSizes: number[] = [];
  let requests = 0;
  const app = new Hono();
  app.post("/v1/events", async (c) => {
    requests++;
    if (c.req.header("x-api-key") !== key) return c.json({ error: "unauthorized" }, 401);
    if (requests === 1) return c.json({ error: "down" }, 503);
    if (requests === 2) return c.json({ error: "slow down" }, 429, { "retry-after": "0.05" });
    const body = await c.req.json() as unknown[];
    batchSizes.push(body.length);
    const errors: { index: number; reason: string }[] = [];
    body.forEach((v, index) => {
      const r = validateEvent(v);
      if (r.ok) received.push(v);
      else errors.push({ index, reason: r.reason });
    });
    return c.json({ accepted: body.length - errors.length, rejected: errors.length, errors }, 202);
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/events`,
    received,
    batchSizes,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

/** An HTTP sender that records every event's result in a ledger, as `produce --target http` does. */
function ledgerSender(url: string, apiKey: string, maxInflightRequests: number) {
  const ledger = createLedger();
  const sender = createHttpSender<SentMeta>({
    url,
    apiKey,
    lingerMs: 5,
    maxInflightRequests,
    minRetryDelayMs: 1,
    onAck: (m) => ledger.acked(m),
    onReject: (m) => ledger.rejectedByApi(m),
    onFail: (m) => ledger.failed(m),
  });
  return { ledger, sender };
}

Deno.test("the HTTP sender posts batches of at most 500, retries 429/5xx and counts per the answer", async () => {
  const server = startIngestServer("k1");
  try {
    const { ledger, sender } = ledgerSender(server.url, "k1", 1);
    const gen = createGenerator({ seed: 5, users: 50, products: 10 });
    const source = createEventSource(gen, { rates: { invalid: 0.05 } });
    let invalid = 0;
    for (let i = 0; i < 1800; i++) {
      const { event, meta } = source.next(Date.now());
      if (meta.kind === "invalid") invalid++;
      await sender.send(event, meta);
    }
    await sender.flush();
    const totals = ledger.totals();
    assert.equal(totals.failed, 0);
    assert.equal(totals.rejectedByApi, invalid);
    assert.equal(sender.stats.rejectedEvents, invalid);
    assert.equal(sender.stats.ackedEvents, server.received.length);
    assert.equal(totals.accepted, server.received.length);
    assert.equal(totals.accepted + totals.rejectedByApi, 1800);
    assert.ok(server.batchSizes.every((n) => n <= 500), `batches ${server.batchSizes}`);
    assert.ok(sender.stats.retriedEntries > 0, "the first batch was retried");
  } finally {
    await server.close();
  }
});

Deno.test("a refused batch (401) fails at once instead of retrying", async () => {
  const server = startIngestServer("right");
  try {
    const { ledger, sender } = ledgerSender(server.url, "wrong", 2);
    const gen = createGenerator({ seed: 5, users: 5, products: 5 });
    for (let i = 0; i < 10; i++) {
      const e = gen.next(Date.now());
      await sender.send(e, { kind: "unique", eventType: e.eventType, revenueCents: 0 });
    }
    await sender.flush();
    assert.equal(ledger.totals().failed, 10);
    assert.equal(server.requests(), 1);
  } finally {
    await server.close();
  }
});

Deno.test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(retryAfterMs("2"), 2000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 7_000), 3000);
  assert.equal(retryAfterMs("9999"), 60_000);
  assert.equal(retryAfterMs(null), undefined);
  assert.equal(retryAfterMs("soon"), undefined);
});
