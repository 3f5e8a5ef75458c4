/**
 * The data lake on AWS: the S3 bucket the export writes Parquet to (`events/dt=…/hour=…/`), aged
 * into cheaper storage classes, a Glue table over the same layout with partition projection (no
 * crawler, no partition maintenance: Athena computes the partitions from the path template), and
 * an Athena workgroup with a per-query scan limit. The columns come from consumer/lake/lake_columns.ts, the
 * same list the export writes.
 */
import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as athena from "aws-cdk-lib/aws-athena";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as glue from "aws-cdk-lib/aws-glue";
import * as iam from "aws-cdk-lib/aws-iam";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { LAKE_COLUMNS, LAKE_PARTITION_KEYS } from "../../consumer/lake/mod.ts";

export interface LakeConstructProps {
  /** Tasks that export (the consumers): may write `events/`, and get `LAKE_BUCKET`. */
  writers?: ecs.TaskDefinition[];
  /** Tasks that read the lake (the `lake jobs` task): may list and read it, and get `LAKE_BUCKET`. */
  readers?: ecs.TaskDefinition[];
  /** Days until Parquet objects move to S3 Standard-IA (default 30). */
  infrequentAccessAfterDays?: number;
  /**
   * Days until they move to Glacier Instant Retrieval (default 90): still readable by Athena and
   * the query task in milliseconds, unlike Flexible Retrieval and Deep Archive.
   */
  glacierAfterDays?: number;
  /** Days until they are deleted (default: kept). */
  expireAfterDays?: number;
  /** Most bytes one Athena query may scan (default 10 GiB). */
  bytesScannedCutoffPerQuery?: number;
  /** First day partition projection offers (default 2026-01-01). */
  projectionStartDay?: string;
}

/** Names shared with the programs and the docs. */
export const LAKE_DATABASE = "scalestream_lake";
export const LAKE_TABLE = "events";
export const LAKE_WORKGROUP = "scalestream-lake";
const EVENTS_PREFIX = "events/";
const RESULTS_PREFIX = "athena-results/";

export class LakeConstruct extends Construct {
  readonly bucket: s3.Bucket;
  readonly database: glue.CfnDatabase;
  readonly table: glue.CfnTable;
  readonly workGroup: athena.CfnWorkGroup;

  constructor(scope: Construct, id: string, props: LakeConstructProps = {}) {
    super(scope, id);
    const iaDays = props.infrequentAccessAfterDays ?? 30;
    const glacierDays = props.glacierAfterDays ?? 90;
    if (!(iaDays >= 30 && glacierDays > iaDays)) {
      // S3 refuses Standard-IA before 30 days, and a class change must move colder.
      throw new RangeError(
        `Lifecycle days must satisfy 30 <= IA ("${iaDays}") < Glacier ("${glacierDays}")`,
      );
    }

    this.bucket = new s3.Bucket(this, "Bucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Objects are immutable once their export commits; a resumed export rewrites the same
      // content under the same name, so old versions would only cost money.
      versioned: false,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: "age-parquet",
          prefix: EVENTS_PREFIX,
          transitions: [
            {
              storageClass: s3.StorageClass.INFREQUENT_ACCESS,
              transitionAfter: Duration.days(iaDays),
            },
            {
              storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
              transitionAfter: Duration.days(glacierDays),
            },
          ],
          ...(props.expireAfterDays ? { expiration: Duration.days(props.expireAfterDays) } : {}),
        },
        { id: "expire-athena-results", prefix: RESULTS_PREFIX, expiration: Duration.days(7) },
        { id: "abort-multipart", abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.database = new glue.CfnDatabase(this, "Database", {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: LAKE_DATABASE,
        description: "ScaleStream raw events exported from PostgreSQL as Parquet",
      },
    });

    const location = `s3://${this.bucket.bucketName}/${EVENTS_PREFIX}`;
    this.table = new glue.CfnTable(this, "EventsTable", {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: LAKE_DATABASE,
      tableInput: {
        name: LAKE_TABLE,
        description: "One row per stored event; partitioned by event time (UTC)",
        tableType: "EXTERNAL_TABLE",
        parameters: {
          classification: "parquet",
          "parquet.compression": "ZSTD",
          "projection.enabled": "true",
          "projection.dt.type": "date",
          "projection.dt.format": "yyyy-MM-dd",
          "projection.dt.range": `${props.projectionStartDay ?? "2026-01-01"},NOW`,
          "projection.dt.interval": "1",
          "projection.dt.interval.unit": "DAYS",
          "projection.hour.type": "integer",
          "projection.hour.range": "0,23",
          "projection.hour.digits": "2",
          "storage.location.template": `${location}dt=\${dt}/hour=\${hour}/`,
        },
        partitionKeys: LAKE_PARTITION_KEYS.map((k) => ({
          name: k.name,
          type: k.glue,
          comment: k.description,
        })),
        storageDescriptor: {
          location,
          columns: LAKE_COLUMNS.map((c) => ({
            name: c.name,
            type: c.glue,
            comment: c.description,
          })),
          inputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
          outputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
          serdeInfo: {
            serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
          },
        },
      },
    });
    this.table.addResourceDependency(this.database);

    this.workGroup = new athena.CfnWorkGroup(this, "WorkGroup", {
      name: LAKE_WORKGROUP,
      description: "Ad-hoc SQL over the ScaleStream lake",
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 10 * 1024 ** 3,
        engineVersion: { selectedEngineVersion: "Athena engine version 3" },
        resultConfiguration: {
          outputLocation: `s3://${this.bucket.bucketName}/${RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: "SSE_S3" },
        },
      },
    });

    for (const task of props.writers ?? []) {
      // Only PutObject: the export never reads, lists, tags or deletes (grantPut adds those).
      task.taskRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ["s3:PutObject"],
          resources: [this.bucket.arnForObjects(`${EVENTS_PREFIX}*`)],
        }),
      );
      this.configure(task);
    }
    for (const task of props.readers ?? []) {
      this.bucket.grantRead(task.taskRole, `${EVENTS_PREFIX}*`);
      this.configure(task);
    }
  }

  private configure(task: ecs.TaskDefinition): void {
    task.defaultContainer?.addEnvironment("LAKE_BUCKET", this.bucket.bucketName);
    // The stack owns the bucket; programs must not try to create it.
    task.defaultContainer?.addEnvironment("LAKE_CREATE_BUCKET", "false");
  }
}
