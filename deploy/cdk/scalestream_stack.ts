/**
 * ScaleStream on AWS: SQS queue + DLQ, a VPC, RDS PostgreSQL 15, consumers on ECS Fargate scaled on
 * backlog per task, the API behind an ALB, a producer task definition, the data lake with its
 * scheduled `lake jobs` task, least-privilege IAM, CloudWatch alarms and a dashboard. See docs/architecture.md and docs/runbook.md.
 */
import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ecs from "aws-cdk-lib/aws-ecs";
import type * as rds from "aws-cdk-lib/aws-rds";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { addApiService } from "./api_service.ts";
import { addConsumerService } from "./consumer_service.ts";
import { addDatabase } from "./database.ts";
import { LakeConstruct } from "./lake_construct.ts";
import { addLakeJobs, type LakeJobsOptions } from "./lake_jobs_task.ts";
import { addMonitoring } from "./monitoring.ts";
import { addNetwork } from "./network.ts";
import { addOnDemandTasks } from "./on_demand_tasks.ts";
import { addQueues, MAX_RECEIVE_COUNT } from "./queues.ts";

export {
  CONSUMER_HEALTH_PORT,
  CONSUMER_SHUTDOWN_DEADLINE_MS,
  CONSUMER_STOP_TIMEOUT_S,
} from "./consumer_service.ts";
export { API_PORT } from "./api_service.ts";

/** The container image of each program (deploy/Dockerfile targets). */
export interface ScaleStreamImages {
  consumer: ecs.ContainerImage;
  producer: ecs.ContainerImage;
  api: ecs.ContainerImage;
  migrate: ecs.ContainerImage;
  /** `deno run` of consumer/lake/main.ts with DuckDB (deploy/build.ts, RUN_FROM_CACHE). */
  lake: ecs.ContainerImage;
}

export interface ScaleStreamStackProps extends StackProps {
  /** The images, created in the scope of this stack (ECR imports need a stack scope). */
  images: (scope: Stack) => ScaleStreamImages;
  /** A standby database in a second availability zone (default false; true for production). */
  multiAz?: boolean;
  /** RDS instance class (default db.t4g.medium). */
  dbInstanceType?: ec2.InstanceType;
  /** Initial storage in GiB; storage autoscales up to four times this (default 100). */
  dbAllocatedStorageGiB?: number;
  /** Consumer tasks: bounds and size (defaults 1–20 tasks of 1 vCPU, 2 GiB). */
  consumer?: { minTasks?: number; maxTasks?: number; cpu?: number; memoryMiB?: number };
  /**
   * Acceptable backlog per consumer task, in SQS messages (default 100). AWS's rule: the longest
   * acceptable wait divided by the time one task needs per message. Fill it from measured figures.
   */
  backlogPerTaskTarget?: number;
  /** API tasks (defaults 2–10 tasks of 0.5 vCPU, 1 GiB). */
  api?: { minTasks?: number; maxTasks?: number; cpu?: number; memoryMiB?: number };
  /** An ACM certificate for HTTPS on the load balancer; without one it listens on HTTP only. */
  certificateArn?: string;
  /** Alarm notifications go to this address (optional; the SNS topic exists either way). */
  alarmEmail?: string;
  /** NAT gateways (default 1; one per AZ for production). */
  natGateways?: number;
  /** Age of the oldest message that raises the alarm, seconds (default 120). */
  oldestMessageAlarmS?: number;
  /** The scheduled `lake jobs` task: how often (default every 60 min) and its size. */
  lakeJobs?: LakeJobsOptions;
}

export class ScaleStreamStack extends Stack {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly database: rds.DatabaseInstance;
  readonly consumerService: ecs.FargateService;
  readonly apiService: ecs.FargateService;

  constructor(scope: Construct, id: string, props: ScaleStreamStackProps) {
    super(scope, id, props);
    const images = props.images(this);

    // Each part adds its resources to this stack under the construct IDs they were deployed with:
    // wrapping them in constructs of their own would change their logical IDs, and CloudFormation
    // would replace the database and the queues. test/deploy_cdk_test.ts pins the IDs.
    const { queue, deadLetterQueue } = addQueues(this);
    const network = addNetwork(this, { natGateways: props.natGateways });
    const { vpc, appSubnets, securityGroups } = network;
    const database = addDatabase(this, {
      vpc,
      securityGroup: securityGroups.database,
      multiAz: props.multiAz,
      instanceType: props.dbInstanceType,
      allocatedStorageGiB: props.dbAllocatedStorageGiB,
    });
    const queueEnvironment = {
      AWS_REGION: this.region,
      SQS_QUEUE_URL: queue.queueUrl,
      SQS_DLQ_URL: deadLetterQueue.queueUrl,
      SQS_CREATE_QUEUES: "false",
      SQS_MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
      LOG_FORMAT: "json",
    };
    const cluster = new ecs.Cluster(this, "Cluster", {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED, // RunningTaskCount for backlog per task
    });

    const consumers = addConsumerService(this, {
      cluster,
      subnets: appSubnets,
      securityGroup: securityGroups.consumer,
      queue,
      image: images.consumer,
      environment: { ...queueEnvironment, ...database.environment },
      secrets: database.secrets,
      ...props.consumer,
      backlogPerTaskTarget: props.backlogPerTaskTarget,
    });
    const api = addApiService(this, {
      cluster,
      vpc,
      subnets: appSubnets,
      securityGroup: securityGroups.api,
      queue,
      deadLetterQueue,
      image: images.api,
      environment: { ...queueEnvironment, ...database.environment },
      secrets: database.secrets,
      ...props.api,
      certificateArn: props.certificateArn,
    });
    const tasks = addOnDemandTasks(this, {
      queue,
      images,
      queueEnvironment,
      dbEnvironment: database.environment,
      dbSecrets: database.secrets,
    });
    const { topic } = addMonitoring(this, {
      queue,
      deadLetterQueue,
      database: database.instance,
      loadBalancer: api.loadBalancer,
      cluster,
      consumerService: consumers.service,
      consumerLogGroup: consumers.logGroup,
      backlogPerTaskTarget: consumers.backlogPerTaskTarget,
      alarmEmail: props.alarmEmail,
      oldestMessageAlarmS: props.oldestMessageAlarmS,
    });

    // The lake jobs need the database (like the consumers) and the bucket: write for the export,
    // read for the batch view and the reports.
    const lakeJobs = addLakeJobs(this, {
      cluster,
      subnets: appSubnets,
      securityGroup: securityGroups.lakeJobs,
      image: images.lake,
      environment: { AWS_REGION: this.region, LOG_FORMAT: "json", ...database.environment },
      secrets: database.secrets,
      alarmAction: new cwActions.SnsAction(topic),
      ...props.lakeJobs,
    });
    // Only the lake jobs export: the consumers never touch the lake, so they get no access to it.
    new LakeConstruct(this, "Lake", {
      writers: [lakeJobs.taskDefinition],
      readers: [lakeJobs.taskDefinition],
    });

    this.queue = queue;
    this.deadLetterQueue = deadLetterQueue;
    this.database = database.instance;
    this.consumerService = consumers.service;
    this.apiService = api.service;

    new CfnOutput(this, "QueueUrl", { value: queue.queueUrl });
    new CfnOutput(this, "DeadLetterQueueUrl", { value: deadLetterQueue.queueUrl });
    new CfnOutput(this, "DatabaseEndpoint", {
      value: database.instance.dbInstanceEndpointAddress,
    });
    new CfnOutput(this, "DatabaseSecretArn", { value: database.secret.secretArn });
    new CfnOutput(this, "LoadBalancerDns", { value: api.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, "ClusterName", { value: cluster.clusterName });
    new CfnOutput(this, "AppSubnets", {
      value: vpc.selectSubnets(appSubnets).subnetIds.join(","),
    });
    new CfnOutput(this, "MigrateTaskDefinition", { value: tasks.migrate.taskDefinitionArn });
    new CfnOutput(this, "MigrateSecurityGroupId", {
      value: securityGroups.migrate.securityGroupId,
    });
    new CfnOutput(this, "ProducerTaskDefinition", { value: tasks.producer.taskDefinitionArn });
    new CfnOutput(this, "ProducerSecurityGroupId", {
      value: securityGroups.producer.securityGroupId,
    });
    new CfnOutput(this, "LakeJobsTaskDefinition", {
      value: lakeJobs.taskDefinition.taskDefinitionArn,
    });
    new CfnOutput(this, "AlarmTopicArn", { value: topic.topicArn });
  }
}
