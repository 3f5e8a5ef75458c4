/**
 * Committed raw events → Parquet on S3, exactly once.
 *
 * Every event row carries `batch_id`, the id of the transaction that stored it. Ids below the
 * xmin of a current snapshot belong to finished transactions, so no row with such an id can
 * appear later: the range [watermark, xmin) is final, whatever order concurrent flushes commit
 * in. One export batch covers a range [from, to) of it:
 *
 * 1. claim: record the range as the (only) pending export, in its own transaction;
 * 2. upload: one object per event-time partition, named by the partition and the range, so a
 *    second attempt at the same range writes the same names;
 * 3. commit: mark it committed and move the watermark to `to`, in one transaction.
 *
 * A run that dies anywhere before 3 leaves the pending row; the next run resumes that range
 * (re-reading the same final rows) instead of claiming a new one, and overwrites what the dead run
 * uploaded. Nothing is skipped (the watermark only moves past uploaded ranges) and nothing is
 * duplicated (a range has one set of names). Two exporters at once converge on the same pending
 * range; only one commit takes effect.
 */
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getLogger, type Logger, type Sql } from "../../shared/mod.ts";
import { LAKE_COLUMNS, objectKey, partitionOf } from "./lake_columns.ts";
import { encodeParquet } from "./parquet_encode.ts";

const defaultLog = getLogger(["scalestream", "lake", "export"]);

export interface ExportDeps {
  sql: Sql;
  s3: S3Client;
  bucket: string;
  /** Key prefix before `events/` ("" or ending in "/"). */
  prefix?: string;
  log?: Logger;
}

export interface ExportOptions {
  /** Rows per export batch (one range); a single flush larger than this is exported whole. */
  maxRows?: number;
  /** Export batches per call; the call stops earlier when it has caught up. */
  maxBatches?: number;
  signal?: AbortSignal;
  /** Called after each object is uploaded (tests stop a run here to play a crash). */
  afterUpload?: (key: string) => void | Promise<void>;
}

/** One partition's object of an export batch, as recorded in the manifest. */
export interface ExportedObject {
  key: string;
  dt: string;
  hour: string;
  rows: number;
  bytes: number;
}

export interface ExportResult {
  /** Export batches committed by this call. */
  batches: number;
  rows: number;
  objects: number;
  bytes: number;
  /** Whether the first batch resumed a range a previous run had claimed. */
  resumed: boolean;
  /** The watermark after the call: every event with a lower batch_id is in the lake. */
  watermark: number;
  ms: number;
}

interface Claim {
  exportId: number;
  from: number;
  to: number;
  resumed: boolean;
}

/**
 * Exports committed events until caught up (or `maxBatches` batches). Safe to call from several
 * processes and after any crash; see the module comment.
 */
export async function exportToLake(
  deps: ExportDeps,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const started = performance.now();
  const maxRows = options.maxRows ?? 200_000;
  const maxBatches = options.maxBatches ?? 1000;
  const log = deps.log ?? defaultLog;
  const result: ExportResult = {
    batches: 0,
    rows: 0,
    objects: 0,
    bytes: 0,
    resumed: false,
    watermark: 0,
    ms: 0,
  };
  for (let i = 0; i < maxBatches && !options.signal?.aborted; i++) {
    const claim = await claimRange(deps.sql, maxRows);
    if (claim === null) break;
    if (i === 0) result.resumed = claim.resumed;
    if (claim.resumed) {
      log.warn("Resuming export batch {from}–{to} that an earlier run left pending", {
        from: claim.from,
        to: claim.to,
      });
    }
    const objects = await uploadRange(deps, claim, options);
    const rows = objects.reduce((s, o) => s + o.rows, 0);
    const bytes = objects.reduce((s, o) => s + o.bytes, 0);
    if (await commitRange(deps.sql, claim, objects)) {
      result.batches++;
      result.rows += rows;
      result.objects += objects.length;
      result.bytes += bytes;
      log.debug("Exported batch {from}–{to}: {rows} events in {objects} objects, {bytes} bytes", {
        from: claim.from,
        to: claim.to,
        rows,
        objects: objects.length,
        bytes,
      });
    } else {
      log.info("Export batch {from}–{to} was committed by another exporter", { ...claim });
    }
  }
  result.watermark = await readWatermark(deps.sql);
  result.ms = performance.now() - started;
  return result;
}

/** Every event with a batch_id below the watermark is in the lake; none above it. */
export async function readWatermark(sql: Sql): Promise<number> {
  const [row] = await sql<{ watermark: number }[]>`select watermark from lake_state`;
  return row?.watermark ?? 0;
}

/**
 * The pending range if there is one; else a new range of at most `maxRows` rows (whole batches)
 * below the snapshot's xmin, recorded as pending. Null when there is nothing to export. A range
 * with no rows at all just moves the watermark.
 */
async function claimRange(sql: Sql, maxRows: number): Promise<Claim | null> {
  return await sql.begin(async (tx) => {
    // Serialises claimers; also the row the commit moves.
    const [state] = await tx<{ watermark: number }[]>`
      select watermark from lake_state for update`;
    const [pending] = await tx<{ export_id: number; from_batch: number; to_batch: number }[]>`
      select export_id, from_batch, to_batch from lake_exports where state = 'pending'`;
    if (pending) {
      return {
        exportId: pending.export_id,
        from: pending.from_batch,
        to: pending.to_batch,
        resumed: true,
      };
    }
    const from = state!.watermark;
    const [snap] = await tx<{ xmin: number }[]>`
      select pg_snapshot_xmin(pg_current_snapshot())::text::bigint as xmin`;
    const xmin = snap!.xmin;
    if (xmin <= from) return null;
    // The first batch of the range, and the batch holding row number maxRows (0-based): the
    // range ends before it, or after the first batch when that batch alone is larger.
    const [edge] = await tx<{ first: number | null; nth: number | null }[]>`
      select
        (select min(batch_id) from events where batch_id >= ${from} and batch_id < ${xmin})
          as first,
        (select batch_id from events where batch_id >= ${from} and batch_id < ${xmin}
          order by batch_id offset ${maxRows} limit 1) as nth`;
    if (edge!.first === null) {
      await tx`update lake_state set watermark = ${xmin}, updated_at = now()`;
      return null;
    }
    const to = edge!.nth === null ? xmin : edge!.nth > edge!.first ? edge!.nth : edge!.first + 1;
    const [row] = await tx<{ export_id: number }[]>`
      insert into lake_exports (from_batch, to_batch, state)
      values (${from}, ${to}, 'pending') returning export_id`;
    return { exportId: row!.export_id, from, to, resumed: false };
  });
}

/** A partition's rows, column-major, as read from PostgreSQL. */
interface PartitionData {
  dt: string;
  hour: string;
  columns: unknown[][];
}

/** Reads the range's rows (all final) and uploads one object per event-time partition. */
async function uploadRange(
  deps: ExportDeps,
  claim: Claim,
  options: ExportOptions,
): Promise<ExportedObject[]> {
  const rows = await deps.sql`
    select event_id::text, (extract(epoch from event_time) * 1000000)::bigint as event_time,
           event_type, user_id, session_id, product_id, category, price_cents, quantity,
           device_type, country, region, order_id, ip_address,
           attrs -> 'properties' ->> 'experiment' as experiment,
           attrs -> 'properties' ->> 'variant' as variant,
           attrs::text as attrs,
           (extract(epoch from received_at) * 1000000)::bigint as received_at, batch_id
    from events
    where batch_id >= ${claim.from} and batch_id < ${claim.to}
    order by event_time, event_id`.values();
  const names = rows.columns.map((c) => c.name);
  if (names.join() !== LAKE_COLUMNS.map((c) => c.name).join()) {
    throw new Error(`Export query columns "${names.join()}" do not match the lake's columns`);
  }
  const partitions = new Map<string, PartitionData>();
  let lastHour = NaN;
  let current: PartitionData | undefined;
  for (const row of rows) {
    const timeUs = row[1] as number;
    const hour = Math.floor(timeUs / 3_600_000_000);
    if (hour !== lastHour) {
      // Rows come in event-time order, so each partition is one run of rows.
      lastHour = hour;
      const p = partitionOf(timeUs);
      const name = `${p.dt}/${p.hour}`;
      current = partitions.get(name);
      if (!current) {
        current = { ...p, columns: LAKE_COLUMNS.map(() => []) };
        partitions.set(name, current);
      }
    }
    for (let c = 0; c < row.length; c++) current!.columns[c]!.push(row[c]);
  }
  const prefix = deps.prefix ?? "";
  const objects: ExportedObject[] = [];
  for (const p of partitions.values()) {
    options.signal?.throwIfAborted();
    const key = objectKey(prefix, p, claim.from, claim.to);
    const rowCount = p.columns[0]!.length;
    const body = encodeParquet(LAKE_COLUMNS, p.columns, {
      "scalestream.from_batch": String(claim.from),
      "scalestream.to_batch": String(claim.to),
    });
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.bucket,
        Key: key,
        Body: body,
        ContentType: "application/vnd.apache.parquet",
        Metadata: { rows: String(rowCount), "from-batch": String(claim.from) },
      }),
      { abortSignal: options.signal },
    );
    objects.push({ key, dt: p.dt, hour: p.hour, rows: rowCount, bytes: body.byteLength });
    await options.afterUpload?.(key);
  }
  return objects;
}

/** Commits the range and moves the watermark; false when another exporter committed it first. */
async function commitRange(sql: Sql, claim: Claim, objects: ExportedObject[]): Promise<boolean> {
  const rows = objects.reduce((s, o) => s + o.rows, 0);
  const bytes = objects.reduce((s, o) => s + o.bytes, 0);
  return await sql.begin(async (tx) => {
    const done = await tx`
      update lake_exports
      set state = 'committed', rows = ${rows}, bytes = ${bytes},
          objects = ${JSON.stringify(objects)}::text::jsonb, committed_at = now()
      where export_id = ${claim.exportId} and state = 'pending'`;
    if (done.count === 0) return false;
    const moved = await tx`
      update lake_state set watermark = ${claim.to}, updated_at = now()
      where watermark = ${claim.from}`;
    if (moved.count !== 1) {
      throw new Error(
        `Watermark moved while export batch "${claim.from}–${claim.to}" was pending`,
      );
    }
    return true;
  });
}
