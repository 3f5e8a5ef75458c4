/** PostgreSQL pool factory (postgres.js). Only programs and tests create pools; code receives `sql`. */
import postgres from "postgres";
import { getLogger } from "./log.ts";

const log = getLogger(["scalestream", "db"]);

/** A postgres.js pool, as passed to every component. */
export type Sql = postgres.Sql<Record<string, never>>;
/** A transaction handle inside `sql.begin`. */
export type Tx = postgres.TransactionSql<Record<string, never>>;

export interface SqlOptions {
  /** Pool size; one for the embedded PGlite, which cannot run concurrent transactions. */
  max?: number;
  /** Server-side statement timeout in milliseconds (0 = none). */
  statementTimeoutMs?: number;
  /** Schema to use first (tests use one schema per test file). */
  searchPath?: string;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

/** Opens a pool to `url`. Numerics and bigints arrive as JS numbers where they fit. */
export function createSql(url: string, options: SqlOptions = {}): Sql {
  guardWriteAfterClose();
  const connection: Record<string, string> = {
    application_name: options.applicationName ?? "scalestream",
    TimeZone: "UTC",
  };
  if (options.statementTimeoutMs) connection.statement_timeout = String(options.statementTimeoutMs);
  if (options.searchPath) connection.search_path = options.searchPath;
  return postgres(url, {
    max: options.max ?? 4,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection,
    types: {
      // bigint counters stay far below 2^53 in this product; numbers are easier to sum and serialise.
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  }) as unknown as Sql;
}

/** SQLSTATE codes and error codes that mean "try again later", not "this input is bad". */
const TRANSIENT_SQLSTATES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled (statement timeout)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
]);
const TRANSIENT_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Whether a database error is worth retrying (connection loss, deadlock, timeouts, restarts). */
export function isTransientDbError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === "string" && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code))
  ) {
    return true;
  }
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === "string" && TRANSIENT_NODE_CODES.has(errno);
}

/** Creates `schema` when it is missing (for `DB_SCHEMA`); a no-op without one. */
export async function ensureSchema(sql: Sql, schema: string | undefined): Promise<void> {
  if (!schema) return;
  await sql`create schema if not exists ${sql(schema)}`;
}

let guarded = false;

/** Whether an uncaught error is postgres.js writing to a connection that has already closed. */
export function isPostgresWriteAfterClose(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const stack = err.stack ?? "";
  return /\bnextWrite\b/.test(stack) && /postgres[/@]3\.4\.9/.test(stack);
}

/**
 * postgres.js 3.4.9 flushes its write buffer from a `setImmediate` that can run after the socket
 * has closed (porsager/postgres#1154, #1208; fixed upstream, not yet released): the write then
 * throws outside any query, which would kill the process. By then the connection's queries have
 * already failed with a connection error (and are retried as transient), and the pool opens a new
 * connection for the next one, so this one stray error is logged and dropped. Every other
 * uncaught error still ends the process.
 */
function guardWriteAfterClose(): void {
  if (guarded) return;
  guarded = true;
  const drop = (e: Event, err: unknown) => {
    if (!isPostgresWriteAfterClose(err)) return;
    e.preventDefault();
    log.warn("Ignored a write to a closed database connection (postgres.js): {error}", {
      error: String(err),
    });
  };
  globalThis.addEventListener("error", (e) => drop(e, e.error));
  globalThis.addEventListener("unhandledrejection", (e) => drop(e, e.reason));
}
