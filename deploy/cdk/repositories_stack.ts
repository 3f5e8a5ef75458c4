/**
 * The ECR repositories of the five images. A stack of their own, deployed first, so the deployment
 * workflow can push images before the services that run them are created or updated.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as ecr from "aws-cdk-lib/aws-ecr";
import type { Construct } from "constructs";

/** Repository name of each image target of deploy/Dockerfile. */
export const REPOSITORY_NAMES = {
  consumer: "scalestream-consumer",
  producer: "scalestream-producer",
  api: "scalestream-api",
  migrate: "scalestream-migrate",
  lake: "scalestream-lake",
} as const;

export type ImageName = keyof typeof REPOSITORY_NAMES;

/** Scan on push, immutable tags (images are tagged with the commit), the last 30 images kept. */
export class ScaleStreamRepositoriesStack extends Stack {
  readonly repositories: Record<ImageName, ecr.Repository>;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const entries = Object.entries(REPOSITORY_NAMES).map(([name, repositoryName]) => [
      name,
      new ecr.Repository(this, `${name}Repository`, {
        repositoryName,
        imageScanOnPush: true,
        imageTagMutability: ecr.TagMutability.IMMUTABLE,
        encryption: ecr.RepositoryEncryption.AES_256,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          {
            description: "untagged layers",
            tagStatus: ecr.TagStatus.UNTAGGED,
            maxImageAge: Duration.days(7),
          },
          { description: "keep the last 30 images", maxImageCount: 30 },
        ],
      }),
    ]);
    this.repositories = Object.fromEntries(entries) as Record<ImageName, ecr.Repository>;
  }
}
