/** SQS client factory and queue set-up (source queue + dead-letter queue with a redrive policy). */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { Config } from "./config.ts";

export { SQSClient };

/**
 * Creates an SQS client. With `sqsEndpoint` set (fauxqs, LocalStack) it talks to that endpoint with
 * dummy credentials unless real ones are in the environment; otherwise the SDK's default chain.
 */
export function createSqsClient(
  config: Pick<Config, "awsRegion" | "sqsEndpoint">,
  env: Record<string, string | undefined> = {},
): SQSClient {
  if (!config.sqsEndpoint) {
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
