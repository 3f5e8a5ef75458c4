/**
 * The embedded defaults: an in-process SQS emulator (fauxqs) and an in-process PostgreSQL (PGlite,
 * real Postgres compiled to WASM, served over the wire protocol by pglite-socket so postgres.js
 * talks to it unchanged). Used by `deno task dev` and by tests when nothing else is configured.
 */
import { startFauxqs } from "fauxqs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedService {
  /** Endpoint URL (SQS) or connection URL (PostgreSQL). */
  url: string;
  stop(): Promise<void>;
}

/** Starts fauxqs on a loopback port (0 = any free port). */
export async function startEmbeddedSqs(port = 0): Promise<EmbeddedService> {
  const server = await startFauxqs({ port, host: "127.0.0.1", logger: false });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop() };
}

/**
 * Starts PGlite and serves it on a loopback port. PGlite is a single backend: clients must use one
 * connection (pool max 1), since concurrent transactions over its multiplexer fail.
 * `dataDir` keeps the data between runs; without it the database lives in memory.
 */
export async function startEmbeddedPostgres(
  options: { port?: number; dataDir?: string } = {},
): Promise<EmbeddedService> {
  const db = await PGlite.create(options.dataDir);
  const server = new PGLiteSocketServer({ db, port: options.port ?? 0, host: "127.0.0.1" });
  await server.start();
  const conn = String(server.getServerConn());
  const port = Number(conn.slice(conn.lastIndexOf(":") + 1));
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/** The port `deno task sqs` listens on unless told otherwise (LocalStack's habit). */
export const DEFAULT_LOCAL_SQS_PORT = 4566;
