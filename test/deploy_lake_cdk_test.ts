/**
 * The lake's AWS resources synthesize as the docs promise: a private, TLS-only bucket aged into
 * Standard-IA then Glacier Instant Retrieval, a Glue table over exactly the export's layout with
 * partition projection, an Athena workgroup with a scan limit, write access for the consumers, and
 * the scheduled `lake jobs` task: its schedule, command, grants, network access and alarm.
 */
import assert from "node:assert/strict";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as ecs from "aws-cdk-lib/aws-ecs";
import { LAKE_DATABASE, LAKE_WORKGROUP, LakeConstruct } from "../deploy/cdk/lake_construct.ts";
import { ScaleStreamStack } from "../deploy/cdk/scalestream_stack.ts";
import { LAKE_COLUMNS, objectKey } from "../consumer/lake/mod.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

function withTempOutdir<T>(f: (app: App) => T): T {
  const outdir = Deno.makeTempDirSync({ prefix: "scalestream-lake-cdk-" });
  try {
    return f(new App({ outdir }));
  } finally {
    Deno.removeSync(outdir, { recursive: true });
  }
}

const { template, json } = withTempOutdir((app) => {
  const stack = new Stack(app, "LakeTest");
  const task = new ecs.FargateTaskDefinition(stack, "Task");
  task.addContainer("consumer", { image: ecs.ContainerImage.fromRegistry("consumer:test") });
  new LakeConstruct(stack, "Lake", { writers: [task] });
  const template = Template.fromStack(stack);
  return { template, json: template.toJSON() as Json };
});
const resources = json.Resources as Record<string, Json>;
const one = (type: string): Json => {
  const found = Object.values(resources).filter((r) => r.Type === type);
  assert.equal(found.length, 1, `one ${type}`);
  return found[0]!.Properties;
};

Deno.test("the lake bucket is private, TLS-only and ages Parquet into IA, then Glacier IR", () => {
  const bucket = one("AWS::S3::Bucket");
  assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  assert.equal(
    bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
      .SSEAlgorithm,
    "AES256",
  );
  const rules = bucket.LifecycleConfiguration.Rules as Json[];
  const parquet = rules.find((r) => r.Prefix === "events/")!;
  assert.deepEqual(parquet.Transitions, [
    { StorageClass: "STANDARD_IA", TransitionInDays: 30 },
    { StorageClass: "GLACIER_IR", TransitionInDays: 90 },
  ]);
  assert.ok(rules.some((r) => r.Prefix === "athena-results/" && r.ExpirationInDays === 7));
  template.hasResourceProperties("AWS::S3::BucketPolicy", {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Effect: "Deny",
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }),
      ]),
    },
  });
  assert.throws(
    () =>
      withTempOutdir((app) =>
        new LakeConstruct(new Stack(app, "Bad"), "Lake", { infrequentAccessAfterDays: 10 })
      ),
    RangeError,
  );
});

Deno.test("the Glue table matches the export's columns and projects dt/hour partitions", () => {
  assert.equal(one("AWS::Glue::Database").DatabaseInput.Name, LAKE_DATABASE);
  const table = one("AWS::Glue::Table").TableInput;
  const sd = table.StorageDescriptor;
  assert.deepEqual(
    sd.Columns.map((c: Json) => [c.Name, c.Type]),
    LAKE_COLUMNS.map((c) => [c.name, c.glue]),
  );
  assert.deepEqual(table.PartitionKeys.map((k: Json) => k.Name), ["dt", "hour"]);
  assert.equal(
    sd.SerdeInfo.SerializationLibrary,
    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
  );
  const p = table.Parameters;
  assert.equal(p["projection.enabled"], "true");
  assert.equal(p["projection.dt.format"], "yyyy-MM-dd");
  assert.equal(p["projection.hour.range"], "0,23");
  assert.equal(p["projection.hour.digits"], "2");
  // The template and the export's object names describe the same path.
  const template = JSON.stringify(p["storage.location.template"]);
  assert.match(template, /events\/dt=\$\{dt\}\/hour=\$\{hour\}\//);
  assert.match(
    objectKey("", { dt: "2026-01-02", hour: "07" }, 1, 2),
    /^events\/dt=2026-01-02\/hour=07\//,
  );
});

Deno.test("the Athena workgroup enforces its result location and a scan limit", () => {
  const wg = one("AWS::Athena::WorkGroup");
  assert.equal(wg.Name, LAKE_WORKGROUP);
  const c = wg.WorkGroupConfiguration;
  assert.equal(c.EnforceWorkGroupConfiguration, true);
  assert.equal(c.BytesScannedCutoffPerQuery, 10 * 1024 ** 3);
  assert.match(JSON.stringify(c.ResultConfiguration.OutputLocation), /athena-results\//);
  assert.equal(c.EngineVersion.SelectedEngineVersion, "Athena engine version 3");
});

Deno.test("lake writers may put Parquet under events/ and are told the bucket", () => {
  template.hasResourceProperties("AWS::IAM::Policy", {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Action: "s3:PutObject",
          Resource: Match.objectLike({
            "Fn::Join": Match.arrayWith([Match.arrayWith(["/events/*"])]),
          }),
        }),
      ]),
    },
  });
  template.hasResourceProperties("AWS::ECS::TaskDefinition", {
    ContainerDefinitions: [
      Match.objectLike({
        Environment: Match.arrayWith([
          Match.objectLike({ Name: "LAKE_BUCKET" }),
          { Name: "LAKE_CREATE_BUCKET", Value: "false" },
        ]),
      }),
    ],
  });
});

/** The whole stack, synthesized with `props` (the lake jobs' options). */
function synthStack(lakeJobs?: { everyMinutes?: number }): Json {
  return withTempOutdir((app) => {
    const images = (_: Stack) => ({
      consumer: ecs.ContainerImage.fromRegistry("c:test"),
      producer: ecs.ContainerImage.fromRegistry("p:test"),
      api: ecs.ContainerImage.fromRegistry("a:test"),
      migrate: ecs.ContainerImage.fromRegistry("m:test"),
      lake: ecs.ContainerImage.fromRegistry("l:test"),
    });
    const stack = new ScaleStreamStack(app, "Full", { images, ...(lakeJobs ? { lakeJobs } : {}) });
    return Template.fromStack(stack).toJSON() as Json;
  });
}

const full = synthStack();
const fullResources = full.Resources as Record<string, Json>;
/** The one resource of `type` whose logical ID starts with `prefix`, with its ID. */
function only(type: string, prefix: string): [string, Json] {
  const found = Object.entries(fullResources).filter(([id, r]) =>
    r.Type === type && id.startsWith(prefix)
  );
  assert.equal(found.length, 1, `one ${type} ${prefix}*: ${found.map(([id]) => id)}`);
  return found[0]!;
}
/** Every statement of the policies attached to role `roleId`. */
function statementsOf(roleId: string): Json[] {
  return Object.values(fullResources)
    .filter((r) =>
      r.Type === "AWS::IAM::Policy" &&
      (r.Properties.Roles as Json[]).some((ref) => ref.Ref === roleId)
    )
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);
}

Deno.test("the ScaleStream stack composes the lake with the lake jobs as its only writer", () => {
  const stackTemplate = Template.fromJSON(full);
  stackTemplate.resourceCountIs("AWS::Glue::Table", 1);
  stackTemplate.resourceCountIs("AWS::Athena::WorkGroup", 1);
  const containers = Object.values(full.Resources as Record<string, Json>)
    .filter((r) => r.Type === "AWS::ECS::TaskDefinition")
    .flatMap((r) => r.Properties.ContainerDefinitions as Json[]);
  const told = containers
    .filter((c) => ((c.Environment ?? []) as Json[]).some((e) => e.Name === "LAKE_BUCKET"))
    .map((c) => c.Name);
  assert.deepEqual(told, ["lakejobs"], "only the lake jobs are told the bucket");
});

Deno.test("a schedule starts the `lake jobs` task on Fargate every 60 minutes by default", () => {
  const [taskId, task] = only("AWS::ECS::TaskDefinition", "LakeJobsTask");
  const [clusterId] = only("AWS::ECS::Cluster", "Cluster");
  const [groupId] = only("AWS::EC2::SecurityGroup", "LakeJobsSecurityGroup");
  const [, rule] = only("AWS::Events::Rule", "LakeJobsSchedule");
  assert.equal(rule.Properties.ScheduleExpression, "rate(1 hour)");
  assert.equal(rule.Properties.State, "ENABLED");
  const [target] = rule.Properties.Targets as Json[];
  assert.deepEqual(target!.Arn, { "Fn::GetAtt": [clusterId, "Arn"] });
  assert.equal(target!.EcsParameters.LaunchType, "FARGATE");
  assert.equal(target!.EcsParameters.TaskCount, 1);
  assert.deepEqual(target!.EcsParameters.TaskDefinitionArn, { Ref: taskId });
  const vpc = target!.EcsParameters.NetworkConfiguration.AwsVpcConfiguration;
  assert.deepEqual(vpc.SecurityGroups, [{ "Fn::GetAtt": [groupId, "GroupId"] }]);
  assert.equal(vpc.AssignPublicIp, "DISABLED");

  // EventBridge may start this task and pass its two roles, nothing else.
  const eventsRole = logicalIdOfRef(target!.RoleArn);
  const runTask = statementsOf(eventsRole).find((s) => s.Action === "ecs:RunTask");
  assert.ok(runTask, "the schedule's role may run the task");
  assert.deepEqual(runTask.Resource, { Ref: taskId });

  const [container] = task.Properties.ContainerDefinitions as Json[];
  assert.deepEqual(container!.Command, ["jobs"]);
  assert.equal(container!.Image, "l:test");
  assert.equal(container!.ReadonlyRootFilesystem, true);
  const env = Object.fromEntries(
    (container!.Environment as Json[]).map((e) => [e.Name, e.Value]),
  );
  assert.equal(env.LAKE_CACHE_DIR, "/tmp/lake-cache");
  assert.equal(env.LAKE_CREATE_BUCKET, "false");
  assert.equal(env.LOG_FORMAT, "json");
  assert.ok(env.LAKE_BUCKET && env.DB_HOST && env.AWS_REGION, JSON.stringify(env));
  assert.deepEqual((container!.Secrets as Json[]).map((s) => s.Name).sort(), [
    "DB_PASSWORD",
    "DB_USER",
  ]);
  const [logsId] = only("AWS::Logs::LogGroup", "lakejobsLogs");
  assert.deepEqual(container!.LogConfiguration.Options["awslogs-group"], { Ref: logsId });

  // A different interval comes from the stack's props (the app's `lakeJobsEveryMinutes` context).
  const every5 = Object.values(synthStack({ everyMinutes: 5 }).Resources as Record<string, Json>)
    .find((r) => r.Type === "AWS::Events::Rule")!;
  assert.equal(every5.Properties.ScheduleExpression, "rate(5 minutes)");
  assert.throws(() => synthStack({ everyMinutes: 0 }), RangeError);
});

Deno.test("the lake jobs task may write events/ and read the lake, and reach the database", () => {
  const [, task] = only("AWS::ECS::TaskDefinition", "LakeJobsTask");
  const roleId = logicalIdOfRef(task.Properties.TaskRoleArn);
  const [bucketId] = only("AWS::S3::Bucket", "LakeBucket");
  const statements = statementsOf(roleId);
  const actions = statements.flatMap((s) => [s.Action].flat()).sort();
  assert.deepEqual(actions, [
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
    "s3:PutObject",
  ]);
  const put = statements.find((s) => s.Action === "s3:PutObject")!;
  assert.deepEqual(put.Resource["Fn::Join"][1], [{ "Fn::GetAtt": [bucketId, "Arn"] }, "/events/*"]);
  // No queue and no secret for the program itself; its execution role reads the DB secret.
  const executionId = logicalIdOfRef(task.Properties.ExecutionRoleArn);
  assert.ok(
    statementsOf(executionId).some((s) =>
      [s.Action].flat().includes("secretsmanager:GetSecretValue")
    ),
  );

  const [groupId] = only("AWS::EC2::SecurityGroup", "LakeJobsSecurityGroup");
  const [databaseGroupId] = only("AWS::EC2::SecurityGroup", "DatabaseSecurityGroup");
  const ingress = Object.values(fullResources).find((r) =>
    r.Type === "AWS::EC2::SecurityGroupIngress" &&
    r.Properties.SourceSecurityGroupId?.["Fn::GetAtt"]?.[0] === groupId
  );
  assert.ok(ingress, "the database admits the lake jobs");
  assert.deepEqual(ingress.Properties.GroupId, { "Fn::GetAtt": [databaseGroupId, "GroupId"] });
  assert.equal(ingress.Properties.FromPort, 5432);
  assert.equal(ingress.Properties.ToPort, 5432);
});

Deno.test("an alarm fires when three schedule periods in a row have no completed lake jobs run", () => {
  const [logsId] = only("AWS::Logs::LogGroup", "lakejobsLogs");
  const [, filter] = only("AWS::Logs::MetricFilter", "LakeJobsCompletedFilter");
  assert.deepEqual(filter.Properties.LogGroupName, { Ref: logsId });
  assert.equal(filter.Properties.FilterPattern, '{ $.message = "Lake jobs finished*" }');
  const metric = filter.Properties.MetricTransformations[0];
  const [, alarm] = only("AWS::CloudWatch::Alarm", "LakeJobsMissedRunsAlarm");
  const [topicId] = only("AWS::SNS::Topic", "AlarmTopic");
  assert.equal(alarm.Properties.MetricName, metric.MetricName);
  assert.equal(alarm.Properties.Namespace, metric.MetricNamespace);
  assert.equal(alarm.Properties.Period, 3600);
  assert.equal(alarm.Properties.ComparisonOperator, "LessThanThreshold");
  assert.equal(alarm.Properties.Threshold, 1);
  assert.equal(alarm.Properties.EvaluationPeriods, 3);
  assert.equal(alarm.Properties.DatapointsToAlarm, 3);
  assert.equal(alarm.Properties.TreatMissingData, "breaching");
  assert.deepEqual(alarm.Properties.AlarmActions, [{ Ref: topicId }]);
  assert.match(alarm.Properties.AlarmDescription, /docs\/runbook\.md#lake-jobs/);
});

function logicalIdOfRef(ref: Json): string {
  return ref?.Ref ?? ref?.["Fn::GetAtt"]?.[0];
}
