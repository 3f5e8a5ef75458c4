/**
 * The VPC (public subnets for the load balancer, private subnets with egress for the tasks,
 * isolated subnets for the database) and one security group per program. The database's group
 * admits PostgreSQL from the consumers, the API, the migrations and the lake jobs only; the
 * producer has no database access.
 */
import type { Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";

export interface NetworkProps {
  /** NAT gateways (default 1; one per AZ for production). */
  natGateways?: number;
}

export interface Network {
  vpc: ec2.Vpc;
  /** Where the tasks run. */
  appSubnets: ec2.SubnetSelection;
  securityGroups: {
    consumer: ec2.SecurityGroup;
    api: ec2.SecurityGroup;
    producer: ec2.SecurityGroup;
    migrate: ec2.SecurityGroup;
    lakeJobs: ec2.SecurityGroup;
    database: ec2.SecurityGroup;
  };
}

/**
 * Adds the network to `stack` itself, not to a construct of its own: a new construct path would
 * change the logical IDs of the VPC and subnets (so the database's subnet group, and with it the
 * database, would be replaced) and of the security group rules, whose IDs embed the peer's path.
 */
export function addNetwork(stack: Stack, props: NetworkProps): Network {
  const vpc = new ec2.Vpc(stack, "Vpc", {
    maxAzs: 2,
    natGateways: props.natGateways ?? 1,
    subnetConfiguration: [
      { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: "app", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      { name: "data", subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ],
  });
  const group = (id: string, description: string, allowAllOutbound = true) =>
    new ec2.SecurityGroup(stack, id, { vpc, description, allowAllOutbound });
  const consumer = group("ConsumerSecurityGroup", "ScaleStream consumer tasks");
  const api = group("ApiSecurityGroup", "ScaleStream API tasks");
  const producer = group(
    "ProducerSecurityGroup",
    "ScaleStream producer tasks (no database access)",
  );
  const migrate = group("MigrateSecurityGroup", "ScaleStream migration task");
  const lakeJobs = group("LakeJobsSecurityGroup", "ScaleStream lake jobs task");
  const database = group(
    "DatabaseSecurityGroup",
    "ScaleStream PostgreSQL: reachable from the ScaleStream tasks only",
    false,
  );
  for (
    const [sg, who] of [
      [consumer, "consumers"],
      [api, "API"],
      [migrate, "migrations"],
      [lakeJobs, "lake jobs"],
    ] as const
  ) {
    database.addIngressRule(sg, ec2.Port.tcp(5432), `PostgreSQL from the ${who}`);
  }
  return {
    vpc,
    appSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    securityGroups: { consumer, api, producer, migrate, lakeJobs, database },
  };
}
