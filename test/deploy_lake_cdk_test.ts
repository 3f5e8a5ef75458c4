/**
 * The lake's AWS resources synthesize as the docs promise: a private, TLS-only bucket aged into
 * Standard-IA then Glacier Instant Retrieval, a Glue table over exactly the export's layout with
 * partition projection, an Athena workgroup with a scan limit, and write access for the consumers.
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

Deno.test("the ScaleStream stack composes the lake with the consumers as writers", () => {
  const stackTemplate = withTempOutdir((app) => {
    const images = (_: Stack) => ({
      consumer: ecs.ContainerImage.fromRegistry("c:test"),
      producer: ecs.ContainerImage.fromRegistry("p:test"),
      api: ecs.ContainerImage.fromRegistry("a:test"),
      migrate: ecs.ContainerImage.fromRegistry("m:test"),
    });
    return Template.fromStack(new ScaleStreamStack(app, "Full", { images }));
  });
  stackTemplate.resourceCountIs("AWS::Glue::Table", 1);
  stackTemplate.resourceCountIs("AWS::Athena::WorkGroup", 1);
  stackTemplate.hasResourceProperties("AWS::ECS::TaskDefinition", {
    ContainerDefinitions: [
      Match.objectLike({
        Name: "consumer",
        Environment: Match.arrayWith([Match.objectLike({ Name: "LAKE_BUCKET" })]),
      }),
    ],
  });
});
