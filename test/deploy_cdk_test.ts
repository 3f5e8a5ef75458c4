/**
 * The CDK app synthesizes without an AWS account, and its template keeps the promises the docs make:
 * redrive to a longer-lived DLQ, encryption, TLS-only PostgreSQL reachable from the tasks only,
 * least-privilege roles, backlog-per-task autoscaling, a drain-sized stop timeout, alarms.
 */
import assert from "node:assert/strict";
import { App, type Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as ecs from "aws-cdk-lib/aws-ecs";
import {
  CONSUMER_SHUTDOWN_DEADLINE_MS,
  CONSUMER_STOP_TIMEOUT_S,
  ScaleStreamStack,
  type ScaleStreamStackProps,
} from "../deploy/cdk/scalestream_stack.ts";
import {
  REPOSITORY_NAMES,
  ScaleStreamRepositoriesStack,
} from "../deploy/cdk/repositories_stack.ts";
import { addScaleStreamStacks } from "../deploy/cdk/app.ts";
import { EMF_METRIC, EMF_NAMESPACE } from "../shared/mod.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

const images = (_: Stack) => ({
  consumer: ecs.ContainerImage.fromRegistry("scalestream-consumer:test"),
  producer: ecs.ContainerImage.fromRegistry("scalestream-producer:test"),
  api: ecs.ContainerImage.fromRegistry("scalestream-api:test"),
  migrate: ecs.ContainerImage.fromRegistry("scalestream-migrate:test"),
  lake: ecs.ContainerImage.fromRegistry("scalestream-lake:test"),
});

function synth(props: Partial<ScaleStreamStackProps> = {}): { template: Template; json: Json } {
  const outdir = Deno.makeTempDirSync({ prefix: "scalestream-cdk-test-" });
  try {
    const app = new App({ outdir });
    const stack = new ScaleStreamStack(app, "Test", { images, ...props });
    const template = Template.fromStack(stack);
    return { template, json: template.toJSON() };
  } finally {
    Deno.removeSync(outdir, { recursive: true });
  }
}

const { template, json } = synth();
const resources = json.Resources as Record<string, Json>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalIdOf = (ref: unknown): string => {
  const r = ref as Json;
  return r?.Ref ?? r?.["Fn::GetAtt"]?.[0];
};
const queues: Record<string, Json> = Object.fromEntries(
  ofType("AWS::SQS::Queue").map((
    [id, r],
  ) => [id.startsWith("DeadLetter") ? "dlq" : "queue", { id, ...r }]),
);

/** Actions granted to a role, over all the policies attached to it. */
function actionsOf(roleId: string): string[] {
  const actions: string[] = [];
  for (const [, policy] of ofType("AWS::IAM::Policy")) {
    const roles = (policy.Properties.Roles as unknown[]).map(logicalIdOf);
    if (!roles.includes(roleId)) continue;
    for (const st of policy.Properties.PolicyDocument.Statement as Json[]) {
      actions.push(...[st.Action].flat());
    }
  }
  return actions.sort();
}

function taskDefinition(family: string): Json {
  const found = ofType("AWS::ECS::TaskDefinition").find(([id]) => id.startsWith(family));
  assert.ok(found, `no task definition ${family}`);
  return found[1];
}

Deno.test("the event queue redrives to an encrypted DLQ that keeps messages longer", () => {
  const { queue, dlq } = queues;
  assert.ok(queue && dlq);
  assert.deepEqual(queue.Properties.RedrivePolicy, {
    deadLetterTargetArn: { "Fn::GetAtt": [dlq.id, "Arn"] },
    maxReceiveCount: 5,
  });
  assert.ok(dlq.Properties.MessageRetentionPeriod > queue.Properties.MessageRetentionPeriod);
  assert.equal(queue.Properties.SqsManagedSseEnabled, true);
  assert.equal(dlq.Properties.SqsManagedSseEnabled, true);
  // Both refuse requests without TLS.
  template.resourcePropertiesCountIs("AWS::SQS::QueuePolicy", {
    PolicyDocument: {
      Statement: Match.arrayWith([Match.objectLike({
        Effect: "Deny",
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      })]),
    },
  }, 2);
});

Deno.test("PostgreSQL 15 is encrypted, private, TLS-only and reachable only from the tasks", () => {
  const [[, db]] = ofType("AWS::RDS::DBInstance") as [[string, Json]];
  assert.equal(db.Properties.Engine, "postgres");
  assert.match(db.Properties.EngineVersion, /^15/);
  assert.equal(db.Properties.StorageEncrypted, true);
  assert.equal(db.Properties.PubliclyAccessible, false);
  assert.equal(db.Properties.MultiAZ, false);
  assert.match(JSON.stringify(db.Properties.MasterUserPassword), /resolve:secretsmanager/);
  template.hasResourceProperties("AWS::RDS::DBParameterGroup", {
    Parameters: Match.objectLike({ "rds.force_ssl": "1" }),
  });
  // The subnet group holds only the isolated subnets.
  const [[, subnetGroup]] = ofType("AWS::RDS::DBSubnetGroup") as [[string, Json]];
  for (const ref of subnetGroup.Properties.SubnetIds) assert.match(logicalIdOf(ref), /^Vpcdata/);
  // Ingress on the database group: port 5432 from the four task groups, never from a CIDR.
  const dbSg = logicalIdOf(db.Properties.VPCSecurityGroups[0]);
  const ingress = ofType("AWS::EC2::SecurityGroupIngress").map(([, r]) => r.Properties)
    .filter((p) => logicalIdOf(p.GroupId) === dbSg);
  assert.deepEqual(
    ingress.map((p) => logicalIdOf(p.SourceSecurityGroupId)).sort(),
    ["ApiSecurityGroup", "ConsumerSecurityGroup", "MigrateSecurityGroup", "LakeJobsSecurityGroup"]
      .map((n) => Object.keys(resources).find((id) => id.startsWith(n))).sort(),
  );
  for (const p of ingress) assert.equal(p.FromPort, 5432);
  assert.deepEqual(resources[dbSg]!.Properties.SecurityGroupIngress ?? [], []);
  // The generated password is URL-safe (the entrypoint puts it into DATABASE_URL unescaped).
  const [[, secret]] = ofType("AWS::SecretsManager::Secret") as [[string, Json]];
  const excluded: string = secret.Properties.GenerateSecretString.ExcludeCharacters;
  for (const c of ":/@?#%&+ ") assert.ok(excluded.includes(c), `password may contain "${c}"`);
});

Deno.test("multiAz puts a standby database in a second availability zone", () => {
  const multi = synth({ multiAz: true });
  multi.template.hasResourceProperties("AWS::RDS::DBInstance", { MultiAZ: true });
});

/** The app as `cdk deploy` builds it from context values (deploy/cdk/app.ts). */
function synthApp(context: Record<string, string>): Json {
  const outdir = Deno.makeTempDirSync({ prefix: "scalestream-cdk-test-" });
  try {
    const { stack } = addScaleStreamStacks(new App({ outdir, context }));
    return Template.fromStack(stack).toJSON();
  } finally {
    Deno.removeSync(outdir, { recursive: true });
  }
}

Deno.test("every resource keeps the logical ID and type it was deployed with, so none is replaced", async () => {
  // Recorded from the stack before it was split into parts (deploy/cdk/*.ts); a resource whose
  // logical ID changes is replaced by CloudFormation, and the database and queues lose their data.
  const fixture = JSON.parse(
    await Deno.readTextFile(new URL("./fixtures/cdk_logical_ids.json", import.meta.url)),
  ) as {
    variants: Record<
      string,
      { context: Record<string, string>; resources: Record<string, string> }
    >;
  };
  for (const [name, { context, resources: deployed }] of Object.entries(fixture.variants)) {
    const synthesized = Object.fromEntries(
      Object.entries(synthApp(context).Resources as Record<string, Json>).map((
        [id, r],
      ) => [id, r.Type]),
    );
    assert.deepEqual(synthesized, deployed, `logical IDs of the ${name} stack`);
  }
  // The stateful resources are among them (a fixture without them would prove nothing).
  const development = Object.values(fixture.variants.development!.resources);
  for (const type of ["AWS::RDS::DBInstance", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"]) {
    assert.ok(development.includes(type), `fixture lists a ${type}`);
  }
});

Deno.test("the production stage runs RDS Multi-AZ with a NAT gateway per AZ; development does not", () => {
  const dbOf = (t: Json) =>
    Object.values(t.Resources as Record<string, Json>).find((r) =>
      r.Type === "AWS::RDS::DBInstance"
    )!;
  const nats = (t: Json) =>
    Object.values(t.Resources as Record<string, Json>).filter((r) =>
      r.Type === "AWS::EC2::NatGateway"
    ).length;
  const production = synthApp({ stage: "production" });
  assert.equal(dbOf(production).Properties.MultiAZ, true);
  assert.equal(nats(production), 2);
  const development = synthApp({});
  assert.equal(dbOf(development).Properties.MultiAZ, false);
  assert.equal(nats(development), 1);
  // An explicit context value wins over the stage.
  assert.equal(dbOf(synthApp({ stage: "production", multiAz: "false" })).Properties.MultiAZ, false);
  assert.throws(() => synthApp({ stage: "prod" }), /stage/);
});

Deno.test("the deploy workflow deploys the production stage", async () => {
  const deploy = await Deno.readTextFile(
    new URL("../.github/workflows/deploy.yml", import.meta.url),
  );
  assert.match(deploy, /-c stage=production/);
});

Deno.test("each program has its own least-privilege task role, separate from its execution role", () => {
  const roles = (family: string) => {
    const def = taskDefinition(family).Properties;
    const task = logicalIdOf(def.TaskRoleArn), execution = logicalIdOf(def.ExecutionRoleArn);
    assert.notEqual(task, execution);
    return { task, execution };
  };
  const consumer = roles("ConsumerTask"), producer = roles("ProducerTask");
  const api = roles("ApiTask"), migrate = roles("MigrateTask"), lake = roles("LakeJobsTask");
  assert.deepEqual(actionsOf(producer.task), ["sqs:SendMessage"]);
  assert.deepEqual(actionsOf(consumer.task), [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
  ]);
  assert.deepEqual(actionsOf(api.task), [
    "cloudwatch:GetMetricData",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
  ]);
  assert.deepEqual(actionsOf(migrate.task), []);
  // The lake jobs: write the export, read the lake back (deploy/cdk/lake_jobs_task.ts).
  assert.deepEqual(actionsOf(lake.task), [
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
    "s3:PutObject",
  ]);
  // Only execution roles read the database secret; no task role touches Secrets Manager.
  for (const r of [consumer, producer, api, migrate, lake]) {
    assert.ok(!actionsOf(r.task).some((a) => a.startsWith("secretsmanager:")));
  }
  for (const r of [consumer, api, migrate, lake]) {
    assert.ok(actionsOf(r.execution).includes("secretsmanager:GetSecretValue"));
  }
  assert.ok(!actionsOf(producer.execution).some((a) => a.startsWith("secretsmanager:")));
  // No wildcard actions anywhere.
  for (const [, policy] of ofType("AWS::IAM::Policy")) {
    for (const st of policy.Properties.PolicyDocument.Statement as Json[]) {
      for (const a of [st.Action].flat()) assert.ok(!String(a).endsWith(":*"), `wildcard ${a}`);
    }
  }
});

Deno.test("consumers scale on backlog per task and get a stop timeout above their drain deadline", () => {
  template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
    PolicyType: "TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration: {
      TargetValue: 100,
      CustomizedMetricSpecification: {
        Metrics: Match.arrayWith([
          Match.objectLike({
            Id: "visible",
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                Namespace: "AWS/SQS",
                MetricName: "ApproximateNumberOfMessagesVisible",
              }),
            }),
          }),
          Match.objectLike({
            Id: "running",
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                Namespace: "ECS/ContainerInsights",
                MetricName: "RunningTaskCount",
              }),
            }),
          }),
          Match.objectLike({ Expression: "visible / running", ReturnData: true }),
        ]),
      },
    },
  });
  const [container] = taskDefinition("ConsumerTask").Properties.ContainerDefinitions as Json[];
  assert.ok(container);
  assert.equal(container.StopTimeout, CONSUMER_STOP_TIMEOUT_S);
  assert.ok(CONSUMER_STOP_TIMEOUT_S * 1000 > CONSUMER_SHUTDOWN_DEADLINE_MS);
  const env = Object.fromEntries(
    (container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
  );
  assert.equal(env.CONSUMER_SHUTDOWN_DEADLINE_MS, String(CONSUMER_SHUTDOWN_DEADLINE_MS));
  assert.equal(env.SQS_CREATE_QUEUES, "false");
  assert.equal(container.ReadonlyRootFilesystem, true);
  assert.deepEqual(container.HealthCheck.Command, ["CMD", "/app/healthcheck.sh", "8081"]);
  assert.deepEqual(container.Secrets.map((s: Json) => s.Name).sort(), ["DB_PASSWORD", "DB_USER"]);
});

Deno.test("the API runs behind a load balancer that checks /health", () => {
  template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
    HealthCheckPath: "/health",
    Port: 8080,
  });
  template.hasResourceProperties("AWS::ECS::Service", {
    LoadBalancers: [Match.objectLike({ ContainerName: "api", ContainerPort: 8080 })],
  });
});

Deno.test("alarms watch oldest message age, DLQ depth and error rates, and notify", () => {
  const alarms = ofType("AWS::CloudWatch::Alarm").map(([, r]) => r.Properties);
  const byMetric = (name: string) => alarms.find((a) => a.MetricName === name);
  const age = byMetric("ApproximateAgeOfOldestMessage");
  assert.ok(age);
  assert.ok(JSON.stringify(age.Dimensions).includes(queues.queue!.id));
  const dlq = alarms.find((a) =>
    a.MetricName === "ApproximateNumberOfMessagesVisible" &&
    JSON.stringify(a.Dimensions).includes(queues.dlq!.id)
  );
  assert.ok(dlq, "no DLQ depth alarm");
  assert.equal(dlq.Threshold, 0);
  assert.equal(dlq.ComparisonOperator, "GreaterThanThreshold");
  assert.ok(byMetric("ConsumerErrors"), "no consumer error alarm");
  const apiErrors = alarms.find((a) =>
    JSON.stringify(a.Metrics ?? []).includes("HTTPCode_Target_5XX_Count")
  );
  assert.ok(apiErrors, "no API error-rate alarm");
  for (const a of alarms) assert.equal(a.AlarmActions.length, 1);
  template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
  template.hasResourceProperties("AWS::Logs::MetricFilter", {
    FilterPattern: '{ $.level = "ERROR" }',
  });
});

Deno.test("application metrics reach CloudWatch as EMF and alarm on latency, throughput, rejects, derived lag", () => {
  const [container] = taskDefinition("ConsumerTask").Properties.ContainerDefinitions as Json[];
  const env = Object.fromEntries(
    (container!.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
  );
  assert.equal(env.CLOUDWATCH_EMF, "true");
  assert.equal(container!.LogConfiguration.LogDriver, "awslogs");

  const alarms = ofType("AWS::CloudWatch::Alarm").map(([, r]) => r.Properties as Json);
  const onMetric = (name: string) =>
    alarms.find((a) =>
      (a.Namespace === EMF_NAMESPACE && a.MetricName === name) ||
      (a.Metrics as Json[] | undefined)?.some((m) =>
        m.MetricStat?.Metric?.Namespace === EMF_NAMESPACE &&
        m.MetricStat?.Metric?.MetricName === name
      )
    );
  const dims = [{ Name: "Service", Value: "consumer" }];

  const e2e = onMetric(EMF_METRIC.endToEndLatencyP95);
  assert.ok(e2e, "no end-to-end latency alarm");
  assert.equal(e2e.Threshold, 500);
  assert.equal(e2e.Statistic, "Maximum");
  assert.equal(e2e.ComparisonOperator, "GreaterThanThreshold");
  assert.deepEqual(e2e.Dimensions, dims);

  const throughput = onMetric(EMF_METRIC.eventsStored);
  assert.ok(throughput, "no throughput-drop alarm");
  assert.equal(throughput.ComparisonOperator, "LessThanLowerThreshold");
  const band = (throughput.Metrics as Json[]).find((m) =>
    String(m.Expression ?? "").startsWith("ANOMALY_DETECTION_BAND")
  );
  assert.ok(band, "the throughput alarm has no anomaly band");
  assert.equal(throughput.ThresholdMetricId, band.Id);

  const rejects = onMetric(EMF_METRIC.eventsRejected);
  assert.ok(rejects, "no reject-rate alarm");
  assert.ok(
    onMetric(EMF_METRIC.eventsProcessed) === rejects,
    "the reject rate divides by processed events",
  );
  assert.equal(rejects.Threshold, 5);
  assert.ok(
    (rejects.Metrics as Json[]).some((m) =>
      m.Expression === "100 * rejected / MAX([processed, 1])"
    ),
  );

  const lag = onMetric(EMF_METRIC.derivedStageLag);
  assert.ok(lag, "no derived-stage lag alarm");
  assert.equal(lag.Threshold, 60);
  assert.equal(lag.Statistic, "Maximum");

  for (const a of [e2e, throughput, rejects, lag]) {
    assert.equal(a.AlarmActions.length, 1);
    assert.equal(a.OKActions.length, 1);
    assert.match(a.AlarmDescription, /docs\/runbook\.md#/);
  }
});

Deno.test("the image repositories scan on push and keep tags immutable", () => {
  const outdir = Deno.makeTempDirSync({ prefix: "scalestream-cdk-test-" });
  const repos = Template.fromStack(new ScaleStreamRepositoriesStack(new App({ outdir }), "Repos"));
  Deno.removeSync(outdir, { recursive: true });
  repos.resourcePropertiesCountIs("AWS::ECR::Repository", {
    ImageScanningConfiguration: { ScanOnPush: true },
    ImageTagMutability: "IMMUTABLE",
  }, Object.keys(REPOSITORY_NAMES).length);
  repos.hasResourceProperties("AWS::ECR::Repository", { RepositoryName: "scalestream-lake" });
});
