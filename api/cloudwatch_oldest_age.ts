/**
 * SQS has no "age of the oldest message" attribute; CloudWatch publishes it as
 * `AWS/SQS ApproximateAgeOfOldestMessage` (1-minute resolution, a few minutes late). This reads the
 * latest datapoint of the last 15 minutes; `null` when there is none.
 */
import { CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";

export function cloudwatchOldestAge(
  options: { region: string; queueName: string; client?: CloudWatchClient },
): () => Promise<number | null> {
  const client = options.client ?? new CloudWatchClient({ region: options.region });
  return async () => {
    const end = new Date();
    const out = await client.send(
      new GetMetricDataCommand({
        StartTime: new Date(end.getTime() - 15 * 60_000),
        EndTime: end,
        ScanBy: "TimestampDescending",
        MetricDataQueries: [{
          Id: "age",
          MetricStat: {
            Metric: {
              Namespace: "AWS/SQS",
              MetricName: "ApproximateAgeOfOldestMessage",
              Dimensions: [{ Name: "QueueName", Value: options.queueName }],
            },
            Period: 60,
            Stat: "Maximum",
          },
        }],
      }),
      { abortSignal: AbortSignal.timeout(3000) },
    );
    return out.MetricDataResults?.[0]?.Values?.[0] ?? null;
  };
}
