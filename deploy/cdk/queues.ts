/**
 * The event queue and its dead-letter queue. A message that fails `MAX_RECEIVE_COUNT` receives
 * moves to the DLQ, which keeps it longer than the queue so an operator has time to inspect it.
 */
import { Duration, type Stack } from "aws-cdk-lib";
import * as sqs from "aws-cdk-lib/aws-sqs";

export const QUEUE_VISIBILITY_TIMEOUT_S = 30;
export const MAX_RECEIVE_COUNT = 5;
const QUEUE_RETENTION = Duration.days(4);
const DLQ_RETENTION = Duration.days(14);

export interface Queues {
  queue: sqs.Queue;
  deadLetterQueue: sqs.Queue;
}

/**
 * Adds the queues to `stack` itself, not to a construct of their own: their logical IDs are those
 * of the deployed stack, and a new ID would make CloudFormation replace the queues (messages lost).
 */
export function addQueues(stack: Stack): Queues {
  const deadLetterQueue = new sqs.Queue(stack, "DeadLetterQueue", {
    retentionPeriod: DLQ_RETENTION,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  const queue = new sqs.Queue(stack, "EventQueue", {
    retentionPeriod: QUEUE_RETENTION,
    visibilityTimeout: Duration.seconds(QUEUE_VISIBILITY_TIMEOUT_S),
    receiveMessageWaitTime: Duration.seconds(20),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
  });
  return { queue, deadLetterQueue };
}
