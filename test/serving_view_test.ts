/**
 * Push, not poll: the dashboard's default view reaches every `/v1/stream` subscriber as
 * `event: view` frames computed once per interval for all of them, equal to what the API answers
 * for the same reads.
 */
import assert from "node:assert/strict";
import { createApp, createLivePoller, createResponseCache } from "../api/mod.ts";
import { createDefaultViewReader } from "../api/live_view.ts";
import { flushAll, seededEvents } from "./analytics_fixtures.ts";
import { createTestDb } from "./harness.ts";

/** Reads SSE frames from a response until `count` `event: view` frames arrived. */
async function viewFrames(res: Response, count: number) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const frames: Record<string, unknown>[] = [];
  while (frames.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      if (!block.includes("event: view")) continue;
      frames.push(JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null"));
    }
  }
  await reader.cancel();
  return frames;
}

Deno.test("the stream pushes the default view to every viewer, read once per interval", async () => {
  const db = await createTestDb();
  const now = Date.now();
  const { events } = seededEvents(1500, now - 50 * 60_000, 45 * 60_000, { users: 120 });
  await flushAll(db.sql, events);
  const cache = createResponseCache();
  const reader = createDefaultViewReader({ sql: db.sql, cache });
  let reads = 0;
  const view = createLivePoller({
    intervalMs: 300,
    event: "view",
    read: () => (reads++, reader()),
  });
  const app = createApp({ sql: db.sql, cache, view, streamIntervalMs: 60_000 });
  try {
    const viewers = 25;
    const responses = await Promise.all(
      Array.from({ length: viewers }, () => app.request("/v1/stream")),
    );
    const frames = await Promise.all(responses.map((r) => viewFrames(r, 2)));
    // Every viewer got two frames; the server read the view about once per interval for all.
    assert.ok(frames.every((f) => f.length === 2));
    assert.ok(reads < viewers / 2, `read ${reads} times for ${viewers} viewers`);
    const v = frames[0]![1]! as Record<string, { buckets?: unknown[]; categories?: unknown[] }>;
    assert.equal(v.window, "1m");
    assert.ok((v.traffic!.buckets?.length ?? 0) > 30);
    assert.ok((v.topCategories!.categories?.length ?? 0) > 0);
    assert.ok(Object.keys(v.revenueByCategory!).length > 0);
    // The pushed answers are the API's answers for the same reads (same cache keys).
    const res = await app.request("/v1/metrics/traffic");
    assert.equal(res.status, 200);
    const polled = await res.json();
    if (polled.range.to === (v.traffic as unknown as { range: { to: string } }).range.to) {
      assert.deepEqual(polled.buckets, v.traffic!.buckets);
    }
  } finally {
    await app.close();
    await db.close();
  }
});
