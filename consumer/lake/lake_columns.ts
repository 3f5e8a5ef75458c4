/**
 * The lake's table layout, in one place: the Parquet columns of `events/dt=…/hour=…/*.parquet`,
 * their Glue/Athena types (deploy/cdk/lake_construct.ts) and their meaning (docs/lake.md). The
 * export's SELECT returns exactly these columns in this order; it checks that at run time.
 */

/** How a column is stored in Parquet. */
export type ParquetKind = "STRING" | "INT32" | "INT64" | "TIMESTAMP_MICROS";

export interface LakeColumn {
  name: string;
  parquet: ParquetKind;
  /** The Hive/Glue type Athena reads it as. */
  glue: "string" | "int" | "bigint" | "timestamp";
  nullable: boolean;
  description: string;
}

/** The columns of every Parquet file, in file order. */
export const LAKE_COLUMNS: readonly LakeColumn[] = [
  col("event_id", "STRING", false, "The event's id (UUID text); unique across the lake"),
  col(
    "event_time",
    "TIMESTAMP_MICROS",
    false,
    "When the event happened (UTC); picks the partition",
  ),
  col("event_type", "STRING", false, "page_view, product_click, search, add_to_cart, …"),
  col("user_id", "STRING", false, "The shopper"),
  col("session_id", "STRING", false, "The shopper's session"),
  col("product_id", "STRING", true, "Product, for product events"),
  col("category", "STRING", true, "Product category"),
  col("price_cents", "INT64", true, "Unit price in cents"),
  col("quantity", "INT32", true, "Units"),
  col("device_type", "STRING", false, "mobile, desktop or tablet"),
  col("country", "STRING", false, "ISO 3166-1 alpha-2 country"),
  col("region", "STRING", false, "Region within the country"),
  col("order_id", "STRING", true, "Order, for purchases and cancellations"),
  col("ip_address", "STRING", true, "Client IP address as sent"),
  col("experiment", "STRING", true, "properties.experiment: the A/B test the shopper is in"),
  col("variant", "STRING", true, "properties.variant: the shopper's arm of that test"),
  col(
    "attrs",
    "STRING",
    true,
    "JSON of the remaining fields: pageUrl, referrer, userAgent, searchQuery, rating, stock, properties",
  ),
  col("received_at", "TIMESTAMP_MICROS", false, "When PostgreSQL stored the event (UTC)"),
  col(
    "batch_id",
    "INT64",
    false,
    "The flush transaction that stored it; exports cover batch ranges",
  ),
];

/** The Hive partition keys, in path order: `dt=YYYY-MM-DD/hour=HH` of `event_time` in UTC. */
export const LAKE_PARTITION_KEYS = [
  { name: "dt", glue: "string", description: "Event date, YYYY-MM-DD (UTC)" },
  { name: "hour", glue: "string", description: "Event hour, 00–23 (UTC)" },
] as const;

function col(
  name: string,
  parquet: ParquetKind,
  nullable: boolean,
  description: string,
): LakeColumn {
  const glue = parquet === "STRING"
    ? "string"
    : parquet === "INT32"
    ? "int"
    : parquet === "INT64"
    ? "bigint"
    : "timestamp";
  return { name, parquet, glue, nullable, description };
}

const HOUR_US = 3_600_000_000;

/** The partition path of an event time given in microseconds since the epoch (UTC). */
export function partitionOf(eventTimeUs: number): { dt: string; hour: string } {
  const hourStart = Math.floor(eventTimeUs / HOUR_US) * 3_600_000;
  const iso = new Date(hourStart).toISOString();
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** Batch ids in object names: zero-padded, so names sort in export order. */
export function padBatch(batchId: number): string {
  return String(batchId).padStart(20, "0");
}

/**
 * The object key of one partition's share of the export batch [from, to): the same range always
 * gives the same name, so a resumed export overwrites instead of duplicating.
 */
export function objectKey(
  prefix: string,
  partition: { dt: string; hour: string },
  fromBatch: number,
  toBatch: number,
): string {
  return `${prefix}events/dt=${partition.dt}/hour=${partition.hour}/` +
    `part-${padBatch(fromBatch)}-${padBatch(toBatch)}.parquet`;
}
