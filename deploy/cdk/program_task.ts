/**
 * A Fargate task definition for one ScaleStream program: its own task role (what the program may
 * call), its own execution role (pull the image, write logs, read the database secret), a
 * read-only root file system with a writable /tmp, and JSON logs in a log group of its own.
 */
import { Duration, RemovalPolicy, type Stack } from "aws-cdk-lib";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";

export interface ProgramTaskProps {
  /** vCPU units (1024 = 1 vCPU) and memory of the task. */
  cpu: number;
  memoryMiB: number;
  /** What the program itself may call: the task role's statements (none by default). */
  statements?: iam.PolicyStatement[];
  /** The program's container; logging and the read-only root file system are set here. */
  container: Omit<ecs.ContainerDefinitionOptions, "logging" | "readonlyRootFilesystem">;
  /** The port the program serves `/health` on: mapped, and checked by the image's script. */
  health?: { port: number; startPeriodS: number };
}

export interface ProgramTask {
  taskDefinition: ecs.FargateTaskDefinition;
  logGroup: logs.LogGroup;
}

/**
 * Adds the task of program `name` ("Consumer", "Api", …) to `stack` itself, under the construct
 * IDs `${name}TaskRole`, `${name}ExecutionRole`, `${name}Task` and `${lowercase name}Logs` that the
 * deployed stack has, so its logical IDs stay those of the deployed resources.
 */
export function addProgramTask(stack: Stack, name: string, props: ProgramTaskProps): ProgramTask {
  const taskRole = new iam.Role(stack, `${name}TaskRole`, {
    assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
    description: `ScaleStream ${name}: what the program itself may call`,
  });
  for (const s of props.statements ?? []) taskRole.addToPolicy(s);
  const executionRole = new iam.Role(stack, `${name}ExecutionRole`, {
    assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
    description: `ScaleStream ${name}: pulls the image, writes logs, reads the database secret`,
  });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, `${name}Task`, {
    cpu: props.cpu,
    memoryLimitMiB: props.memoryMiB,
    taskRole,
    executionRole,
    runtimePlatform: {
      cpuArchitecture: ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    },
  });
  taskDefinition.addVolume({ name: "tmp" });
  const containerName = name.toLowerCase();
  const logGroup = new logs.LogGroup(stack, `${containerName}Logs`, {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const health = props.health;
  const container = taskDefinition.addContainer(containerName, {
    ...props.container,
    ...health && {
      portMappings: [{ containerPort: health.port }],
      healthCheck: {
        command: ["CMD", "/app/healthcheck.sh", String(health.port)],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(health.startPeriodS),
      },
    },
    readonlyRootFilesystem: true,
    logging: ecs.LogDrivers.awsLogs({ streamPrefix: containerName, logGroup }),
  });
  container.addMountPoints({ containerPath: "/tmp", sourceVolume: "tmp", readOnly: false });
  return { taskDefinition, logGroup };
}

/** What a long-running program's service is given by the stack (consumers, API). */
export interface ProgramServiceInputs {
  cluster: ecs.ICluster;
  subnets: ec2.SubnetSelection;
  securityGroup: ec2.ISecurityGroup;
  image: ecs.ContainerImage;
  /** Queue and database settings, and the DB_USER/DB_PASSWORD secrets. */
  environment: Record<string, string>;
  secrets: Record<string, ecs.Secret>;
  /** Task count bounds and task size; each service has its own defaults. */
  minTasks?: number;
  maxTasks?: number;
  cpu?: number;
  memoryMiB?: number;
}

/**
 * A service that runs a program's task in the stack's cluster, subnets and security group:
 * deployments start new tasks before stopping old ones and roll back when the new tasks fail to
 * start.
 */
export function addProgramService(
  stack: Stack,
  id: string,
  where: Pick<ProgramServiceInputs, "cluster" | "subnets" | "securityGroup">,
  what: {
    taskDefinition: ecs.FargateTaskDefinition;
    desiredCount: number;
    enableExecuteCommand?: boolean;
  },
): ecs.FargateService {
  return new ecs.FargateService(stack, id, {
    cluster: where.cluster,
    taskDefinition: what.taskDefinition,
    desiredCount: what.desiredCount,
    vpcSubnets: where.subnets,
    securityGroups: [where.securityGroup],
    circuitBreaker: { enable: true, rollback: true },
    minHealthyPercent: 100,
    maxHealthyPercent: 200,
    enableExecuteCommand: what.enableExecuteCommand,
  });
}
