/** SQS client factory and queue set-up (source queue + dead-letter queue with a redrive policy). */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { type Config, ConfigError } from "./config.ts";

export { SQSClient };

/** The variables through which the AWS SDK's default chain finds credentials without probing. */
const CREDENTIAL_VARIABLES = [
  "AWS_ACCESS_KEY_ID",
  "AWS_PROFILE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", // ECS and Fargate task roles
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_WEB_IDENTITY_TOKEN_FILE", // EKS (IRSA)
] as const;

/** Where to start when there is no queue to talk to. */
export const NO_SQS_MESSAGE = "SQS_ENDPOINT is not set and no AWS credentials were found. " +
  "For a local queue run `deno task sqs` and set SQS_ENDPOINT=http://127.0.0.1:4566; " +
  "for AWS set AWS_REGION and credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or " +
  "AWS_PROFILE; on EC2 with an instance role, AWS_EC2_METADATA_DISABLED=false)";

/**
 * Whether the AWS SDK's default chain has a credential source other than the cloud metadata
 * address: a credential variable, a shared credentials file, or an explicit opt-in to the EC2
 * instance metadata service (`AWS_EC2_METADATA_DISABLED=false`).
 */
export function hasAwsCredentialSource(env: Record<string, string | undefined>): boolean {
  if (CREDENTIAL_VARIABLES.some((name) => env[name])) return true;
  if (env.AWS_EC2_METADATA_DISABLED === "false") return true;
  const home = env.HOME;
  const files = [
    env.AWS_SHARED_CREDENTIALS_FILE ?? (home && `${home}/.aws/credentials`),
    env.AWS_CONFIG_FILE ?? (home && `${home}/.aws/config`),
  ];
  return files.some((file) => {
    if (!file) return false;
    try {
      return Deno.statSync(file).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Creates an SQS client. With `sqsEndpoint` set (fauxqs, LocalStack) it talks to that endpoint with
 * dummy credentials unless real ones are in the environment; otherwise the SDK's default chain,
 * but only when `env` names a credential source: without one the chain would end at the cloud
 * metadata address and fail with a stack trace, so this throws a {@linkcode ConfigError} that
 * says how to start a local queue instead.
 */
export function createSqsClient(
  config: Pick<Config, "awsRegion" | "sqsEndpoint">,
  env: Record<string, string | undefined> = {},
): SQSClient {
  if (!config.sqsEndpoint) {
    if (!hasAwsCredentialSource(env)) throw new ConfigError("SQS_ENDPOINT", NO_SQS_MESSAGE);
    return new SQSClient({ region: config.awsRegion, retryMode: "adaptive", maxAttempts: 5 });
  }
  return new SQSClient({
    region: config.awsRegion,
    endpoint: config.sqsEndpoint,
    retryMode: "adaptive",
    maxAttempts: 5,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? "local",
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "local",
    },
  });
}

/** The URLs of the event queue and its dead-letter queue. */
export interface QueueUrls {
  queueUrl: string;
  dlqUrl: string;
}

/**
 * Returns the queue URLs, creating both queues (idempotently) when `createQueues` is set: the DLQ
 * keeps messages longer than the source, and the source redrives to it after `maxReceiveCount`.
 */
export async function ensureQueues(
  sqs: SQSClient,
  config: Pick<
    Config,
    | "queueName"
    | "queueUrl"
    | "dlqName"
    | "dlqUrl"
    | "maxReceiveCount"
    | "queueRetentionS"
    | "dlqRetentionS"
    | "visibilityTimeoutS"
    | "createQueues"
  >,
): Promise<QueueUrls> {
  if (!config.createQueues) {
    const queueUrl = config.queueUrl ?? await lookupUrl(sqs, config.queueName);
    const dlqUrl = config.dlqUrl ?? await lookupUrl(sqs, config.dlqName);
    return { queueUrl, dlqUrl };
  }
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: config.dlqName,
      Attributes: { MessageRetentionPeriod: String(config.dlqRetentionS) },
    }),
  );
  const dlqUrl = dlq.QueueUrl!;
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }),
  );
  const dlqArn = attrs.Attributes?.QueueArn;
  if (!dlqArn) throw new Error(`Queue "${config.dlqName}" has no ARN`);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: config.queueName,
      Attributes: {
        MessageRetentionPeriod: String(config.queueRetentionS),
        VisibilityTimeout: String(config.visibilityTimeoutS),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: config.maxReceiveCount,
        }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, dlqUrl };
}

async function lookupUrl(sqs: SQSClient, name: string): Promise<string> {
  const out = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!out.QueueUrl) throw new Error(`Queue "${name}" not found`);
  return out.QueueUrl;
}
