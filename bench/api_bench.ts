/**
 * Handler costs of the API through `app.request()` (no HTTP sockets), on a real PostgreSQL schema
 * and a real fauxqs queue. HTTP load figures (autocannon) are the load test's job.
 *
 *   deno bench -A bench/api_bench.ts
 */
import { createApp, eventStatus } from "../api/mod.ts";
import { createGenerator } from "../producer/mod.ts";
import { applyEventAliases, validateEvent } from "../shared/mod.ts";
import { createTestDb, createTestSqs } from "../test/harness.ts";

const db = await createTestDb();
const q = await createTestSqs();
const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl, dlqUrl: q.dlqUrl });
globalThis.addEventListener("unload", () => {
  void app.close().then(() => Promise.all([q.close(), db.close()]));
});

const gen = createGenerator({ seed: 11, users: 500, products: 200 });
const batch = () => Array.from({ length: 500 }, (_, i) => gen.next(Date.now() - i));
const body500 = JSON.stringify(batch());
const snake500 = batch().map(({ eventId, userId, sessionId, eventType, deviceType, ...rest }) => ({
  event_id: eventId,
  user_id: userId,
  session_id: sessionId,
  event_type: eventType,
  device_type: deviceType,
  ...rest,
}));
const [stored] = batch();
await db.sql`
  insert into events (event_id, event_time, event_type, user_id, session_id, device_type, country,
                      region, ip_address)
  values (${stored!.eventId}, ${stored!.timestamp}, ${stored!.eventType}, ${stored!.userId},
          ${stored!.sessionId}, ${stored!.deviceType}, ${stored!.location.country},
          ${stored!.location.region}, '203.0.113.9')`;

Deno.bench("validate 500 events with aliases (no I/O)", { group: "ingest" }, () => {
  for (const e of snake500) {
    if (!validateEvent(applyEventAliases(e)).ok) throw new Error("invalid");
  }
});

Deno.bench(
  "POST /v1/events, 500 events, until fauxqs acknowledged",
  { group: "ingest" },
  async () => {
    const res = await app.request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body500,
    });
    if (res.status !== 202) throw new Error(`status ${res.status}`);
    await res.body?.cancel();
  },
);

Deno.bench("GET /health", { group: "read" }, async () => {
  const res = await app.request("/health");
  await res.body?.cancel();
});

Deno.bench("GET /v1/events/{id} (stored)", { group: "read" }, async () => {
  const res = await app.request(`/v1/events/${stored!.eventId}`);
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  await res.body?.cancel();
});

Deno.bench("eventStatus() without HTTP", { group: "read" }, async () => {
  await eventStatus({ eventId: stored!.eventId }, { sql: db.sql });
});

Deno.bench(
  "GET /v1/pipeline/status (PostgreSQL + 2 GetQueueAttributes)",
  { group: "read" },
  async () => {
    const res = await app.request("/v1/pipeline/status");
    await res.body?.cancel();
  },
);

Deno.bench("GET /openapi.json", { group: "read" }, async () => {
  const res = await app.request("/openapi.json");
  await res.body?.cancel();
});
