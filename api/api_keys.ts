/**
 * API keys: scopes `read`, `ingest`, `admin`; only SHA-256 hashes are kept, in memory (keys from
 * `API_KEYS`, hashed at start-up) and in the `api_keys` table (migration 0015). A presented key is
 * hashed and looked up, so comparing never depends on how much of a secret matched.
 *
 * Publishable keys (`spk_…`, migration 0070) are the ones a web page embeds: scope `ingest` only,
 * bound to an allow-list of origins. Anyone can read them from the page, so they are worth no more
 * than what a browser on a listed site may do anyway: send events.
 */
import { ConfigError, type Sql } from "../shared/mod.ts";

export const SCOPES = ["read", "ingest", "admin"] as const;
export type Scope = typeof SCOPES[number];

/** One key as the API knows it: never the key itself. */
export interface ApiKeyRecord {
  name: string;
  scopes: readonly Scope[];
  hash: string;
  /** Present on a publishable key: the origins (`https://shop.example`) it may be used from. */
  origins?: readonly string[];
}

/** Prefixes of secret and publishable keys, so a key says what it is wherever it turns up. */
export const SECRET_KEY_PREFIX = "ssk_";
export const PUBLISHABLE_KEY_PREFIX = "spk_";

/** Hex SHA-256 of a key. */
export async function hashApiKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new random key: 32 random bytes, base64url, with a recognisable prefix. */
export function generateApiKey(prefix: string = SECRET_KEY_PREFIX): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const b64 = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
  return `${prefix}${b64}`;
}

/**
 * Parses one origin as a browser sends it in `Origin`: `scheme://host[:port]`, lower case, no
 * path, no trailing slash (one is dropped); the default port is left out as browsers do. Throws
 * `RangeError` naming the value otherwise.
 */
export function parseOrigin(text: string): string {
  const trimmed = text.trim().replace(/\/$/, "");
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new RangeError(`Origin "${text}" is not a URL like "https://shop.example"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new RangeError(`Origin "${text}" must be http or https`);
  }
  if (url.origin !== trimmed.toLowerCase() || url.username !== "" || url.password !== "") {
    throw new RangeError(
      `Origin "${text}" must be scheme://host[:port] only, like "${url.origin}"`,
    );
  }
  return url.origin;
}

/** Whether `scopes` grant `needed`; `admin` grants everything. */
export function hasScope(scopes: readonly Scope[], needed: Scope): boolean {
  return scopes.includes(needed) || scopes.includes("admin");
}

/** Parses scope names separated by `+` or `,`; throws `RangeError` naming an unknown one. */
export function parseScopes(text: string): Scope[] {
  const out: Scope[] = [];
  for (const raw of text.split(/[+,]/)) {
    const s = raw.trim();
    if (s === "") continue;
    if (!(SCOPES as readonly string[]).includes(s)) {
      throw new RangeError(`Unknown scope "${s}"; expected one of ${SCOPES.join(", ")}`);
    }
    if (!out.includes(s as Scope)) out.push(s as Scope);
  }
  if (out.length === 0) throw new RangeError("At least one scope is required");
  return out;
}

const NAME = /^[\w.-]{1,64}$/;

/**
 * Parses `API_KEYS` (`name:scope1+scope2:key,…`) and hashes each key. Errors name the entry by its
 * position and name, never by the key.
 */
export async function parseApiKeys(spec: string | undefined): Promise<ApiKeyRecord[]> {
  if (!spec || spec.trim() === "") return [];
  const out: ApiKeyRecord[] = [];
  const entries = spec.split(",").map((e) => e.trim()).filter((e) => e !== "");
  for (const [i, entry] of entries.entries()) {
    const first = entry.indexOf(":");
    const second = first < 0 ? -1 : entry.indexOf(":", first + 1);
    const name = first < 0 ? "" : entry.slice(0, first);
    const key = second < 0 ? "" : entry.slice(second + 1);
    if (!NAME.test(name) || key.length < 16) {
      throw new ConfigError(
        "API_KEYS",
        `API_KEYS entry ${
          i + 1
        } must be "name:scope1+scope2:key" with a key of at least 16 characters`,
      );
    }
    let scopes: Scope[];
    try {
      scopes = parseScopes(entry.slice(first + 1, second));
    } catch (err) {
      throw new ConfigError("API_KEYS", `API_KEYS entry "${name}": ${(err as Error).message}`);
    }
    if (out.some((k) => k.name === name)) {
      throw new ConfigError("API_KEYS", `API_KEYS names "${name}" twice`);
    }
    out.push({ name, scopes, hash: await hashApiKey(key) });
  }
  return out;
}

/** Most origins one publishable key may list (the migration's check says the same). */
export const MAX_KEY_ORIGINS = 100;

/**
 * Creates a key in the `api_keys` table; returns the key, which is stored nowhere else. With
 * `origins` the key is publishable: its scopes must be exactly `ingest`.
 */
export async function createApiKey(
  input: { name: string; scopes: readonly Scope[]; origins?: readonly string[] },
  deps: { sql: Sql },
): Promise<{ name: string; scopes: readonly Scope[]; key: string; origins?: readonly string[] }> {
  if (!NAME.test(input.name)) {
    throw new RangeError(`Key name "${input.name}" must match ${NAME.source}`);
  }
  if (input.scopes.length === 0) throw new RangeError("At least one scope is required");
  let origins: string[] | null = null;
  if (input.origins !== undefined) {
    if (input.scopes.length !== 1 || input.scopes[0] !== "ingest") {
      throw new RangeError(
        `A publishable key has the "ingest" scope only, not "${input.scopes.join("+")}"`,
      );
    }
    origins = [...new Set(input.origins.map(parseOrigin))];
    if (origins.length === 0 || origins.length > MAX_KEY_ORIGINS) {
      throw new RangeError(
        `A publishable key needs between 1 and ${MAX_KEY_ORIGINS} origins, not ${origins.length}`,
      );
    }
  }
  const key = generateApiKey(origins ? PUBLISHABLE_KEY_PREFIX : SECRET_KEY_PREFIX);
  const hash = await hashApiKey(key);
  await deps.sql`
    insert into api_keys (name, key_hash, scopes, origins)
    values (${input.name}, ${hash}, ${input.scopes as string[]}, ${origins})`;
  return { name: input.name, scopes: input.scopes, key, ...(origins ? { origins } : {}) };
}

/** Marks a key revoked; returns whether a live key of that name existed. */
export async function revokeApiKey(name: string, deps: { sql: Sql }): Promise<boolean> {
  const rows = await deps.sql`
    update api_keys set revoked_at = now() where name = ${name} and revoked_at is null
    returning name`;
  return rows.length > 0;
}

/** Lists the keys in the table, without hashes. */
export async function listApiKeys(
  deps: { sql: Sql },
): Promise<
  {
    name: string;
    scopes: string[];
    origins: string[] | null;
    createdAt: Date;
    revokedAt: Date | null;
  }[]
> {
  const rows = await deps.sql<
    {
      name: string;
      scopes: string[];
      origins: string[] | null;
      created_at: Date;
      revoked_at: Date | null;
    }[]
  >`select name, scopes, origins, created_at, revoked_at from api_keys order by name`;
  return rows.map((r) => ({
    name: r.name,
    scopes: r.scopes,
    origins: r.origins,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  }));
}

/**
 * Resolves presented keys. `open()` is true when no key was ever configured: none in the
 * environment and no row (live or revoked) in the table, so revoking the last key never opens the
 * API again.
 */
export interface KeyStore {
  lookup(key: string): Promise<ApiKeyRecord | null>;
  open(): Promise<boolean>;
}

export interface KeyStoreOptions {
  /** Keys from the environment (already hashed). */
  keys?: readonly ApiKeyRecord[];
  /** Pool for the `api_keys` table; without it only `keys` count. */
  sql?: Sql;
  /** How long a table answer is reused; a revoked key stops working within this time. */
  cacheMs?: number;
  now?: () => number;
}

const MAX_CACHED = 10_000;

/** A key store over the environment's keys and the `api_keys` table, with a short cache. */
export function createKeyStore(options: KeyStoreOptions): KeyStore {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 30_000;
  const byHash = new Map((options.keys ?? []).map((k) => [k.hash, k]));
  const cache = new Map<string, { record: ApiKeyRecord | null; until: number }>();
  let tableCount: { n: number; until: number } | undefined;

  async function countTable(): Promise<number> {
    if (!options.sql) return 0;
    if (tableCount && tableCount.until > now()) return tableCount.n;
    const [row] = await options.sql<{ n: number }[]>`
      select case when to_regclass('api_keys') is null then 0
             else (select count(*) from api_keys) end::int as n`;
    tableCount = { n: row?.n ?? 0, until: now() + cacheMs };
    return tableCount.n;
  }

  return {
    async open() {
      return byHash.size === 0 && await countTable() === 0;
    },
    async lookup(key) {
      const hash = await hashApiKey(key);
      const fromEnv = byHash.get(hash);
      if (fromEnv) return fromEnv;
      if (!options.sql || await countTable() === 0) return null;
      const hit = cache.get(hash);
      if (hit && hit.until > now()) return hit.record;
      const [row] = await options.sql<
        { name: string; scopes: Scope[]; origins: string[] | null }[]
      >`
        select name, scopes, origins from api_keys
        where key_hash = ${hash} and revoked_at is null`;
      const record: ApiKeyRecord | null = row
        ? {
          name: row.name,
          scopes: row.scopes,
          hash,
          ...(row.origins ? { origins: row.origins } : {}),
        }
        : null;
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(hash, { record, until: now() + cacheMs });
      return record;
    },
  };
}
