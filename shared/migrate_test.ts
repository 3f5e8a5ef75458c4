import assert from "node:assert/strict";
import { ACCEPTED_EARLIER_CHECKSUMS, migrate, MigrationChangedError } from "./mod.ts";
import { createTestDb } from "../test/harness.ts";

const ROOT = new URL("../", import.meta.url);

/** A copy of migrations/ that a test may edit. */
async function copyOfMigrations(): Promise<URL> {
  const dir = await Deno.makeTempDir({ prefix: "migrations-" });
  for await (const e of Deno.readDir(new URL("migrations/", ROOT))) {
    if (e.isFile && e.name.endsWith(".sql")) {
      await Deno.copyFile(new URL(`migrations/${e.name}`, ROOT), `${dir}/${e.name}`);
    }
  }
  return new URL(`file://${dir}/`);
}

Deno.test("migrate() stops on an applied migration whose file changed, applying nothing", async () => {
  const db = await createTestDb();
  const dir = await copyOfMigrations();
  try {
    const init = new URL("0001_init.sql", dir);
    await Deno.writeTextFile(init, (await Deno.readTextFile(init)) + "\n-- an edit\n");
    // A pending migration too: it must not be applied either.
    await Deno.writeTextFile(new URL("0999_pending.sql", dir), "create table pending_t (x int);");
    await assert.rejects(() => migrate(db.sql, dir), (err: unknown) => {
      assert.ok(err instanceof MigrationChangedError);
      assert.equal(err.version, 1);
      assert.match(err.message, /^Migration "0001_init\.sql" changed after it was applied/);
      return true;
    });
    const [row] = await db.sql`select to_regclass('pending_t') is null as absent`;
    assert.equal(row!.absent, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await db.close();
  }
});

Deno.test("migrate() accepts the earlier texts of 0002-0005 recorded by databases migrated before", async () => {
  assert.deepEqual(Object.keys(ACCEPTED_EARLIER_CHECKSUMS), ["2", "3", "4", "5"]);
  const db = await createTestDb();
  try {
    for (const [version, [sum]] of Object.entries(ACCEPTED_EARLIER_CHECKSUMS)) {
      await db.sql`update schema_migrations set checksum = ${sum!} where version = ${
        Number(version)
      }`;
    }
    assert.deepEqual(await migrate(db.sql), []);
    // Any other checksum for the same versions still stops it.
    await db.sql`update schema_migrations set checksum = 'edited' where version = 3`;
    await assert.rejects(() => migrate(db.sql), MigrationChangedError);
  } finally {
    await db.close();
  }
});

Deno.test("a program starting on a database with an edited applied migration exits 1 with one clear line", async () => {
  const db = await createTestDb();
  try {
    await db.sql`update schema_migrations set checksum = 'edited' where version = 1`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "consumer/main.ts", "maintain"],
      cwd: ROOT,
      env: { DATABASE_URL: db.url, DB_SCHEMA: db.schema, LOG_FORMAT: "json", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /^error: Migration "0001_init\.sql" changed after it was applied/m);
    assert.doesNotMatch(stderr, /^\s+at .*:\d+:\d+\)?$/m);
  } finally {
    await db.close();
  }
});
