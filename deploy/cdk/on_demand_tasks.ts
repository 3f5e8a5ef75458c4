/**
 * The producer and migration tasks. No service runs them: an operator or the deploy workflow
 * starts them with `aws ecs run-task` (docs/deployment.md).
 */
import type { Stack } from "aws-cdk-lib";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { addProgramTask } from "./program_task.ts";

export interface OnDemandTasksProps {
  queue: sqs.IQueue;
  images: { producer: ecs.ContainerImage; migrate: ecs.ContainerImage };
  /** Queue settings for the producer. */
  queueEnvironment: Record<string, string>;
  /** Database settings and the DB_USER/DB_PASSWORD secrets for the migrations. */
  dbEnvironment: Record<string, string>;
  dbSecrets: Record<string, ecs.Secret>;
}

export interface OnDemandTasks {
  producer: ecs.FargateTaskDefinition;
  migrate: ecs.FargateTaskDefinition;
}

/** Adds both task definitions to `stack` itself, under the construct IDs the deployed stack has. */
export function addOnDemandTasks(stack: Stack, props: OnDemandTasksProps): OnDemandTasks {
  const producer = addProgramTask(stack, "Producer", {
    cpu: 1024,
    memoryMiB: 2048,
    statements: [
      new iam.PolicyStatement({
        sid: "SendEvents",
        actions: ["sqs:SendMessage"],
        resources: [props.queue.queueArn],
      }),
    ],
    container: {
      image: props.images.producer,
      environment: props.queueEnvironment,
      command: ["--rate", "1000", "--duration", "10m"],
    },
  });
  const migrate = addProgramTask(stack, "Migrate", {
    cpu: 256,
    memoryMiB: 512,
    container: {
      image: props.images.migrate,
      environment: { ...props.dbEnvironment, LOG_FORMAT: "json" },
      secrets: props.dbSecrets,
    },
  });
  return { producer: producer.taskDefinition, migrate: migrate.taskDefinition };
}
