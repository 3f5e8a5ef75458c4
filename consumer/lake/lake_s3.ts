/** S3 client factory and bucket set-up for the data lake (fauxqs serves S3 on its SQS port). */
import {
  CreateBucketCommand,
  HeadBucketCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import type { Config } from "../../shared/mod.ts";

export { S3Client };

/** The S3 endpoint in use: `LAKE_S3_ENDPOINT`, else fauxqs's (`SQS_ENDPOINT`), else AWS. */
export function lakeS3Endpoint(
  config: Pick<Config, "lakeS3Endpoint" | "sqsEndpoint">,
): string | undefined {
  return config.lakeS3Endpoint ?? config.sqsEndpoint;
}

/**
 * Creates an S3 client. With an emulator endpoint it uses path-style addressing (bucket in the
 * path, as fauxqs expects) and dummy credentials unless real ones are in the environment.
 */
export function createS3Client(
  config: Pick<Config, "awsRegion" | "lakeS3Endpoint" | "sqsEndpoint">,
  env: Record<string, string | undefined> = {},
): S3Client {
  const endpoint = lakeS3Endpoint(config);
  if (!endpoint) {
    return new S3Client({ region: config.awsRegion, retryMode: "adaptive", maxAttempts: 5 });
  }
  return new S3Client({
    region: config.awsRegion,
    endpoint,
    forcePathStyle: true,
    retryMode: "adaptive",
    maxAttempts: 5,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? "local",
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "local",
    },
  });
}

/** Creates `bucket` when it does not exist (local emulators); on AWS the CDK stack owns it. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    if (status !== 404) throw err;
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    // Another process created it in between: as good as creating it.
    if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
  }
}
