/**
 * `deno task synth`: synthesizes the CDK app (no AWS account needed) into a temporary directory, or
 * into CDK_OUTDIR when the CDK CLI runs it (`npx aws-cdk deploy`, see deploy/cdk/cdk.json).
 *
 * Context (`-c key=value`): `imageTag` (default "latest") picks the images in the ECR repositories,
 * `multiAz=true` adds a standby database, `alarmEmail`, `certificateArn`, `dbInstanceClass` (e.g.
 * "r7g.large"), `maxConsumers`, `backlogPerTaskTarget`.
 */
import { App, type Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as ecs from "aws-cdk-lib/aws-ecs";
import {
  type ImageName,
  REPOSITORY_NAMES,
  ScaleStreamRepositoriesStack,
} from "./repositories_stack.ts";
import { ScaleStreamStack } from "./scalestream_stack.ts";

const outdir = Deno.env.get("CDK_OUTDIR") ?? await Deno.makeTempDir({ prefix: "scalestream-cdk-" });
const app = new App({ outdir });
const context = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key);
  return v === undefined || v === null || v === "" ? undefined : String(v);
};
const number = (key: string): number | undefined => {
  const v = context(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new RangeError(`Context "${key}" must be a positive number, got "${v}"`);
  }
  return n;
};
const env = {
  account: Deno.env.get("CDK_DEFAULT_ACCOUNT"),
  region: Deno.env.get("CDK_DEFAULT_REGION"),
};

new ScaleStreamRepositoriesStack(app, "ScaleStreamRepositories", { env });
new ScaleStreamStack(app, "ScaleStream", {
  env,
  images: (scope) => imagesFor(scope, context("imageTag") ?? "latest"),
  multiAz: context("multiAz") === "true",
  alarmEmail: context("alarmEmail"),
  certificateArn: context("certificateArn"),
  dbInstanceType: context("dbInstanceClass")
    ? new ec2.InstanceType(context("dbInstanceClass")!)
    : undefined,
  consumer: { maxTasks: number("maxConsumers") },
  backlogPerTaskTarget: number("backlogPerTaskTarget"),
});

function imagesFor(scope: Stack, tag: string): Record<ImageName, ecs.ContainerImage> {
  const out = {} as Record<ImageName, ecs.ContainerImage>;
  for (const [name, repositoryName] of Object.entries(REPOSITORY_NAMES) as [ImageName, string][]) {
    const repository = ecr.Repository.fromRepositoryName(scope, `${name}Images`, repositoryName);
    out[name] = ecs.ContainerImage.fromEcrRepository(repository, tag);
  }
  return out;
}

const assembly = app.synth();
console.error(
  `Synthesized ${assembly.stacks.map((s) => s.stackName).join(", ")} into ${assembly.directory}`,
);
