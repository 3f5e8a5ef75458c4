/**
 * Alarms on the application's own metrics, which the consumers publish to CloudWatch as Embedded
 * Metric Format lines (shared/emf_metrics.ts, ADR 8): end-to-end latency, a throughput drop, the
 * reject rate and the derived-stage lag. Composed into the stack beside the SQS and load-balancer
 * alarms; every alarm's description links to its runbook section.
 */
import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { Construct } from "constructs";
import { EMF_METRIC, EMF_NAMESPACE } from "../../shared/mod.ts";

export interface PipelineAlarmsProps {
  /** Notified when an alarm fires and when it clears. */
  alarmAction: cloudwatch.IAlarmAction;
  /** Graphs of the metrics are added here when given. */
  dashboard?: cloudwatch.Dashboard;
  /** The `Service` dimension the consumers publish under (default "consumer"). */
  service?: string;
  /** p95 end-to-end latency that raises the alarm, ms (default 500, the seeds' objective). */
  e2eP95ThresholdMs?: number;
  /** Rejected share of processed events that raises the alarm, percent (default 5). */
  rejectRatePercent?: number;
  /** Derived-stage lag that raises the alarm, seconds (default 60). */
  derivedLagThresholdS?: number;
  /** Width of the throughput anomaly band in standard deviations (default 3). */
  throughputStdDevs?: number;
}

export class PipelineAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[];
  readonly e2eLatencyAlarm: cloudwatch.Alarm;
  readonly throughputDropAlarm: cloudwatch.Alarm;
  readonly rejectRateAlarm: cloudwatch.Alarm;
  readonly derivedLagAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    const dimensionsMap = { Service: props.service ?? "consumer" };
    const metric = (metricName: string, statistic: string, period: Duration) =>
      new cloudwatch.Metric({
        namespace: EMF_NAMESPACE,
        metricName,
        dimensionsMap,
        statistic,
        period,
      });
    const minute = Duration.minutes(1);
    const fiveMinutes = Duration.minutes(5);

    // Each task publishes its own p95; the worst task is the pipeline's p95 bound.
    const e2eP95 = metric(EMF_METRIC.endToEndLatencyP95, "Maximum", minute);
    this.e2eLatencyAlarm = new cloudwatch.Alarm(this, "EndToEndLatencyAlarm", {
      alarmDescription: `p95 from event time to committed aggregates above ${
        props.e2eP95ThresholdMs ?? 500
      } ms. See docs/runbook.md#end-to-end-latency.`,
      metric: e2eP95,
      threshold: props.e2eP95ThresholdMs ?? 500,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Stored events per 5 minutes, summed over tasks, against the band CloudWatch learns from the
    // metric's own history (daily and weekly shape included): a drop below it alarms.
    const stored = metric(EMF_METRIC.eventsStored, "Sum", fiveMinutes);
    this.throughputDropAlarm = new cloudwatch.AnomalyDetectionAlarm(this, "ThroughputDropAlarm", {
      alarmDescription:
        "Stored events per 5 minutes fell below the expected band. See docs/runbook.md#throughput-drop.",
      metric: stored,
      stdDevs: props.throughputStdDevs ?? 3,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_LOWER_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const rejectRate = new cloudwatch.MathExpression({
      label: "rejected events (% of processed)",
      expression: "100 * rejected / MAX([processed, 1])",
      usingMetrics: {
        rejected: metric(EMF_METRIC.eventsRejected, "Sum", fiveMinutes),
        processed: metric(EMF_METRIC.eventsProcessed, "Sum", fiveMinutes),
      },
      period: fiveMinutes,
    });
    this.rejectRateAlarm = new cloudwatch.Alarm(this, "RejectRateAlarm", {
      alarmDescription: `More than ${
        props.rejectRatePercent ?? 5
      }% of events are rejected (invalid or out of range). See docs/runbook.md#reject-rate.`,
      metric: rejectRate,
      threshold: props.rejectRatePercent ?? 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const derivedLag = metric(EMF_METRIC.derivedStageLag, "Maximum", minute);
    this.derivedLagAlarm = new cloudwatch.Alarm(this, "DerivedStageLagAlarm", {
      alarmDescription: `Derived state (sessions, features, fraud, inventory) is more than ${
        props.derivedLagThresholdS ?? 60
      } s behind the committed core batches. See docs/runbook.md#derived-stage-lag.`,
      metric: derivedLag,
      threshold: props.derivedLagThresholdS ?? 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.alarms = [
      this.e2eLatencyAlarm,
      this.throughputDropAlarm,
      this.rejectRateAlarm,
      this.derivedLagAlarm,
    ];
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(props.alarmAction);
      alarm.addOkAction(props.alarmAction);
    }

    props.dashboard?.addWidgets(
      new cloudwatch.GraphWidget({
        title: "End-to-end latency p95 (ms, worst task)",
        left: [e2eP95],
        leftAnnotations: [{ value: props.e2eP95ThresholdMs ?? 500, label: "objective" }],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: "Events stored per 5 minutes",
        left: [stored, metric(EMF_METRIC.eventsProcessed, "Sum", fiveMinutes)],
        width: 6,
      }),
      new cloudwatch.GraphWidget({ title: "Reject rate (%)", left: [rejectRate], width: 6 }),
      new cloudwatch.GraphWidget({
        title: "Lag (s): consumer receive, derived stage",
        left: [metric(EMF_METRIC.consumerLag, "Maximum", minute), derivedLag],
        width: 6,
      }),
    );
  }
}
