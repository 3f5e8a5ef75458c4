/**
 * The data lake: committed raw events exported exactly once to Parquet on S3 in Hive partitions
 * (`events/dt=YYYY-MM-DD/hour=HH/`), mirrored locally for SQL. Everything exported here is plain
 * JavaScript (the export needs no native code and no file system), so a consumer or scheduler may
 * import it; the DuckDB side (queries, batch view, cohorts, experiments) stays in the lake's own
 * program, `consumer/lake/main.ts`, and its modules.
 */
export {
  type ExportDeps,
  type ExportedObject,
  type ExportOptions,
  type ExportResult,
  exportToLake,
  readWatermark,
} from "./export_events.ts";
export { createLakeExportJob, type LakeExportJob } from "./lake_exporter.ts";
export {
  LAKE_COLUMNS,
  LAKE_PARTITION_KEYS,
  type LakeColumn,
  objectKey,
  partitionOf,
} from "./lake_columns.ts";
export { createS3Client, ensureBucket, lakeS3Endpoint, S3Client } from "./lake_s3.ts";
export { type SyncDeps, syncLake, type SyncOptions, type SyncResult } from "./sync_lake.ts";
