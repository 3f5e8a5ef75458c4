/**
 * SQL over the lake: an in-memory DuckDB with a view `events` over the mirrored Parquet files
 * (`<root>/events/dt=…/hour=…/*.parquet`, with `dt` and `hour` as columns from the path). DuckDB
 * is a native addon, so only the lake's own programs load this module, never the consumer or API.
 */
import { DuckDBInstance, DuckDBTypeId } from "@duckdb/node-api";
import { LAKE_COLUMNS, type ParquetKind } from "./lake_columns.ts";

/** A query's answer with JSON-safe values: integers as numbers when exact, else strings. */
export interface QueryResult {
  columns: string[];
  /** DuckDB's type names, e.g. BIGINT, VARCHAR, TIMESTAMP. */
  types: string[];
  rows: unknown[][];
}

export interface LakeDb {
  /** Runs one statement (or several; the last one's rows are returned). */
  query(sql: string): Promise<QueryResult>;
  close(): void;
}

const DUCK_TYPE: Record<ParquetKind, string> = {
  STRING: "VARCHAR",
  INT32: "INTEGER",
  INT64: "BIGINT",
  TIMESTAMP_MICROS: "TIMESTAMP",
};

const INTEGER_TYPES = new Set([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.UHUGEINT,
]);

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function hasParquet(dir: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".parquet")) return true;
      if (e.isDirectory && await hasParquet(`${dir}/${e.name}`)) return true;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  return false;
}

/** Opens DuckDB with the `events` view over `root` (an empty view of the same shape when empty). */
export async function openLakeDb(root: string): Promise<LakeDb> {
  const instance = await DuckDBInstance.create(":memory:");
  const conn = await instance.connect();
  // Nothing may be fetched at run time: fail clearly instead of trying to download an extension.
  await conn.run("set autoinstall_known_extensions = false");
  if (await hasParquet(`${root}/events`)) {
    const glob = `${root}/events/dt=*/hour=*/*.parquet`;
    await conn.run(
      `create view events as select * from read_parquet(${quote(glob)}, ` +
        `hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER})`,
    );
  } else {
    const cols = LAKE_COLUMNS.map((c) => `null::${DUCK_TYPE[c.parquet]} as ${c.name}`);
    await conn.run(
      `create view events as select ${cols.join(", ")}, null::DATE as dt, null::INTEGER as hour ` +
        `where false`,
    );
  }
  return {
    async query(sql: string): Promise<QueryResult> {
      const reader = await conn.runAndReadAll(sql);
      const types = reader.columnTypes();
      const rows = reader.getRowsJson().map((row) =>
        row.map((v, i) => {
          if (typeof v === "string" && INTEGER_TYPES.has(types[i]!.typeId)) {
            const n = Number(v);
            return Number.isSafeInteger(n) ? n : v;
          }
          return v;
        })
      );
      return { columns: reader.columnNames(), types: types.map((t) => t.toString()), rows };
    },
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}
