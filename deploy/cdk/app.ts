/**
 * The CDK app's stacks, built from context values (`-c key=value`): `stage` ("development" or
 * "production", see stages.ts), `imageTag` (default "latest") picks the images in the ECR
 * repositories, `multiAz=true|false` overrides the stage's standby database, `alarmEmail`,
 * `certificateArn`, `dbInstanceClass` (e.g. "r7g.large"), `maxConsumers`, `backlogPerTaskTarget`,
 * `lakeJobsEveryMinutes` (how often the `lake jobs` task runs; default 60).
 */
import type { App, Environment, Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as ecs from "aws-cdk-lib/aws-ecs";
import {
  type ImageName,
  REPOSITORY_NAMES,
  ScaleStreamRepositoriesStack,
} from "./repositories_stack.ts";
import { ScaleStreamStack, type ScaleStreamStackProps } from "./scalestream_stack.ts";
import { parseStage, STAGE_DEFAULTS } from "./stages.ts";

/** Adds the repositories stack and the ScaleStream stack to `app`, configured by its context. */
export function addScaleStreamStacks(
  app: App,
  env: Environment = {},
): { stack: ScaleStreamStack; repositories: ScaleStreamRepositoriesStack } {
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
  const stage = STAGE_DEFAULTS[parseStage(context("stage"))];
  const multiAz = context("multiAz");
  const props: ScaleStreamStackProps = {
    env,
    images: (scope) => imagesFor(scope, context("imageTag") ?? "latest"),
    multiAz: multiAz === undefined ? stage.multiAz : multiAz === "true",
    natGateways: stage.natGateways,
    alarmEmail: context("alarmEmail"),
    certificateArn: context("certificateArn"),
    dbInstanceType: context("dbInstanceClass")
      ? new ec2.InstanceType(context("dbInstanceClass")!)
      : undefined,
    consumer: { maxTasks: number("maxConsumers") },
    backlogPerTaskTarget: number("backlogPerTaskTarget"),
    lakeJobs: { everyMinutes: number("lakeJobsEveryMinutes") },
  };
  const repositories = new ScaleStreamRepositoriesStack(app, "ScaleStreamRepositories", { env });
  const stack = new ScaleStreamStack(app, "ScaleStream", props);
  return { stack, repositories };
}

function imagesFor(scope: Stack, tag: string): Record<ImageName, ecs.ContainerImage> {
  const out = {} as Record<ImageName, ecs.ContainerImage>;
  for (const [name, repositoryName] of Object.entries(REPOSITORY_NAMES) as [ImageName, string][]) {
    const repository = ecr.Repository.fromRepositoryName(scope, `${name}Images`, repositoryName);
    out[name] = ecs.ContainerImage.fromEcrRepository(repository, tag);
  }
  return out;
}
