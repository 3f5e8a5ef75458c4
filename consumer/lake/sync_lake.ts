/**
 * Mirrors the lake's Parquet objects into a local cache directory, so DuckDB reads local files
 * (its S3 extension is downloaded at run time, which a locked-down host cannot do). Objects are
 * immutable once their export committed; an object rewritten by a resumed export has a new ETag
 * and is fetched again. Only the partitions asked for are listed and fetched.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";

export interface SyncDeps {
  s3: S3Client;
  bucket: string;
  prefix?: string;
}

export interface SyncOptions {
  cacheDir: string;
  /** First and last event day (YYYY-MM-DD, UTC) to mirror; default every day in the lake. */
  fromDay?: string;
  toDay?: string;
  /** Parallel downloads. */
  concurrency?: number;
}

export interface SyncResult {
  /** Objects in the synced partitions. */
  objects: number;
  downloaded: number;
  downloadedBytes: number;
  /** Local files whose object no longer exists (removed). */
  removed: number;
  /** The directory holding `events/dt=…/hour=…/*.parquet`. */
  root: string;
}

const INDEX_FILE = ".etags.json";
const DAY = /^\d{4}-\d{2}-\d{2}$/;

interface ListedObject {
  key: string;
  etag: string;
  size: number;
}

async function listAll(deps: SyncDeps, prefix: string): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key?.endsWith(".parquet")) {
        out.push({ key: o.Key, etag: o.ETag ?? "", size: o.Size ?? 0 });
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** The `dt=` values present in the lake, sorted. */
async function listDays(deps: SyncDeps): Promise<string[]> {
  const base = `${deps.prefix ?? ""}events/`;
  const days: string[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({
        Bucket: deps.bucket,
        Prefix: `${base}dt=`,
        Delimiter: "/",
        ContinuationToken: token,
      }),
    );
    for (const p of page.CommonPrefixes ?? []) {
      const m = /dt=(\d{4}-\d{2}-\d{2})\/$/.exec(p.Prefix ?? "");
      if (m) days.push(m[1]!);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return days.sort();
}

async function readIndex(path: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof SyntaxError) return {};
    throw err;
  }
}

/** Brings the cache up to date with the lake for the requested days. */
export async function syncLake(deps: SyncDeps, options: SyncOptions): Promise<SyncResult> {
  for (const d of [options.fromDay, options.toDay]) {
    if (d !== undefined && !DAY.test(d)) throw new RangeError(`Day "${d}" is not YYYY-MM-DD`);
  }
  const prefix = deps.prefix ?? "";
  const root = options.cacheDir;
  const days = (await listDays(deps)).filter((d) =>
    (options.fromDay === undefined || d >= options.fromDay) &&
    (options.toDay === undefined || d <= options.toDay)
  );
  const index = await readIndex(`${root}/${INDEX_FILE}`);
  const listed: ListedObject[] = [];
  for (const day of days) listed.push(...await listAll(deps, `${prefix}events/dt=${day}/`));
  const local = (key: string) => `${root}/${key.slice(prefix.length)}`;
  const todo = listed.filter((o) => index[o.key] !== o.etag);
  let downloadedBytes = 0;
  const concurrency = options.concurrency ?? 8;
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const o = todo[next++]!;
      const path = local(o.key);
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      const got = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: o.key }));
      const bytes = await got.Body!.transformToByteArray();
      // Written aside and renamed, so a reader never sees half a file.
      await Deno.writeFile(`${path}.part`, bytes);
      await Deno.rename(`${path}.part`, path);
      downloadedBytes += bytes.byteLength;
      index[o.key] = got.ETag ?? o.etag;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
  // Files of the synced days whose objects are gone (lifecycle expiry, a manual delete).
  const present = new Set(listed.map((o) => o.key));
  let removed = 0;
  for (const key of Object.keys(index)) {
    const m = /events\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key);
    const inRange = m !== null &&
      (options.fromDay === undefined || m[1]! >= options.fromDay) &&
      (options.toDay === undefined || m[1]! <= options.toDay);
    if (!inRange || present.has(key)) continue;
    await Deno.remove(local(key)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    delete index[key];
    removed++;
  }
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(`${root}/${INDEX_FILE}`, JSON.stringify(index));
  return { objects: listed.length, downloaded: todo.length, downloadedBytes, removed, root };
}
