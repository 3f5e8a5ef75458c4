/**
 * Alarms and the pipeline dashboard: queue age, DLQ depth, consumer errors from their JSON logs,
 * the API's 5xx rate, the application's own EMF metrics (PipelineAlarms), all notifying one
 * TLS-only SNS topic, and a dashboard of queue, consumers, PostgreSQL and API. Every alarm's
 * description links to its runbook section.
 */
import { Duration, type Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as rds from "aws-cdk-lib/aws-rds";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { PipelineAlarms } from "./pipeline_alarms.ts";

export interface MonitoringProps {
  queue: sqs.Queue;
  deadLetterQueue: sqs.Queue;
  database: rds.DatabaseInstance;
  loadBalancer: elbv2.ApplicationLoadBalancer;
  cluster: ecs.ICluster;
  consumerService: ecs.FargateService;
  /** The consumers' log group; its ERROR lines become a metric. */
  consumerLogGroup: logs.ILogGroup;
  /** Drawn as the target line on the backlog-per-task graph. */
  backlogPerTaskTarget: number;
  /** Alarm notifications go to this address (optional; the SNS topic exists either way). */
  alarmEmail?: string;
  /** Age of the oldest message that raises the alarm, seconds (default 120). */
  oldestMessageAlarmS?: number;
}

export interface Monitoring {
  topic: sns.Topic;
  dashboard: cloudwatch.Dashboard;
  alarms: cloudwatch.Alarm[];
}

/**
 * Adds the alarms, the topic and the dashboard to `stack` itself, under the construct IDs the
 * deployed stack has (`AlarmTopic`, `Dashboard`, `PipelineMetrics`, …), so no logical ID changes.
 */
export function addMonitoring(stack: Stack, props: MonitoringProps): Monitoring {
  const { queue, deadLetterQueue, database, loadBalancer } = props;
  const topic = new sns.Topic(stack, "AlarmTopic", { displayName: "ScaleStream alarms" });
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

  const maxPerMinute = { period: minute, statistic: "Maximum" };
  const oldestAge = queue.metricApproximateAgeOfOldestMessage(maxPerMinute);
  const visible = queue.metricApproximateNumberOfMessagesVisible(maxPerMinute);
  const inflight = queue.metricApproximateNumberOfMessagesNotVisible(maxPerMinute);
  const dlqDepth = deadLetterQueue.metricApproximateNumberOfMessagesVisible(maxPerMinute);
  const alarms = [
    new cloudwatch.Alarm(stack, "OldestMessageAgeAlarm", {
      alarmDescription:
        "Consumers are falling behind: the oldest event message is waiting too long. " +
        "See docs/runbook.md#backlog-growing.",
      metric: oldestAge,
      threshold: props.oldestMessageAlarmS ?? 120,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    new cloudwatch.Alarm(stack, "DeadLetterQueueAlarm", {
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
  const consumerErrors = new logs.MetricFilter(stack, "ConsumerErrorFilter", {
    logGroup: props.consumerLogGroup,
    filterPattern: logs.FilterPattern.stringValue("$.level", "=", "ERROR"),
    metricNamespace: "ScaleStream",
    metricName: "ConsumerErrors",
    metricValue: "1",
    defaultValue: 0,
  }).metric({ period: Duration.minutes(5), statistic: "Sum" });
  alarms.push(
    new cloudwatch.Alarm(stack, "ConsumerErrorAlarm", {
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
      errors: loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
        period: minute,
        statistic: "Sum",
      }),
      requests: loadBalancer.metrics.requestCount({ period: minute, statistic: "Sum" }),
    },
    period: minute,
  });
  alarms.push(
    new cloudwatch.Alarm(stack, "ApiErrorRateAlarm", {
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
      visible: queue.metricApproximateNumberOfMessagesVisible({
        period: minute,
        statistic: "Sum",
      }),
      running: new cloudwatch.Metric({
        namespace: "ECS/ContainerInsights",
        metricName: "RunningTaskCount",
        dimensionsMap: {
          ClusterName: props.cluster.clusterName,
          ServiceName: props.consumerService.serviceName,
        },
        period: minute,
        statistic: "Average",
      }),
    },
    period: minute,
  });
  const dashboard = new cloudwatch.Dashboard(stack, "Dashboard", {
    dashboardName: `${stack.stackName}-pipeline`,
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
      leftAnnotations: [{ value: props.backlogPerTaskTarget, label: "target" }],
      right: [backlogPerTask.usingMetrics.running!],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "Messages sent / deleted per minute",
      left: [
        queue.metricNumberOfMessagesSent({ period: minute, statistic: "Sum" }),
        queue.metricNumberOfMessagesDeleted({ period: minute, statistic: "Sum" }),
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
      left: [database.metricCPUUtilization({ period: minute })],
      right: [database.metricDatabaseConnections({ period: minute })],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "PostgreSQL: write latency and IOPS",
      left: [database.metric("WriteLatency", { period: minute, statistic: "Average" })],
      right: [database.metric("WriteIOPS", { period: minute, statistic: "Average" })],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "API: requests, 5xx rate, p95 latency",
      left: [loadBalancer.metrics.requestCount({ period: minute, statistic: "Sum" })],
      right: [
        apiErrorRate,
        loadBalancer.metrics.targetResponseTime({ period: minute, statistic: "p95" }),
      ],
      width: 8,
    }),
  );
  // Alarms on the application's own metrics (EMF from the consumers): pipeline_alarms.ts.
  const pipelineAlarms = new PipelineAlarms(stack, "PipelineMetrics", {
    alarmAction: notify,
    dashboard,
  });
  alarms.push(...pipelineAlarms.alarms);
  dashboard.addWidgets(
    new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms, width: 24, height: 3 }),
  );
  return { topic, dashboard, alarms };
}
