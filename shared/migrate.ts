/**
 * Forward-only migrations: `migrations/NNNN_name.sql`, applied in order, all pending ones in one
 * transaction, recorded in `schema_migrations` with a checksum. Safe to re-run and to run from
 * several processes at once (an advisory lock serialises them per schema).
 */
import { getLogger } from "./log.ts";
import type { Sql } from "./db.ts";

const log = getLogger(["scalestream", "migrate"]);

/** The directory holding the numbered SQL files. */
export const MIGRATIONS_DIR = new URL("../migrations/", import.meta.url);

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads `NNNN_name.sql` files from `dir`, sorted by version; rejects duplicate versions. */
export async function readMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const out: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const m = /^(\d{4})_([\w-]+)\.sql$/.exec(entry.name);
    if (!entry.isFile || !m) continue;
    out.push({
      version: Number(m[1]),
      name: m[2]!,
      sql: await Deno.readTextFile(new URL(entry.name, dir)),
    });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) {
      throw new Error(`Two migrations share version "${out[i]!.version}"`);
    }
  }
  return out;
}

async function checksum(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Applies the pending migrations; returns the versions applied by this call. */
export async function migrate(sql: Sql, dir: URL = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await readMigrations(dir);
  const applied: number[] = [];
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('scalestream.migrate.' || current_schema()))`;
    await tx`
      create table if not exists schema_migrations (
        version    integer primary key,
        name       text        not null,
        checksum   text        not null,
        applied_at timestamptz not null default now()
      )`;
    const done = new Map<number, string>();
    for (
      const row of await tx<{ version: number; checksum: string }[]>`
      select version, checksum from schema_migrations`
    ) {
      done.set(row.version, row.checksum);
    }
    for (const m of migrations) {
      const sum = await checksum(m.sql);
      const previous = done.get(m.version);
      if (previous !== undefined) {
        if (previous !== sum) {
          log.warn("Migration {version} changed after it was applied", { version: m.version });
        }
        continue;
      }
      await tx.savepoint(async (sp) => {
        await sp.unsafe(m.sql);
        await sp`insert into schema_migrations (version, name, checksum)
                 values (${m.version}, ${m.name}, ${sum})`;
      });
      applied.push(m.version);
      log.info("Applied migration {version} {name}", { version: m.version, name: m.name });
    }
  });
  return applied;
}
