/**
 * The API alone for `deno task bench:api`, in a process of its own so the load generator does not
 * share its event loop: `createApp` on the history's schema with a fresh response cache, on a free
 * port, which it prints as `PORT <n>` once listening. Ends on SIGTERM.
 *
 *   deno run -A bench/serving/api_server.ts <database url> <schema>
 */
import { createApp, createResponseCache } from "../../api/mod.ts";
import { createSql } from "../../shared/mod.ts";

const [url, schema] = Deno.args;
if (!url || !schema) throw new TypeError("Usage: api_server.ts <database url> <schema>");
const sql = createSql(url, { max: 8, searchPath: schema });
const app = createApp({ sql, cache: createResponseCache() });
const server = Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`PORT ${port}`),
}, app.fetch);
Deno.addSignalListener("SIGTERM", async () => {
  await app.close();
  await server.shutdown();
  await sql.end({ timeout: 2 });
  Deno.exit(0);
});
