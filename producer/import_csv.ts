/**
 * Partner CSV feeds (seed 002, "External partner feeds (CSV files)"): the header row names the
 * columns, in camelCase or snake_case or with spaces (`eventId`, `event_id`, `Event ID`), nested as
 * `location.country` or flat as `country`. Each row becomes one event, is validated against the
 * event schema, and is either sent or reported with its line number. Rows without an `eventId` get
 * one derived from the row's content, so importing the same file twice stores it once.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { parse } from "csv-parse";
import { type Event, validateEvent } from "../shared/mod.ts";

/** Event fields by normalised header (lower case, letters and digits only). */
const COLUMNS: Readonly<Record<string, string>> = {
  eventid: "eventId",
  id: "eventId",
  userid: "userId",
  user: "userId",
  customerid: "userId",
  sessionid: "sessionId",
  session: "sessionId",
  eventtype: "eventType",
  type: "eventType",
  event: "eventType",
  timestamp: "timestamp",
  time: "timestamp",
  eventtime: "timestamp",
  datetime: "timestamp",
  ts: "timestamp",
  productid: "productId",
  product: "productId",
  sku: "productId",
  category: "category",
  productcategory: "category",
  price: "price",
  unitprice: "price",
  quantity: "quantity",
  qty: "quantity",
  devicetype: "deviceType",
  device: "deviceType",
  locationcountry: "location.country",
  country: "location.country",
  countrycode: "location.country",
  locationregion: "location.region",
  region: "location.region",
  state: "location.region",
  pageurl: "pageUrl",
  url: "pageUrl",
  referrer: "referrer",
  referer: "referrer",
  useragent: "userAgent",
  ipaddress: "ipAddress",
  ip: "ipAddress",
  searchquery: "searchQuery",
  query: "searchQuery",
  orderid: "orderId",
  rating: "rating",
  stars: "rating",
  stock: "stock",
  stocklevel: "stock",
};
const NUMERIC = new Set(["price", "quantity", "rating", "stock"]);
const LOWER = new Set(["eventType", "deviceType"]);
const MAX_KEPT_ERRORS = 1000;

/** One row that could not become an event. `line` is the 1-based line in the file. */
export interface RowError {
  line: number;
  reason: string;
}

export interface ImportResult {
  rows: number;
  sent: number;
  invalid: number;
  /** The first 1000 row errors, in file order. */
  errors: RowError[];
  /** Header columns that map to no event field; their values go to `properties`. */
  unmappedColumns: string[];
}

export interface ImportDeps {
  /** Sends one valid event (the same sender the simulator uses). */
  send: (event: Event) => Promise<void>;
  onRowError?: (error: RowError) => void;
}

/** Maps a header to an event field path, or `undefined` when it names none. */
export function columnField(header: string): string | undefined {
  return COLUMNS[header.toLowerCase().replace(/[^a-z0-9]/g, "")];
}

/** Reads a CSV file (or stream) and sends each valid row; invalid rows are reported, not sent. */
export async function importCsv(
  input: string | Readable,
  deps: ImportDeps,
): Promise<ImportResult> {
  const source = typeof input === "string" ? createReadStream(input) : input;
  const result: ImportResult = { rows: 0, sent: 0, invalid: 0, errors: [], unmappedColumns: [] };
  const report = (error: RowError) => {
    result.invalid++;
    if (result.errors.length < MAX_KEPT_ERRORS) result.errors.push(error);
    deps.onRowError?.(error);
  };
  let fields: (string | undefined)[] = [];
  let headers: string[] = [];
  const parser = parse({
    bom: true,
    trim: true,
    skip_empty_lines: true,
    info: true,
    skip_records_with_error: true,
  });
  parser.on("skip", (err: Error & { lines?: number }) => {
    result.rows++;
    report({ line: err.lines ?? 0, reason: err.message });
  });
  source.on("error", (err: Error) => parser.destroy(err));
  source.pipe(parser);
  let first = true;
  for await (
    const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>
  ) {
    if (first) {
      first = false;
      headers = record;
      fields = record.map(columnField);
      result.unmappedColumns = headers.filter((_, i) => fields[i] === undefined);
      const seen = new Set<string>();
      for (const f of fields) {
        if (f === undefined) continue;
        if (seen.has(f)) throw new RangeError(`Two CSV columns map to the event field "${f}"`);
        seen.add(f);
      }
      continue;
    }
    result.rows++;
    if (record.length !== headers.length) {
      report({
        line: info.lines,
        reason: `Row has ${record.length} columns, the header ${headers.length}`,
      });
      continue;
    }
    const value = rowToEvent(headers, fields, record);
    const checked = validateEvent(value);
    if (!checked.ok) {
      report({ line: info.lines, reason: checked.reason });
      continue;
    }
    await deps.send(checked.event);
    result.sent++;
  }
  return result;
}

/** Builds the event object of one row; validation happens afterwards. */
export function rowToEvent(
  headers: readonly string[],
  fields: readonly (string | undefined)[],
  record: readonly string[],
): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  const location: Record<string, unknown> = {};
  const properties: Record<string, string> = {};
  for (let i = 0; i < record.length; i++) {
    const raw = record[i]!;
    if (raw === "") continue;
    const field = fields[i];
    if (field === undefined) {
      properties[headers[i]!.slice(0, 64)] = raw;
      continue;
    }
    let value: unknown = raw;
    if (NUMERIC.has(field)) {
      value = raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    } else if (LOWER.has(field)) value = raw.toLowerCase();
    else if (field === "timestamp") value = normaliseTimestamp(raw);
    if (field === "location.country") location.country = raw.toUpperCase();
    else if (field === "location.region") location.region = raw;
    else event[field] = value;
  }
  if (Object.keys(location).length > 0) event.location = location;
  if (Object.keys(properties).length > 0) event.properties = properties;
  if (event.sessionId === undefined && typeof event.userId === "string") {
    // Partner feeds rarely carry sessions: one per user and UTC day.
    const day = typeof event.timestamp === "string" ? event.timestamp.slice(0, 10) : "unknown";
    event.sessionId = `csv-${event.userId}-${day}`;
  }
  if (event.eventId === undefined) event.eventId = contentUuid(event);
  return event;
}

/**
 * ISO 8601 with an offset passes through; a date-time without a zone is taken as UTC; digits are
 * epoch seconds (or milliseconds when 13 digits or more).
 */
export function normaliseTimestamp(raw: string): string {
  if (/^\d{9,16}$/.test(raw)) {
    const n = Number(raw);
    return new Date(raw.length >= 13 ? n : n * 1000).toISOString();
  }
  if (/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(raw)) {
    return raw.replace(" ", "T") + "Z";
  }
  return raw;
}

/** A version-4-shaped UUID from the SHA-256 of the row's fields: the same row, the same id. */
function contentUuid(event: Record<string, unknown>): string {
  const h = createHash("sha256").update(canonical(event)).digest("hex");
  const variant = ((parseInt(h[16]!, 16) & 3) | 8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`;
}

/** JSON with keys sorted at every level, so equal rows hash equally whatever the column order. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  const o = v as Record<string, unknown>;
  return "{" +
    Object.keys(o).sort().map((k) => JSON.stringify(k) + ":" + canonical(o[k])).join(",") +
    "}";
}
