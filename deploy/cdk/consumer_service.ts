/**
 * The consumers: a Fargate service that reads the event queue and writes PostgreSQL, scaled on
 * backlog per task (AWS's recommended metric math: visible messages / running tasks), with a stop
 * timeout longer than the consumer's drain deadline.
 */
import { Duration, type Stack } from "aws-cdk-lib";
import * as appscaling from "aws-cdk-lib/aws-applicationautoscaling";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { addProgramService, addProgramTask, type ProgramServiceInputs } from "./program_task.ts";
import { QUEUE_VISIBILITY_TIMEOUT_S } from "./queues.ts";

/** Must match the consumer's CONSUMER_SHUTDOWN_DEADLINE_MS (25 s) plus margin; Fargate allows 120 s. */
export const CONSUMER_STOP_TIMEOUT_S = 30;
export const CONSUMER_SHUTDOWN_DEADLINE_MS = 25_000;
export const CONSUMER_HEALTH_PORT = 8081;

/** Task defaults: 1–20 tasks of 1 vCPU, 2 GiB. */
export interface ConsumerServiceProps extends ProgramServiceInputs {
  queue: sqs.IQueue;
  /** Acceptable backlog per task, in SQS messages (default 100). */
  backlogPerTaskTarget?: number;
}

export interface ConsumerService {
  service: ecs.FargateService;
  taskDefinition: ecs.FargateTaskDefinition;
  logGroup: logs.LogGroup;
  /** The backlog per task the service scales to. */
  backlogPerTaskTarget: number;
}

/**
 * Adds the consumer service to `stack` itself, under the construct IDs the deployed stack has
 * (`ConsumerService`, `ConsumerScalableTarget`, …), so no logical ID changes.
 */
export function addConsumerService(stack: Stack, props: ConsumerServiceProps): ConsumerService {
  const { taskDefinition, logGroup } = addProgramTask(stack, "Consumer", {
    cpu: props.cpu ?? 1024,
    memoryMiB: props.memoryMiB ?? 2048,
    statements: [
      new iam.PolicyStatement({
        sid: "ConsumeEvents",
        actions: [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueAttributes",
        ],
        resources: [props.queue.queueArn],
      }),
    ],
    container: {
      image: props.image,
      environment: {
        ...props.environment,
        CONSUMER_HEALTH_PORT: String(CONSUMER_HEALTH_PORT),
        CONSUMER_SHUTDOWN_DEADLINE_MS: String(CONSUMER_SHUTDOWN_DEADLINE_MS),
        CONSUMER_VISIBILITY_TIMEOUT_S: String(QUEUE_VISIBILITY_TIMEOUT_S),
        // Application metrics as EMF lines on stdout; awslogs ships them (PipelineAlarms).
        CLOUDWATCH_EMF: "true",
      },
      secrets: props.secrets,
      stopTimeout: Duration.seconds(CONSUMER_STOP_TIMEOUT_S),
    },
    health: { port: CONSUMER_HEALTH_PORT, startPeriodS: 30 },
  });
  const minTasks = props.minTasks ?? 1;
  const service = addProgramService(stack, "ConsumerService", props, {
    taskDefinition,
    desiredCount: minTasks,
    enableExecuteCommand: false,
  });

  const scaling = new appscaling.ScalableTarget(stack, "ConsumerScalableTarget", {
    serviceNamespace: appscaling.ServiceNamespace.ECS,
    scalableDimension: "ecs:service:DesiredCount",
    resourceId: `service/${props.cluster.clusterName}/${service.serviceName}`,
    minCapacity: minTasks,
    maxCapacity: props.maxTasks ?? 20,
  });
  const backlogPerTaskTarget = props.backlogPerTaskTarget ?? 100;
  new appscaling.CfnScalingPolicy(stack, "ConsumerBacklogPerTaskScaling", {
    policyName: "consumer-backlog-per-task",
    policyType: "TargetTrackingScaling",
    scalingTargetId: scaling.scalableTargetId,
    targetTrackingScalingPolicyConfiguration: {
      targetValue: backlogPerTaskTarget,
      scaleOutCooldown: 60,
      scaleInCooldown: 300,
      customizedMetricSpecification: {
        metrics: [
          {
            id: "visible",
            label: "messages visible",
            returnData: false,
            metricStat: {
              metric: {
                namespace: "AWS/SQS",
                metricName: "ApproximateNumberOfMessagesVisible",
                dimensions: [{ name: "QueueName", value: props.queue.queueName }],
              },
              stat: "Sum",
            },
          },
          {
            id: "running",
            label: "running consumer tasks",
            returnData: false,
            metricStat: {
              metric: {
                namespace: "ECS/ContainerInsights",
                metricName: "RunningTaskCount",
                dimensions: [
                  { name: "ClusterName", value: props.cluster.clusterName },
                  { name: "ServiceName", value: service.serviceName },
                ],
              },
              stat: "Average",
            },
          },
          {
            id: "backlog_per_task",
            label: "backlog per task",
            expression: "visible / running",
            returnData: true,
          },
        ],
      },
    },
  });
  return { service, taskDefinition, logGroup, backlogPerTaskTarget };
}
