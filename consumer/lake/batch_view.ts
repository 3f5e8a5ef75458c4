/**
 * The batch view: recompute a day's aggregates from the lake and compare them with what the
 * stream wrote to PostgreSQL. The stream's rollups are exact by construction, the lake is exact by
 * its own protocol; two independent paths agreeing is the evidence, and any difference (a lost
 * export, a double-counted flush, a hand-edited row) is reported: logged, stored for the API's
 * `/v1/lake/status`, and counted by the `scalestream_lake_batch_view_differences` gauge.
 *
 * The check is exact at any time, not only once the day is exported: in one PostgreSQL snapshot it
 * reads the export watermark, the stream's totals and the totals of the events not yet exported
 * (batch_id ≥ watermark), and from the lake it counts only batch_id < watermark.
 */
import { type BatchCheck, getLogger, type Logger, type Sql, type Tx } from "../../shared/mod.ts";
import type { S3Client } from "./lake_s3.ts";
import { openLakeDb } from "./duckdb_lake.ts";
import { syncLake } from "./sync_lake.ts";

const defaultLog = getLogger(["scalestream", "lake", "batch"]);

export interface BatchViewDeps {
  sql: Sql;
  s3: S3Client;
  bucket: string;
  prefix?: string;
  cacheDir: string;
  log?: Logger;
}

/** Totals of one (hour, event type) of a day. */
export interface HourTotals {
  hour: number;
  event_type: string;
  events: number;
  units: number;
  revenue_cents: number;
}

/**
 * The stream's totals of the UTC day [from, to) by hour and event type, from the minute rollup
 * the flush writes. This is the one query to change when the serving tables change.
 */
export function streamDayTotals(tx: Tx, from: Date, to: Date): Promise<HourTotals[]> {
  return tx<HourTotals[]>`
    select extract(hour from bucket)::int as hour, event_type,
           sum(events)::bigint as events, sum(units)::bigint as units,
           sum(revenue_cents)::bigint as revenue_cents
    from agg_minute
    where bucket >= ${from} and bucket < ${to}
    group by 1, 2`;
}

/** The same totals over raw events not yet exported (the rollups already count them). */
function unexportedDayTotals(tx: Tx, watermark: number, from: Date, to: Date) {
  return tx<HourTotals[]>`
    select extract(hour from event_time)::int as hour, event_type, count(*)::bigint as events,
           coalesce(sum(coalesce(quantity, 0)), 0)::bigint as units,
           coalesce(sum(case when event_type = 'purchase'
                        then coalesce(price_cents, 0) * coalesce(quantity, 1) else 0 end), 0)::bigint
             as revenue_cents
    from events
    where batch_id >= ${watermark} and event_time >= ${from} and event_time < ${to}
    group by 1, 2`;
}

const FIELDS = [
  ["events", "events"],
  ["units", "units"],
  ["revenueCents", "revenue_cents"],
] as const;

/** Checks one UTC day (YYYY-MM-DD); stores and returns the result. */
export async function checkDay(day: string, deps: BatchViewDeps): Promise<BatchCheck> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) {
    throw new RangeError(`Day "${day}" is not a YYYY-MM-DD date`);
  }
  const log = deps.log ?? defaultLog;
  const from = new Date(`${day}T00:00:00Z`);
  const to = new Date(from.getTime() + 86_400_000);
  const snapshot = await deps.sql.begin("isolation level repeatable read read only", async (tx) => {
    const [state] = await tx<{ watermark: number }[]>`select watermark from lake_state`;
    const watermark = state!.watermark;
    const stream = await streamDayTotals(tx, from, to);
    const unexported = await unexportedDayTotals(tx, watermark, from, to);
    return { watermark, stream, unexported };
  });
  await syncLake(deps, { cacheDir: deps.cacheDir, fromDay: day, toDay: day });
  const db = await openLakeDb(deps.cacheDir);
  let lakeRows: unknown[][];
  try {
    lakeRows = (await db.query(`
      select hour(event_time) as hour, event_type, count(*) as events,
             coalesce(sum(coalesce(quantity, 0)), 0) as units,
             coalesce(sum(case when event_type = 'purchase'
                          then coalesce(price_cents, 0) * coalesce(quantity, 1) else 0 end), 0)
               as revenue_cents
      from events
      where dt = DATE '${day}' and batch_id < ${Number(snapshot.watermark)}
      group by all`)).rows;
  } finally {
    db.close();
  }

  const key = (hour: number, type: string) => `${hour}|${type}`;
  const lake = new Map<string, HourTotals>();
  let lakeEvents = 0;
  const add = (t: HourTotals) => {
    const k = key(t.hour, t.event_type);
    const cur = lake.get(k) ??
      { hour: t.hour, event_type: t.event_type, events: 0, units: 0, revenue_cents: 0 };
    cur.events += Number(t.events);
    cur.units += Number(t.units);
    cur.revenue_cents += Number(t.revenue_cents);
    lake.set(k, cur);
  };
  for (const [hour, event_type, events, units, revenue_cents] of lakeRows) {
    lakeEvents += Number(events);
    add({
      hour: Number(hour),
      event_type: String(event_type),
      events: Number(events),
      units: Number(units),
      revenue_cents: Number(revenue_cents),
    });
  }
  for (const t of snapshot.unexported) add(t);
  const stream = new Map(snapshot.stream.map((t) => [key(t.hour, t.event_type), t]));
  const keys = [...new Set([...stream.keys(), ...lake.keys()])].sort();
  const details: BatchCheck["details"] = [];
  for (const k of keys) {
    const s = stream.get(k);
    const l = lake.get(k);
    const [hour, eventType] = [Number(k.split("|")[0]), k.slice(k.indexOf("|") + 1)];
    for (const [field, column] of FIELDS) {
      const sv = Number(s?.[column] ?? 0);
      const lv = Number(l?.[column] ?? 0);
      if (sv !== lv) details.push({ hour, eventType, field, stream: sv, lake: lv });
    }
  }
  const check: BatchCheck = {
    day,
    checkedAt: new Date().toISOString(),
    watermark: snapshot.watermark,
    keys: keys.length,
    differences: details.length,
    lakeEvents,
    details: details.slice(0, 100),
  };
  await deps.sql`
    insert into lake_batch_checks (day, checked_at, watermark, keys, differences, lake_events,
                                   details)
    values (${day}, ${check.checkedAt}, ${check.watermark}, ${check.keys}, ${check.differences},
            ${check.lakeEvents}, ${JSON.stringify(check.details)}::text::jsonb)
    on conflict (day) do update set
      checked_at = excluded.checked_at, watermark = excluded.watermark, keys = excluded.keys,
      differences = excluded.differences, lake_events = excluded.lake_events,
      details = excluded.details`;
  if (check.differences > 0) {
    log.warn(
      "Batch view of {day}: {differences} aggregates differ between the stream and the lake: {details}",
      { day, differences: check.differences, details: JSON.stringify(details.slice(0, 10)) },
    );
  } else {
    log.info(
      "Batch view of {day}: {keys} hourly aggregates agree with the lake ({events} events)",
      {
        day,
        keys: check.keys,
        events: lakeEvents,
      },
    );
  }
  return check;
}
