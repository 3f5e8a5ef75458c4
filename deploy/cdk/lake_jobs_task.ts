/**
 * The lake's batch layer in production: a Fargate task running `lake jobs` (export committed events
 * to Parquet, the batch view of yesterday and today, the cohort and experiment reports) started by
 * an EventBridge schedule. Each run is a fresh task, so its local mirror of the lake (LAKE_CACHE_DIR,
 * on the task's ephemeral storage under /tmp) starts empty.
 *
 * Overlapping runs: the schedule starts a task whether or not the last one has finished. The export
 * itself is safe to run twice (one pending range claimed under a row lock on `lake_state`; only one
 * commit moves the watermark), and `lake jobs` takes a PostgreSQL advisory lock for the whole run,
 * so a second run that finds it held exits at once without exporting, checking or reporting.
 *
 * Failures: the program logs `Lake jobs finished` at the end of every completed run; an alarm fires
 * when three schedule periods in a row have none (a crash, a failed start, a run stuck on the lock).
 */
import { Duration, type Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as logs from "aws-cdk-lib/aws-logs";
import { addProgramTask, type ProgramServiceInputs } from "./program_task.ts";

/** Where the task keeps its mirror of the lake: /tmp is the task's only writable path. */
export const LAKE_JOBS_CACHE_DIR = "/tmp/lake-cache";

/** Schedule periods in a row without a completed run that raise the alarm. */
export const LAKE_JOBS_MISSED_RUNS_ALARM = 3;

export interface LakeJobsOptions {
  /** Minutes between runs (default 60; 1–480, so that three periods fit the alarm's one day). */
  everyMinutes?: number;
  /** Task size (default 1 vCPU, 4 GiB: DuckDB computes the reports in memory). */
  cpu?: number;
  memoryMiB?: number;
}

/**
 * Where and what, as for the services (the security group is the lake task's own, which the
 * database's group admits), with the lake's options.
 */
export interface LakeJobsProps extends
  LakeJobsOptions,
  Pick<
    ProgramServiceInputs,
    "cluster" | "subnets" | "securityGroup" | "image" | "environment" | "secrets"
  > {
  /** Notified when runs stop completing, and when they resume. */
  alarmAction: cloudwatch.IAlarmAction;
}

export interface LakeJobs {
  taskDefinition: ecs.FargateTaskDefinition;
  logGroup: logs.LogGroup;
  rule: events.Rule;
  alarm: cloudwatch.Alarm;
}

/**
 * Adds the task (`LakeJobsTask`, its roles and `lakejobsLogs`), the schedule `LakeJobsSchedule`
 * and the alarm `LakeJobsMissedRunsAlarm` to `stack` itself, beside the other programs' tasks. The
 * caller grants the bucket (LakeConstruct `writers` and `readers`), which also sets LAKE_BUCKET.
 */
export function addLakeJobs(stack: Stack, props: LakeJobsProps): LakeJobs {
  const everyMinutes = props.everyMinutes ?? 60;
  if (!Number.isInteger(everyMinutes) || everyMinutes < 1 || everyMinutes > 480) {
    throw new RangeError(
      `Lake jobs interval must be a whole number of minutes from 1 to 480, got "${everyMinutes}"`,
    );
  }
  const { taskDefinition, logGroup } = addProgramTask(stack, "LakeJobs", {
    cpu: props.cpu ?? 1024,
    memoryMiB: props.memoryMiB ?? 4096,
    container: {
      image: props.image,
      command: ["jobs"],
      environment: { ...props.environment, LAKE_CACHE_DIR: LAKE_JOBS_CACHE_DIR },
      secrets: props.secrets,
    },
  });

  const rule = new events.Rule(stack, "LakeJobsSchedule", {
    description: `ScaleStream lake jobs (export, batch view, reports) every ${everyMinutes} min`,
    schedule: events.Schedule.rate(Duration.minutes(everyMinutes)),
  });
  rule.addTarget(
    new targets.EcsTask({
      cluster: props.cluster,
      taskDefinition,
      taskCount: 1,
      launchType: ecs.LaunchType.FARGATE,
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      subnetSelection: props.subnets,
      securityGroups: [props.securityGroup],
    }),
  );

  const period = Duration.minutes(everyMinutes);
  const completed = new logs.MetricFilter(stack, "LakeJobsCompletedFilter", {
    logGroup,
    filterPattern: logs.FilterPattern.stringValue("$.message", "=", "Lake jobs finished*"),
    metricNamespace: "ScaleStream",
    metricName: "LakeJobsCompleted",
    metricValue: "1",
  }).metric({ period, statistic: "Sum" });
  const alarm = new cloudwatch.Alarm(stack, "LakeJobsMissedRunsAlarm", {
    alarmDescription: `No lake jobs run completed in ${LAKE_JOBS_MISSED_RUNS_ALARM} periods of ` +
      `${everyMinutes} min: the lake export, batch view and reports are stalled. ` +
      "See docs/runbook.md#lake-jobs.",
    metric: completed,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: LAKE_JOBS_MISSED_RUNS_ALARM,
    datapointsToAlarm: LAKE_JOBS_MISSED_RUNS_ALARM,
    // No completion logged in a period is exactly the failure this alarm is for.
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  alarm.addAlarmAction(props.alarmAction);
  alarm.addOkAction(props.alarmAction);
  return { taskDefinition, logGroup, rule, alarm };
}
