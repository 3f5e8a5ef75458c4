import assert from "node:assert/strict";
import { createTestDb } from "../test/harness.ts";
import { type AcceptedEvent, createEnricher, UNKNOWN_SEGMENT } from "./mod.ts";
import { loadDimensions } from "../shared/mod.ts";
import { makeEvents } from "../test/consumer_support.ts";

const accepted = (n: number, seed = 3): AcceptedEvent[] =>
  makeEvents(n, seed).map((event) => ({ event, timeMs: Date.parse(event.timestamp) }));

Deno.test("enricher primes one query per batch, then serves repeats from its cache", async () => {
  const db = await createTestDb();
  try {
    await loadDimensions({
      users: [{ userId: "u-1", segment: "loyal" }, { userId: "u-2", segment: "new" }],
      products: [{ productId: "p-1", category: "books", price: 12.5 }],
    }, { sql: db.sql });
    let t = 1_000;
    const enricher = createEnricher({ sql: db.sql, ttlMs: 10_000, maxEntries: 1000, now: () => t });
    const events = accepted(500); // 200 users, 50 products: many events per key
    events[0]!.event.userId = "u-1";
    events[1]!.event.userId = "u-2";
    events[2]!.event.userId = "u-999999";
    const view = await enricher.prime(events);
    assert.equal(enricher.stats.queries, 1);
    assert.equal(view.segmentOf("u-1"), "loyal");
    assert.equal(view.segmentOf("u-2"), "new");
    assert.equal(view.segmentOf("u-999999"), UNKNOWN_SEGMENT);
    const keys = enricher.stats.misses;
    assert.ok(keys <= 250, `one miss per distinct key, got ${keys}`);

    await enricher.prime(events); // everything cached, absence included: no query
    assert.equal(enricher.stats.queries, 1);
    assert.equal(enricher.stats.misses, keys);
    assert.ok(enricher.stats.hits >= keys);

    t += 10_001; // expired: looked up again, in one query
    await enricher.prime(events);
    assert.equal(enricher.stats.queries, 2);
    assert.ok(enricher.stats.unknownUsers > 0, "events of unknown users are counted");
  } finally {
    await db.close();
  }
});

Deno.test("enricher cache stays under its size bound and the batch view stays complete", async () => {
  const db = await createTestDb();
  try {
    const events = accepted(400);
    const ids = [...new Set(events.map((e) => e.event.userId))];
    assert.ok(ids.length > 20);
    await loadDimensions({
      users: ids.map((userId) => ({ userId, segment: "returning" })),
    }, { sql: db.sql });
    const enricher = createEnricher({ sql: db.sql, ttlMs: 60_000, maxEntries: 10 });
    const view = await enricher.prime(events);
    assert.ok(enricher.size <= 20, `cache holds ${enricher.size} entries`);
    assert.ok(enricher.stats.evictions > 0);
    for (const { event } of events) assert.equal(view.segmentOf(event.userId), "returning");
  } finally {
    await db.close();
  }
});

Deno.test("enricher fills a missing category from the product dimension and keeps given ones", async () => {
  const db = await createTestDb();
  try {
    await loadDimensions({
      products: [{ productId: "p-7", category: "garden", price: 3 }],
    }, { sql: db.sql });
    const enricher = createEnricher({ sql: db.sql, ttlMs: 60_000, maxEntries: 100 });
    const [a, b, c] = accepted(3);
    a!.event.productId = "p-7";
    delete a!.event.category;
    b!.event.productId = "p-7";
    b!.event.category = "from-event";
    c!.event.productId = "p-missing";
    delete c!.event.category;
    const view = await enricher.prime([a!, b!, c!]);
    assert.equal(view.apply([a!, b!, c!]), 1);
    assert.equal(a!.event.category, "garden");
    assert.equal(b!.event.category, "from-event");
    assert.equal(c!.event.category, undefined);
    assert.equal(enricher.stats.unknownProducts, 1);
  } finally {
    await db.close();
  }
});
