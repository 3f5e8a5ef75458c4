/**
 * `deno run -A bench/loadtest/drop_schema.ts URL SCHEMA`: drops a bench's schema. Benches have no
 * teardown hook, so they run this synchronously from their `unload` handler.
 */
import { createSql } from "../../shared/mod.ts";

const [url, schema] = Deno.args;
if (!url || !schema || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
  console.error("usage: drop_schema.ts DATABASE_URL SCHEMA");
  Deno.exit(2);
}
const sql = createSql(url, { max: 1 });
await sql.unsafe(`drop schema if exists ${schema} cascade`);
await sql.end({ timeout: 2 });
