/**
 * Every example event of the requirement documents, as written, through both ingestion paths:
 * `POST /v1/events`, and a plain JSON message on SQS (what a producer that is not ScaleStream's
 * sends) through a real consumer. Each must be stored, found by `GET /v1/events/{id}` and
 * counted by the analytics. The documents' text lives in `fixtures/`, copied verbatim:
 *
 * - seed 002's sample event, whose placeholders are expanded the way a reader (and the
 *   document's own Python producer) fills them: `"uuid"` is a fresh UUID, `a|b` is each
 *   alternative; plus that producer's variant (`uuid4()` id, `datetime.utcnow().isoformat()`:
 *   microseconds, no offset);
 * - seed 003's event schema (a field list in snake_case, no event id, no location): one event
 *   per listed event type, each field given a value of its declared type; `custom_properties`
 *   carries what the list has no field for (a purchase's price and quantity, a search's query).
 *
 * The strict contract's refusals are tested here too.
 */
import assert from "node:assert/strict";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { parse as parseYaml } from "yaml";
import { createApp, type EventStatus, type IngestResult } from "../api/mod.ts";
import { analyticsStages, createConsumer } from "../consumer/mod.ts";
import { decodeEvent, type Event, loadConfig, rejectInfo, revenueCents } from "../shared/mod.ts";
import { createTestDb, createTestSqs, eventually, testConfig } from "./harness.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** Event time of the documents' sample (2024-01-15T10:30Z); consumers run on that clock. */
const NOW_MS = Date.parse("2024-01-15T11:00:00Z");

/** Seed 002: the sample event with its placeholders expanded, and its producer's variant. */
function seed002Events(): Record<string, unknown>[] {
  const sample = JSON.parse(fixture("seed_002_sample_event.json")) as Record<string, unknown>;
  const types = String(sample.eventType).split("|");
  const devices = String(sample.deviceType).split("|");
  assert.equal(sample.eventId, "uuid", "the document's placeholder");
  assert.equal(types.length, 4);
  const out: Record<string, unknown>[] = types.map((eventType, i) => ({
    ...sample,
    eventId: crypto.randomUUID(),
    eventType,
    deviceType: devices[i % devices.length],
  }));
  // EventProducer.send_event(): eventId = str(uuid.uuid4()), timestamp = utcnow().isoformat().
  const { eventId: _, timestamp: __, ...eventData } = sample;
  out.push({
    ...eventData,
    eventType: "purchase",
    deviceType: "mobile",
    eventId: crypto.randomUUID(),
    timestamp: "2024-01-15T10:30:00.123456",
  });
  return out;
}

/** Seed 003: one event per listed event type, built from the field list's declared types. */
function seed003Events(runTag: string): Record<string, unknown>[] {
  const doc = parseYaml(fixture("seed_003_event_schema.yaml")) as {
    "Event Schema": Record<string, string>[];
  };
  const fields = Object.assign({}, ...doc["Event Schema"]) as Record<string, string>;
  const alternatives = (declared: string) => /\(([^)]*)\)/.exec(declared)![1]!.split(/,\s*/);
  const types = alternatives(fields.event_type!);
  const devices = alternatives(fields.device_type!);
  assert.deepEqual(types, ["page_view", "click", "purchase", "search"]);
  return types.map((type, i) => {
    const e: Record<string, unknown> = {};
    for (const [name, declared] of Object.entries(fields)) {
      if (name === "event_type") e[name] = type;
      else if (name === "device_type") e[name] = devices[i % devices.length];
      else if (declared === "ISO 8601") e[name] = `2024-01-15T10:3${i}:00Z`;
      else if (declared === "JSON object") e[name] = { experiment: "checkout-v2", run: runTag };
      else if (declared.includes("(optional)")) {
        if (type === "click" || type === "purchase") e[name] = "prod789";
      } else if (name === "ip_address") e[name] = "203.0.113.9";
      else if (name === "page_url") e[name] = "https://techmart.example/p/prod789";
      else if (name === "referrer") e[name] = "https://www.google.com/";
      else if (name === "user_agent") e[name] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)";
      else if (name === "category") e[name] = "electronics";
      else e[name] = `${name.replace(/_id$/, "")}-${runTag}`; // user_id, session_id
    }
    const props = e.custom_properties as Record<string, unknown>;
    if (type === "purchase") Object.assign(props, { price: 49.99, quantity: 2 });
    if (type === "search") props.search_query = "noise cancelling headphones";
    return e;
  });
}

/** What the test expects of each example: its id (sent or derived) and the decoded event. */
function expected(raw: readonly Record<string, unknown>[]): Event[] {
  return raw.map((r) => {
    const d = decodeEvent(r);
    assert.ok(d.ok, `${JSON.stringify(r)}: ${d.ok ? "" : d.reason}`);
    return d.event;
  });
}

async function statusOf(
  app: ReturnType<typeof createApp>,
  id: string,
): Promise<EventStatus | null> {
  const r = await app.request(`/v1/events/${id}`);
  if (r.status !== 200) {
    await r.body?.cancel();
    return null;
  }
  return await r.json();
}

/** Waits until every event is stored, then checks each one and the analytics. */
async function assertStoredAndCounted(
  app: ReturnType<typeof createApp>,
  events: readonly Event[],
): Promise<void> {
  const statuses = new Map<string, EventStatus>();
  assert.ok(
    await eventually(async () => {
      for (const e of events) {
        if (statuses.has(e.eventId)) continue;
        const s = await statusOf(app, e.eventId);
        if (s !== null) statuses.set(e.eventId, s);
      }
      return statuses.size === events.length;
    }, 60_000),
    `stored ${statuses.size} of ${events.length}`,
  );
  for (const e of events) {
    const s = statuses.get(e.eventId)!;
    assert.equal(s.status, "stored", `${e.eventId}: ${JSON.stringify(s.rejection)}`);
    assert.equal(s.event!.eventType, e.eventType);
    assert.equal(s.event!.userId, e.userId);
    assert.equal(s.event!.schemaVersion, 1);
    assert.equal(Date.parse(String(s.event!.timestamp)), Date.parse(e.timestamp));
  }

  const byType: Record<string, number> = {};
  for (const e of events) byType[e.eventType] = (byType[e.eventType] ?? 0) + 1;
  const revenue = events.reduce((sum, e) => sum + revenueCents(e), 0) / 100;
  const range = "from=2024-01-15T00:00:00Z&to=2024-01-16T00:00:00Z&window=1h";
  const counted = async () => {
    const traffic = await (await app.request(`/v1/metrics/traffic?${range}`)).json();
    const seen: Record<string, number> = {};
    for (const b of traffic.buckets as { byType: Record<string, number> }[]) {
      for (const [t, n] of Object.entries(b.byType)) if (n > 0) seen[t] = (seen[t] ?? 0) + n;
    }
    const money = await (await app.request(`/v1/metrics/revenue?${range}`)).json();
    let orders = 0;
    let sum = 0;
    for (const b of money.buckets as { orders: number; revenue: number }[]) {
      orders += b.orders;
      sum += b.revenue;
    }
    return { seen, orders, revenue: Math.round(sum * 100) / 100 };
  };
  let last: Awaited<ReturnType<typeof counted>> | undefined;
  const ok = await eventually(
    async () => {
      last = await counted();
      return JSON.stringify(last.seen) === JSON.stringify(sortKeys(byType)) &&
        last.revenue === revenue;
    },
    30_000,
    500,
  ); // the API caches an answer for up to 1 s
  assert.ok(ok, `analytics ${JSON.stringify(last)} != ${JSON.stringify({ byType, revenue })}`);
  assert.equal(last!.orders, byType.purchase ?? 0, "each purchase is an order");
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a < b ? -1 : 1));
}

async function pipeline() {
  const db = await createTestDb();
  const q = await createTestSqs();
  const config = testConfig();
  const app = createApp({ sql: db.sql, sqs: q.sqs, queueUrl: q.queueUrl, dlqUrl: q.dlqUrl });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config,
    workerId: "seed-events",
    stages: analyticsStages(loadConfig({})),
    now: () => NOW_MS,
  });
  consumer.start();
  return {
    db,
    q,
    app,
    async close() {
      await consumer.stop();
      await app.close();
      await q.close();
      await db.close();
    },
  };
}

Deno.test("every example event of the requirement documents is stored over HTTP, found by id and counted", async () => {
  const p = await pipeline();
  try {
    const raw = [...seed002Events(), ...seed003Events("http")];
    const res = await p.app.request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(raw),
    });
    const body: IngestResult = await res.json();
    assert.equal(res.status, 202, JSON.stringify(body));
    // Every id comes back, the derived ones (events sent without an id) included.
    assert.deepEqual(body, {
      accepted: raw.length,
      rejected: 0,
      errors: [],
      eventIds: expected(raw).map((e) => e.eventId),
    });
    assert.ok(raw.some((r) => r.eventId === undefined && r.event_id === undefined));
    await assertStoredAndCounted(p.app, expected(raw));

    // An exact retry of events without an id is stored once: the derived id is the same.
    const again = await p.app.request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(seed003Events("http")),
    });
    assert.equal(again.status, 202);
    await again.body?.cancel();
    const ids = expected(seed003Events("http")).map((e) => e.eventId);
    assert.ok(
      await eventually(async () => {
        const [r] = await p.db.sql<{ duplicates: number }[]>`
          select coalesce(sum(duplicates), 0)::int as duplicates from ingest_stats`;
        return r!.duplicates >= ids.length;
      }, 30_000),
      "the retry was not seen as duplicates",
    );
    const [n] = await p.db.sql<{ n: number }[]>`
      select count(*)::int as n from events where event_id = any(${ids}::uuid[])`;
    assert.equal(n!.n, ids.length);
  } finally {
    await p.close();
  }
});

Deno.test("every example event of the requirement documents is stored over SQS, found by id and counted", async () => {
  const p = await pipeline();
  try {
    const a = seed002Events();
    const b = seed003Events("sqs");
    // Plain JSON bodies, as any producer writes them: one array, and one event on its own.
    await p.q.sqs.send(
      new SendMessageCommand({ QueueUrl: p.q.queueUrl, MessageBody: JSON.stringify(a) }),
    );
    for (const e of b) {
      await p.q.sqs.send(
        new SendMessageCommand({ QueueUrl: p.q.queueUrl, MessageBody: JSON.stringify(e) }),
      );
    }
    await assertStoredAndCounted(p.app, expected([...a, ...b]));
  } finally {
    await p.close();
  }
});

Deno.test("a rejected example is found by the id it was sent with, or by its derived id", async () => {
  const p = await pipeline();
  try {
    const sample = JSON.parse(fixture("seed_002_sample_event.json"));
    // Unexpanded, the sample's placeholders are not an event: its id "uuid" and type "a|b|…".
    const noId = { ...seed003Events("rejected")[0]!, event_type: "teleport" };
    await p.q.sqs.send(
      new SendMessageCommand({
        QueueUrl: p.q.queueUrl,
        MessageBody: JSON.stringify([sample, noId]),
      }),
    );
    for (
      const [id, reason] of [["uuid", /eventType/], [rejectInfo(noId).key, /eventType/]] as const
    ) {
      let s: EventStatus | null = null;
      assert.ok(await eventually(async () => (s = await statusOf(p.app, id)) !== null, 30_000), id);
      assert.equal(s!.status, "rejected");
      assert.match(s!.rejection!.reason, reason);
    }
  } finally {
    await p.close();
  }
});

Deno.test("the strict contract refuses the examples that lack its required fields, over HTTP and SQS", async () => {
  const db = await createTestDb();
  const q = await createTestSqs();
  const app = createApp({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    dlqUrl: q.dlqUrl,
    eventContract: "strict",
  });
  const consumer = createConsumer({
    sql: db.sql,
    sqs: q.sqs,
    queueUrl: q.queueUrl,
    config: testConfig({ eventContract: "strict" }),
    workerId: "seed-strict",
    now: () => NOW_MS,
  });
  try {
    const raw = [...seed002Events(), ...seed003Events("strict")];
    const res = await app.request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(raw),
    });
    const body: IngestResult = await res.json();
    assert.equal(res.status, 202);
    // Strict: the sample's page_view lacks pageUrl, its purchase orderId, its search searchQuery;
    // the producer variant has no offset; seed 003's events have no eventId and no location.
    assert.deepEqual(body.errors.map((e) => e.index), [0, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(body.accepted, 1, "only the add_to_cart carries every strict field");
    assert.deepEqual(body.eventIds.map((id) => id !== null), raw.map((_, i) => i === 1));
    assert.match(body.errors.find((e) => e.index === 0)!.reason, /pageUrl/);
    assert.match(body.errors.find((e) => e.index === 4)!.reason, /timestamp/);
    assert.match(body.errors.find((e) => e.index === 5)!.reason, /eventId/);

    consumer.start();
    const noId = seed003Events("strict-sqs")[0]!;
    await q.sqs.send(
      new SendMessageCommand({ QueueUrl: q.queueUrl, MessageBody: JSON.stringify(noId) }),
    );
    let s: EventStatus | null = null;
    const key = rejectInfo(noId).key;
    assert.ok(await eventually(async () => (s = await statusOf(app, key)) !== null, 30_000));
    assert.equal(s!.status, "rejected");
    assert.match(s!.rejection!.reason, /eventId|location/);
  } finally {
    await consumer.stop();
    await app.close();
    await q.close();
    await db.close();
  }
});
