/**
 * The export as a job for a long-running process's scheduler (the consumers' leader-elected
 * maintenance loop): built once from the configuration, run per tick. A failed run leaves a
 * pending range that the next run resumes, so a scheduler only has to log the error.
 */
import type { Config, Sql } from "../../shared/mod.ts";
import { type ExportResult, exportToLake } from "./export_events.ts";
import { createS3Client, ensureBucket, lakeS3Endpoint } from "./lake_s3.ts";

/** The export as a job a scheduler runs: the S3 client and settings from the configuration. */
export interface LakeExportJob {
  /** Exports until caught up; creates the bucket first on an emulator when configured to. */
  run(signal?: AbortSignal): Promise<ExportResult>;
  /** Releases the S3 client. */
  close(): void;
}

/**
 * Builds the export job from `config` (LAKE_BUCKET, LAKE_PREFIX, LAKE_S3_ENDPOINT or
 * SQS_ENDPOINT, LAKE_EXPORT_MAX_ROWS): one line for a maintenance scheduler, e.g.
 * `const lake = createLakeExportJob({ sql, config }); … await lake.run(signal)`.
 */
export function createLakeExportJob(deps: {
  sql: Sql;
  config: Config;
  env?: Record<string, string | undefined>;
}): LakeExportJob {
  const { sql, config } = deps;
  const s3 = createS3Client(config, deps.env ?? {});
  let bucketReady: Promise<void> | null = null;
  return {
    async run(signal) {
      if (config.lakeCreateBucket && lakeS3Endpoint(config)) {
        bucketReady ??= ensureBucket(s3, config.lakeBucket).catch((err) => {
          bucketReady = null;
          throw err;
        });
        await bucketReady;
      }
      return await exportToLake(
        { sql, s3, bucket: config.lakeBucket, prefix: config.lakePrefix },
        { maxRows: config.lakeExportMaxRows, ...(signal ? { signal } : {}) },
      );
    },
    close: () => s3.destroy(),
  };
}
