/**
 * ScaleStream on AWS: SQS queue + DLQ, a VPC, RDS PostgreSQL 15, consumers on ECS Fargate scaled on
 * backlog per task, the API behind an ALB, a producer task definition, least-privilege IAM,
 * CloudWatch alarms and a dashboard. See docs/architecture.md and docs/runbook.md.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as appscaling from "aws-cdk-lib/aws-applicationautoscaling";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as rds from "aws-cdk-lib/aws-rds";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { PipelineAlarms } from "./pipeline_alarms.ts";

/** The container image of each program (deploy/Dockerfile targets). */
export interface ScaleStreamImages {
  consumer: ecs.ContainerImage;
  producer: ecs.ContainerImage;
  api: ecs.ContainerImage;
  migrate: ecs.ContainerImage;
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
}

/** Must match the consumer's CONSUMER_SHUTDOWN_DEADLINE_MS (25 s) plus margin; Fargate allows 120 s. */
export const CONSUMER_STOP_TIMEOUT_S = 30;
export const CONSUMER_SHUTDOWN_DEADLINE_MS = 25_000;
export const CONSUMER_HEALTH_PORT = 8081;
export const API_PORT = 8080;
const QUEUE_VISIBILITY_TIMEOUT_S = 30;
const MAX_RECEIVE_COUNT = 5;
const QUEUE_RETENTION = Duration.days(4);
const DLQ_RETENTION = Duration.days(14);
const DB_NAME = "scalestream";
const DB_USER = "scalestream";
/**
 * Characters the generated database password never contains: everything but letters, digits and
 * `-_.`, so the container entrypoint can put it into DATABASE_URL without escaping.
 */
const PASSWORD_EXCLUDED = " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~";

export class ScaleStreamStack extends Stack {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly database: rds.DatabaseInstance;
  readonly consumerService: ecs.FargateService;
  readonly apiService: ecs.FargateService;

  constructor(scope: Construct, id: string, props: ScaleStreamStackProps) {
    super(scope, id, props);
    const images = props.images(this);

    // --- Queue and dead-letter queue -------------------------------------------------------------
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", {
      retentionPeriod: DLQ_RETENTION,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, "EventQueue", {
      retentionPeriod: QUEUE_RETENTION,
      visibilityTimeout: Duration.seconds(QUEUE_VISIBILITY_TIMEOUT_S),
      receiveMessageWaitTime: Duration.seconds(20),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    // --- Network ---------------------------------------------------------------------------------
    const vpc = new ec2.Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: "app", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: "data", subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const appSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const consumerSg = new ec2.SecurityGroup(this, "ConsumerSecurityGroup", {
      vpc,
      description: "ScaleStream consumer tasks",
    });
    const apiSg = new ec2.SecurityGroup(this, "ApiSecurityGroup", {
      vpc,
      description: "ScaleStream API tasks",
    });
    const producerSg = new ec2.SecurityGroup(this, "ProducerSecurityGroup", {
      vpc,
      description: "ScaleStream producer tasks (no database access)",
    });
    const migrateSg = new ec2.SecurityGroup(this, "MigrateSecurityGroup", {
      vpc,
      description: "ScaleStream migration task",
    });
    const dbSg = new ec2.SecurityGroup(this, "DatabaseSecurityGroup", {
      vpc,
      description: "ScaleStream PostgreSQL: reachable from the ScaleStream tasks only",
      allowAllOutbound: false,
    });
    for (
      const [sg, who] of [[consumerSg, "consumers"], [apiSg, "API"], [
        migrateSg,
        "migrations",
      ]] as const
    ) {
      dbSg.addIngressRule(sg, ec2.Port.tcp(5432), `PostgreSQL from the ${who}`);
    }

    // --- Database --------------------------------------------------------------------------------
    const parameterGroup = new rds.ParameterGroup(this, "DatabaseParameters", {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_15 }),
      description: "ScaleStream: TLS only, slow statements logged",
      parameters: {
        "rds.force_ssl": "1",
        "log_min_duration_statement": "1000",
        "idle_in_transaction_session_timeout": "60000",
      },
    });
    this.database = new rds.DatabaseInstance(this, "Database", {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_15 }),
      instanceType: props.dbInstanceType ??
        ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.MEDIUM),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSg],
      publiclyAccessible: false,
      multiAz: props.multiAz ?? false,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: props.dbAllocatedStorageGiB ?? 100,
      maxAllocatedStorage: (props.dbAllocatedStorageGiB ?? 100) * 4,
      databaseName: DB_NAME,
      credentials: rds.Credentials.fromGeneratedSecret(DB_USER, {
        excludeCharacters: PASSWORD_EXCLUDED,
      }),
      parameterGroup,
      backupRetention: Duration.days(7),
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      enablePerformanceInsights: true,
      cloudwatchLogsExports: ["postgresql"],
      autoMinorVersionUpgrade: true,
    });
    const dbSecret = this.database.secret!;
    const dbEnvironment = {
      DB_HOST: this.database.dbInstanceEndpointAddress,
      DB_PORT: this.database.dbInstanceEndpointPort,
      DB_NAME,
      DB_SSLMODE: "verify-full",
    };
    // Read by the execution role when a task starts; the programs' task roles never see the secret.
    const dbSecrets = {
      DB_USER: ecs.Secret.fromSecretsManager(dbSecret, "username"),
      DB_PASSWORD: ecs.Secret.fromSecretsManager(dbSecret, "password"),
    };
    const queueEnvironment = {
      AWS_REGION: this.region,
      SQS_QUEUE_URL: this.queue.queueUrl,
      SQS_DLQ_URL: this.deadLetterQueue.queueUrl,
      SQS_CREATE_QUEUES: "false",
      SQS_MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
      LOG_FORMAT: "json",
    };

    // --- Cluster ---------------------------------------------------------------------------------
    const cluster = new ecs.Cluster(this, "Cluster", {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED, // RunningTaskCount for backlog per task
    });
    const logGroup = (name: string) =>
      new logs.LogGroup(this, `${name}Logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });

    /** A task definition with its own task role and its own execution role. */
    const taskDefinition = (
      name: string,
      size: { cpu: number; memoryMiB: number },
      taskRole: iam.Role,
    ) => {
      const executionRole = new iam.Role(this, `${name}ExecutionRole`, {
        assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        description: `ScaleStream ${name}: pulls the image, writes logs, reads the database secret`,
      });
      const def = new ecs.FargateTaskDefinition(this, `${name}Task`, {
        cpu: size.cpu,
        memoryLimitMiB: size.memoryMiB,
        taskRole,
        executionRole,
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.X86_64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
      });
      def.addVolume({ name: "tmp" });
      return def;
    };
    const taskRole = (name: string, statements: iam.PolicyStatement[]) => {
      const role = new iam.Role(this, `${name}TaskRole`, {
        assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        description: `ScaleStream ${name}: what the program itself may call`,
      });
      for (const s of statements) role.addToPolicy(s);
      return role;
    };
    /** Adds the program's container: read-only root file system, a writable /tmp, JSON logs. */
    const addContainer = (
      def: ecs.FargateTaskDefinition,
      name: string,
      options: Omit<ecs.ContainerDefinitionOptions, "logging" | "readonlyRootFilesystem">,
    ) => {
      const group = logGroup(name);
      const container = def.addContainer(name, {
        ...options,
        readonlyRootFilesystem: true,
        logging: ecs.LogDrivers.awsLogs({ streamPrefix: name, logGroup: group }),
      });
      container.addMountPoints({ containerPath: "/tmp", sourceVolume: "tmp", readOnly: false });
      return group;
    };

    // --- Consumers -------------------------------------------------------------------------------
    const consumerRole = taskRole("Consumer", [
      new iam.PolicyStatement({
        sid: "ConsumeEvents",
        actions: [
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:GetQueueAttributes",
        ],
        resources: [this.queue.queueArn],
      }),
    ]);
    const consumerSize = {
      cpu: props.consumer?.cpu ?? 1024,
      memoryMiB: props.consumer?.memoryMiB ?? 2048,
    };
    const consumerTask = taskDefinition("Consumer", consumerSize, consumerRole);
    const consumerLogs = addContainer(consumerTask, "consumer", {
      image: images.consumer,
      environment: {
        ...queueEnvironment,
        ...dbEnvironment,
        CONSUMER_HEALTH_PORT: String(CONSUMER_HEALTH_PORT),
        CONSUMER_SHUTDOWN_DEADLINE_MS: String(CONSUMER_SHUTDOWN_DEADLINE_MS),
        CONSUMER_VISIBILITY_TIMEOUT_S: String(QUEUE_VISIBILITY_TIMEOUT_S),
        // Application metrics as EMF lines on stdout; awslogs ships them (PipelineAlarms).
        CLOUDWATCH_EMF: "true",
      },
      secrets: dbSecrets,
      portMappings: [{ containerPort: CONSUMER_HEALTH_PORT }],
      stopTimeout: Duration.seconds(CONSUMER_STOP_TIMEOUT_S),
      healthCheck: {
        command: ["CMD", "/app/healthcheck.sh", String(CONSUMER_HEALTH_PORT)],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
    });
    const minConsumers = props.consumer?.minTasks ?? 1;
    const maxConsumers = props.consumer?.maxTasks ?? 20;
    this.consumerService = new ecs.FargateService(this, "ConsumerService", {
      cluster,
      taskDefinition: consumerTask,
      desiredCount: minConsumers,
      vpcSubnets: appSubnets,
      securityGroups: [consumerSg],
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      enableExecuteCommand: false,
    });

    // Backlog per task (AWS's recommended metric math): visible messages / running tasks.
    const consumerScaling = new appscaling.ScalableTarget(this, "ConsumerScalableTarget", {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      scalableDimension: "ecs:service:DesiredCount",
      resourceId: `service/${cluster.clusterName}/${this.consumerService.serviceName}`,
      minCapacity: minConsumers,
      maxCapacity: maxConsumers,
    });
    const backlogTarget = props.backlogPerTaskTarget ?? 100;
    new appscaling.CfnScalingPolicy(this, "ConsumerBacklogPerTaskScaling", {
      policyName: "consumer-backlog-per-task",
      policyType: "TargetTrackingScaling",
      scalingTargetId: consumerScaling.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: backlogTarget,
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
                  dimensions: [{ name: "QueueName", value: this.queue.queueName }],
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
                    { name: "ClusterName", value: cluster.clusterName },
                    { name: "ServiceName", value: this.consumerService.serviceName },
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

    // --- API behind an ALB -----------------------------------------------------------------------
    const apiRole = taskRole("Api", [
      new iam.PolicyStatement({
        sid: "IngestEvents",
        actions: ["sqs:SendMessage"],
        resources: [this.queue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: "ReadQueueDepth",
        actions: ["sqs:GetQueueAttributes"],
        resources: [this.queue.queueArn, this.deadLetterQueue.queueArn],
      }),
      // Age of the oldest message for /v1/pipeline/status (API_CLOUDWATCH_AGE). GetMetricData has
      // no resource-level permissions, so the resource is "*"; the action is read-only.
      new iam.PolicyStatement({
        sid: "ReadOldestMessageAge",
        actions: ["cloudwatch:GetMetricData"],
        resources: ["*"],
      }),
    ]);
    const apiSize = { cpu: props.api?.cpu ?? 512, memoryMiB: props.api?.memoryMiB ?? 1024 };
    const apiTask = taskDefinition("Api", apiSize, apiRole);
    addContainer(apiTask, "api", {
      image: images.api,
      environment: {
        ...queueEnvironment,
        ...dbEnvironment,
        HOST: "0.0.0.0",
        PORT: String(API_PORT),
      },
      secrets: dbSecrets,
      portMappings: [{ containerPort: API_PORT }],
      stopTimeout: Duration.seconds(10),
      healthCheck: {
        command: ["CMD", "/app/healthcheck.sh", String(API_PORT)],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(15),
      },
    });
    const minApi = props.api?.minTasks ?? 2;
    this.apiService = new ecs.FargateService(this, "ApiService", {
      cluster,
      taskDefinition: apiTask,
      desiredCount: minApi,
      vpcSubnets: appSubnets,
      securityGroups: [apiSg],
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
    });
    const albSg = new ec2.SecurityGroup(this, "LoadBalancerSecurityGroup", {
      vpc,
      description: "ScaleStream public load balancer",
    });
    const alb = new elbv2.ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
    });
    const listener = props.certificateArn
      ? alb.addListener("Https", {
        port: 443,
        certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      })
      : alb.addListener("Http", { port: 80 });
    if (props.certificateArn) alb.addRedirect();
    const apiTargets = listener.addTargets("Api", {
      port: API_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.apiService],
      healthCheck: { path: "/health", healthyHttpCodes: "200", interval: Duration.seconds(15) },
      deregistrationDelay: Duration.seconds(15),
    });
    const apiScaling = this.apiService.autoScaleTaskCount({
      minCapacity: minApi,
      maxCapacity: props.api?.maxTasks ?? 10,
    });
    apiScaling.scaleOnCpuUtilization("ApiCpuScaling", { targetUtilizationPercent: 60 });
    apiScaling.scaleOnRequestCount("ApiRequestScaling", {
      requestsPerTarget: 1000,
      targetGroup: apiTargets,
    });

    // --- Producer and migration tasks (run on demand: `aws ecs run-task`) -------------------------
    const producerRole = taskRole("Producer", [
      new iam.PolicyStatement({
        sid: "SendEvents",
        actions: ["sqs:SendMessage"],
        resources: [this.queue.queueArn],
      }),
    ]);
    const producerTask = taskDefinition("Producer", { cpu: 1024, memoryMiB: 2048 }, producerRole);
    addContainer(producerTask, "producer", {
      image: images.producer,
      environment: queueEnvironment,
      command: ["--rate", "1000", "--duration", "10m"],
    });
    const migrateTask = taskDefinition(
      "Migrate",
      { cpu: 256, memoryMiB: 512 },
      taskRole("Migrate", []),
    );
    addContainer(migrateTask, "migrate", {
      image: images.migrate,
      environment: { ...dbEnvironment, LOG_FORMAT: "json" },
      secrets: dbSecrets,
    });

    // --- Alarms and dashboard --------------------------------------------------------------------
    const topic = new sns.Topic(this, "AlarmTopic", { displayName: "ScaleStream alarms" });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "TlsOnly",
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ["sns:Publish"],
        resources: [topic.topicArn],
        conditions: { Bool: { "aws:SecureTransport": "false" } },
      }),
    );
    if (props.alarmEmail) {
      topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const notify = new cwActions.SnsAction(topic);
    const minute = Duration.minutes(1);

    const oldestAge = this.queue.metricApproximateAgeOfOldestMessage({
      period: minute,
      statistic: "Maximum",
    });
    const visible = this.queue.metricApproximateNumberOfMessagesVisible({
      period: minute,
      statistic: "Maximum",
    });
    const inflight = this.queue.metricApproximateNumberOfMessagesNotVisible({
      period: minute,
      statistic: "Maximum",
    });
    const dlqDepth = this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: minute,
      statistic: "Maximum",
    });
    const alarms = [
      new cloudwatch.Alarm(this, "OldestMessageAgeAlarm", {
        alarmDescription:
          "Consumers are falling behind: the oldest event message is waiting too long. " +
          "See docs/runbook.md#backlog-growing.",
        metric: oldestAge,
        threshold: props.oldestMessageAlarmS ?? 120,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, "DeadLetterQueueAlarm", {
        alarmDescription:
          "Messages reached the dead-letter queue. See docs/runbook.md#dead-letter-queue.",
        metric: dlqDepth,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];

    // Consumer errors from its JSON log lines (LogTape: "level":"ERROR").
    const consumerErrors = new logs.MetricFilter(this, "ConsumerErrorFilter", {
      logGroup: consumerLogs,
      filterPattern: logs.FilterPattern.stringValue("$.level", "=", "ERROR"),
      metricNamespace: "ScaleStream",
      metricName: "ConsumerErrors",
      metricValue: "1",
      defaultValue: 0,
    }).metric({ period: Duration.minutes(5), statistic: "Sum" });
    alarms.push(
      new cloudwatch.Alarm(this, "ConsumerErrorAlarm", {
        alarmDescription:
          "Consumers log errors (database or SQS failures). See docs/runbook.md#incident-checks.",
        metric: consumerErrors,
        threshold: 10,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    const apiErrorRate = new cloudwatch.MathExpression({
      label: "API 5xx rate (%)",
      expression: "100 * errors / MAX([requests, 1])",
      usingMetrics: {
        errors: alb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
          period: minute,
          statistic: "Sum",
        }),
        requests: alb.metrics.requestCount({ period: minute, statistic: "Sum" }),
      },
      period: minute,
    });
    alarms.push(
      new cloudwatch.Alarm(this, "ApiErrorRateAlarm", {
        alarmDescription:
          "More than 1% of API requests fail with 5xx. See docs/runbook.md#incident-checks.",
        metric: apiErrorRate,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    const backlogPerTask = new cloudwatch.MathExpression({
      label: "backlog per consumer task",
      expression: "visible / running",
      usingMetrics: {
        visible: this.queue.metricApproximateNumberOfMessagesVisible({
          period: minute,
          statistic: "Sum",
        }),
        running: new cloudwatch.Metric({
          namespace: "ECS/ContainerInsights",
          metricName: "RunningTaskCount",
          dimensionsMap: {
            ClusterName: cluster.clusterName,
            ServiceName: this.consumerService.serviceName,
          },
          period: minute,
          statistic: "Average",
        }),
      },
      period: minute,
    });
    const dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      dashboardName: `${this.stackName}-pipeline`,
      defaultInterval: Duration.hours(3),
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Queue depth (messages)",
        left: [visible, inflight],
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: "Oldest message age (s)", left: [oldestAge], width: 8 }),
      new cloudwatch.GraphWidget({ title: "Dead-letter queue depth", left: [dlqDepth], width: 8 }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Consumers: backlog per task vs target",
        left: [backlogPerTask],
        leftAnnotations: [{ value: backlogTarget, label: "target" }],
        right: [backlogPerTask.usingMetrics.running!],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Messages sent / deleted per minute",
        left: [
          this.queue.metricNumberOfMessagesSent({ period: minute, statistic: "Sum" }),
          this.queue.metricNumberOfMessagesDeleted({ period: minute, statistic: "Sum" }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Consumer errors (5 min)",
        left: [consumerErrors],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "PostgreSQL: CPU % and connections",
        left: [this.database.metricCPUUtilization({ period: minute })],
        right: [this.database.metricDatabaseConnections({ period: minute })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "PostgreSQL: write latency and IOPS",
        left: [this.database.metric("WriteLatency", { period: minute, statistic: "Average" })],
        right: [this.database.metric("WriteIOPS", { period: minute, statistic: "Average" })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "API: requests, 5xx rate, p95 latency",
        left: [alb.metrics.requestCount({ period: minute, statistic: "Sum" })],
        right: [apiErrorRate, alb.metrics.targetResponseTime({ period: minute, statistic: "p95" })],
        width: 8,
      }),
    );
    // Alarms on the application's own metrics (EMF from the consumers): pipeline_alarms.ts.
    const pipelineAlarms = new PipelineAlarms(this, "PipelineMetrics", {
      alarmAction: notify,
      dashboard,
    });
    alarms.push(...pipelineAlarms.alarms);
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms, width: 24, height: 3 }),
    );

    // --- Outputs ---------------------------------------------------------------------------------
    new CfnOutput(this, "QueueUrl", { value: this.queue.queueUrl });
    new CfnOutput(this, "DeadLetterQueueUrl", { value: this.deadLetterQueue.queueUrl });
    new CfnOutput(this, "DatabaseEndpoint", { value: this.database.dbInstanceEndpointAddress });
    new CfnOutput(this, "DatabaseSecretArn", { value: dbSecret.secretArn });
    new CfnOutput(this, "LoadBalancerDns", { value: alb.loadBalancerDnsName });
    new CfnOutput(this, "ClusterName", { value: cluster.clusterName });
    new CfnOutput(this, "AppSubnets", {
      value: vpc.selectSubnets(appSubnets).subnetIds.join(","),
    });
    new CfnOutput(this, "MigrateTaskDefinition", { value: migrateTask.taskDefinitionArn });
    new CfnOutput(this, "MigrateSecurityGroupId", { value: migrateSg.securityGroupId });
    new CfnOutput(this, "ProducerTaskDefinition", { value: producerTask.taskDefinitionArn });
    new CfnOutput(this, "ProducerSecurityGroupId", { value: producerSg.securityGroupId });
    new CfnOutput(this, "AlarmTopicArn", { value: topic.topicArn });
  }
}
