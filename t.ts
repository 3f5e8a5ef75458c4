import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import postgres from "postgres";
const db = await PGlite.create();
const server = new PGLiteSocketServer({ db, port: 0, host: "127.0.0.1" });
await server.start();
console.log(server.getServerConn?.());
const port = (server as any).port;
console.log("port", port);
const sql = postgres({
  host: "127.0.0.1",
  port: Number(String(server.getServerConn()).split(":").pop()),
  max: 1,
  user: "postgres",
  database: "postgres",
});
console.log(await sql`select version()`);
await sql`create table t (id uuid primary key, n int)`;
const ids = [crypto.randomUUID(), crypto.randomUUID()];
console.log(
  await sql`insert into t select * from unnest(${ids}::uuid[], ${[
    1,
    2,
  ]}::int[]) on conflict do nothing returning id`,
);
await sql.end();
await server.stop();
await db.close();
