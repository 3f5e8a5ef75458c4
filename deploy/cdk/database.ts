/**
 * RDS PostgreSQL 15: encrypted, private, TLS only, slow statements logged, a generated URL-safe
 * password in Secrets Manager. The tasks get the endpoint as plain environment variables and the
 * credentials as ECS secrets, read by the execution role when a task starts; the programs' task
 * roles never see the secret.
 */
import { Duration, RemovalPolicy, type Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as rds from "aws-cdk-lib/aws-rds";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";

const DB_NAME = "scalestream";
const DB_USER = "scalestream";
/**
 * Characters the generated database password never contains: everything but letters, digits and
 * `-_.`, so the container entrypoint can put it into DATABASE_URL without escaping.
 */
const PASSWORD_EXCLUDED = " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~";

export interface DatabaseProps {
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  /** A standby database in a second availability zone (default false). */
  multiAz?: boolean;
  /** RDS instance class (default db.t4g.medium). */
  instanceType?: ec2.InstanceType;
  /** Initial storage in GiB; storage autoscales up to four times this (default 100). */
  allocatedStorageGiB?: number;
}

export interface Database {
  instance: rds.DatabaseInstance;
  secret: secretsmanager.ISecret;
  /** DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE for the programs that use the database. */
  environment: Record<string, string>;
  /** DB_USER and DB_PASSWORD from the generated secret. */
  secrets: Record<string, ecs.Secret>;
}

/**
 * Adds the database to `stack` itself, not to a construct of its own: a new construct path would
 * change the logical IDs of the instance and of its generated secret, and CloudFormation would
 * replace the database (data lost) and its password.
 */
export function addDatabase(stack: Stack, props: DatabaseProps): Database {
  const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_15 });
  const parameterGroup = new rds.ParameterGroup(stack, "DatabaseParameters", {
    engine,
    description: "ScaleStream: TLS only, slow statements logged",
    parameters: {
      "rds.force_ssl": "1",
      "log_min_duration_statement": "1000",
      "idle_in_transaction_session_timeout": "60000",
    },
  });
  const storageGiB = props.allocatedStorageGiB ?? 100;
  const instance = new rds.DatabaseInstance(stack, "Database", {
    engine,
    instanceType: props.instanceType ??
      ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.MEDIUM),
    vpc: props.vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    securityGroups: [props.securityGroup],
    publiclyAccessible: false,
    multiAz: props.multiAz ?? false,
    storageEncrypted: true,
    storageType: rds.StorageType.GP3,
    allocatedStorage: storageGiB,
    maxAllocatedStorage: storageGiB * 4,
    databaseName: DB_NAME,
    credentials: rds.Credentials.fromGeneratedSecret(DB_USER, {
      excludeCharacters: PASSWORD_EXCLUDED,
    }),
    parameterGroup,
    backupRetention: Duration.days(7),
    deletionProtection: true,
    removalPolicy: RemovalPolicy.SNAPSHOT,
    enablePerformanceInsights: true,
    cloudwatchLogsExports: ["postgresql"],
    autoMinorVersionUpgrade: true,
  });
  const secret = instance.secret!;
  return {
    instance,
    secret,
    environment: {
      DB_HOST: instance.dbInstanceEndpointAddress,
      DB_PORT: instance.dbInstanceEndpointPort,
      DB_NAME,
      DB_SSLMODE: "verify-full",
    },
    secrets: {
      DB_USER: ecs.Secret.fromSecretsManager(secret, "username"),
      DB_PASSWORD: ecs.Secret.fromSecretsManager(secret, "password"),
    },
  };
}
