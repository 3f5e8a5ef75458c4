/** A real S3 for lake tests: fauxqs's S3 on a free port, a fresh bucket and a cache directory. */
import { loadConfig, type Sql } from "../shared/mod.ts";
import { startEmbeddedSqs } from "../deploy/local/mod.ts";
import {
  createS3Client,
  ensureBucket,
  type ExportResult,
  exportToLake,
  type S3Client,
} from "../consumer/lake/mod.ts";
import { eventually } from "./harness.ts";

export interface TestLake {
  s3: S3Client;
  bucket: string;
  endpoint: string;
  cacheDir: string;
  close(): Promise<void>;
}

export async function createTestLake(): Promise<TestLake> {
  const server = await startEmbeddedSqs();
  const s3 = createS3Client(loadConfig({}, { sqsEndpoint: server.url }));
  const bucket = `lake-${crypto.randomUUID().slice(0, 8)}`;
  await ensureBucket(s3, bucket);
  const cacheDir = await Deno.makeTempDir({ prefix: "scalestream-lake-cache-" });
  return {
    s3,
    bucket,
    endpoint: server.url,
    cacheDir,
    async close() {
      s3.destroy();
      await server.stop();
      await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Exports until every event stored so far is in the lake. The export stops at the cluster's
 * oldest running transaction, which other test files' transactions may hold back for a moment.
 */
export async function exportAll(
  sql: Sql,
  lake: TestLake,
  options: { maxRows?: number } = {},
): Promise<ExportResult[]> {
  const [top] = await sql<{ max: number | null }[]>`select max(batch_id) as max from events`;
  const target = (top?.max ?? -1) + 1;
  const results: ExportResult[] = [];
  const caughtUp = await eventually(
    async () => {
      const r = await exportToLake({ sql, s3: lake.s3, bucket: lake.bucket }, options);
      results.push(r);
      return r.watermark >= target;
    },
    180_000,
    100,
  );
  if (!caughtUp) throw new Error(`The export did not reach batch "${target}"`);
  return results;
}
