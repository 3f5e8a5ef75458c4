/**
 * Rows → one Parquet file in memory, ZSTD-compressed. hyparquet-writer is plain JavaScript, and
 * `node:zlib` brings ZSTD, so the export needs neither native code nor a file system: it runs
 * inside the consumer's compiled binary with the consumer's permissions.
 */
import { zstdCompressSync } from "node:zlib";
import { parquetWriteBuffer } from "hyparquet-writer";
import type { LakeColumn } from "./lake_columns.ts";

/** Rows per row group: large enough for good compression, small enough to skip by statistics. */
const ROW_GROUP_ROWS = 100_000;

type SchemaElement = NonNullable<Parameters<typeof parquetWriteBuffer>[0]["schema"]>[number];

function elementOf(c: LakeColumn): SchemaElement {
  const repetition_type = c.nullable ? "OPTIONAL" : "REQUIRED";
  switch (c.parquet) {
    case "STRING":
      return { name: c.name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type };
    case "INT32":
      return { name: c.name, type: "INT32", repetition_type };
    case "INT64":
      return { name: c.name, type: "INT64", repetition_type };
    case "TIMESTAMP_MICROS":
      return { name: c.name, type: "INT64", converted_type: "TIMESTAMP_MICROS", repetition_type };
  }
}

/** Numbers from PostgreSQL (exact below 2^53) → the bigints an INT64 column takes. */
function toBigints(values: readonly unknown[]): (bigint | null)[] {
  return values.map((v) => v === null || v === undefined ? null : BigInt(v as number));
}

/**
 * Encodes column-major data (`data[i]` holds column `columns[i]`'s values) as a Parquet file with
 * `metadata` as key-value pairs in its footer.
 */
export function encodeParquet(
  columns: readonly LakeColumn[],
  data: readonly (readonly unknown[])[],
  metadata: Record<string, string> = {},
): Uint8Array {
  if (data.length !== columns.length) {
    throw new RangeError(`Expected ${columns.length} columns of data, got ${data.length}`);
  }
  const buffer = parquetWriteBuffer({
    columnData: columns.map((c, i) => ({
      name: c.name,
      data: (c.parquet === "INT64" || c.parquet === "TIMESTAMP_MICROS"
        ? toBigints(data[i]!)
        : data[i]!) as unknown[],
    })),
    schema: [{ name: "root", num_children: columns.length }, ...columns.map(elementOf)],
    codec: "ZSTD",
    compressors: {
      ZSTD: (input: Uint8Array) =>
        new Uint8Array(zstdCompressSync(input)),
    },
    rowGroupSize: ROW_GROUP_ROWS,
    kvMetadata: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    createdBy: "scalestream lake export",
  });
  return new Uint8Array(buffer);
}
