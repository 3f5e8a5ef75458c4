/**
 * Forward-only migrations: `migrations/NNNN_name.sql`, applied in order, all pending ones in one
 * transaction, recorded in `schema_migrations` with a checksum. Safe to re-run and to run from
 * several processes at once (an advisory lock serialises them per schema).
 *
 * An applied migration is immutable: when its file no longer matches the checksum recorded when it
 * was applied, `migrate` throws {@linkcode MigrationChangedError} and applies nothing, so every
 * program stops at start-up instead of running against a schema its files do not describe. A
 * change to the schema is a new migration.
 */
import { getLogger } from "./log.ts";
import type { Sql } from "./db.ts";

const log = getLogger(["scalestream", "migrate"]);

/** The directory holding the numbered SQL files. */
export const MIGRATIONS_DIR = new URL("../migrations/", import.meta.url);

export interface Migration {
  version: number;
  name: string;
  /** The file name, `NNNN_name.sql`. */
  file: string;
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
      file: entry.name,
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

/** An applied migration whose file changed since: the schema is not what the files say. */
export class MigrationChangedError extends Error {
  override name = "MigrationChangedError";
  readonly code = "ERR_MIGRATION_CHANGED";
  constructor(readonly version: number, readonly file: string) {
    super(
      `Migration "${file}" changed after it was applied to this database (its checksum differs ` +
        "from the one recorded in schema_migrations); restore the file as it was applied and " +
        "put the change in a new migration",
    );
  }
}

/**
 * Checksums of earlier texts of migrations that were edited after being applied, before applied
 * migrations became immutable; a database that recorded one of these is accepted as it is.
 * 0002–0005 were first applied as written in commit d2dc5eb (2026-11-21 21:09 UTC) and edited
 * eleven minutes later (7cda5c2): `fillfactor = 80` on the counter tables, the sessions indexes on
 * `started_at` instead of `last_at`, and `jsonb_add_counts` dropped. A database migrated in between
 * keeps the earlier storage settings and indexes, which change speed, not results; nothing is
 * re-applied. Never add to this list: change the schema with a new migration.
 */
export const ACCEPTED_EARLIER_CHECKSUMS: Readonly<Record<number, readonly string[]>> = {
  2: ["e8092391eec1eb34482574e5f6cb74dceb0c8bc800badc5d8a9d97f4bfdd8075"],
  3: ["957d5672649fd889ca1a6b04934b1d4bd04a5a1832bd23ce87ae8435e001b60a"],
  4: ["941f2ef2fecc77f90b6027077158a63d5940ecd974dc646fff1fdcd67323f62a"],
  5: ["91cf1cdcbaea29962ada2830952bcf4c715ede0c7ded2cbb9a152a013beb7ea2"],
};

/** The SHA-256 of a migration's text, as recorded in `schema_migrations`. */
export async function checksum(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Applies the pending migrations; returns the versions applied by this call. Throws
 * {@linkcode MigrationChangedError} (applying nothing) when an applied migration's file changed.
 */
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
        if (previous === sum) continue;
        if (!ACCEPTED_EARLIER_CHECKSUMS[m.version]?.includes(previous)) {
          throw new MigrationChangedError(m.version, m.file);
        }
        log.debug("Migration {file} was applied from its earlier text (accepted)", {
          file: m.file,
        });
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
