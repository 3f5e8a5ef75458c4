/**
 * The API: a Fargate service behind a public Application Load Balancer that checks `/health`,
 * HTTPS with a redirect from HTTP when a certificate is given, scaled on CPU and on requests per
 * target.
 */
import { Duration, type Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { addProgramService, addProgramTask, type ProgramServiceInputs } from "./program_task.ts";

export const API_PORT = 8080;

/** Task defaults: 2–10 tasks of 0.5 vCPU, 1 GiB. */
export interface ApiServiceProps extends ProgramServiceInputs {
  vpc: ec2.IVpc;
  queue: sqs.IQueue;
  deadLetterQueue: sqs.IQueue;
  /** An ACM certificate for HTTPS; without one the load balancer listens on HTTP only. */
  certificateArn?: string;
}

export interface ApiService {
  service: ecs.FargateService;
  loadBalancer: elbv2.ApplicationLoadBalancer;
}

/**
 * Adds the API service and its load balancer to `stack` itself, under the construct IDs the
 * deployed stack has (`ApiService`, `LoadBalancer`, …), so no logical ID changes.
 */
export function addApiService(stack: Stack, props: ApiServiceProps): ApiService {
  const { taskDefinition } = addProgramTask(stack, "Api", {
    cpu: props.cpu ?? 512,
    memoryMiB: props.memoryMiB ?? 1024,
    statements: [
      new iam.PolicyStatement({
        sid: "IngestEvents",
        actions: ["sqs:SendMessage"],
        resources: [props.queue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: "ReadQueueDepth",
        actions: ["sqs:GetQueueAttributes"],
        resources: [props.queue.queueArn, props.deadLetterQueue.queueArn],
      }),
      // Age of the oldest message for /v1/pipeline/status (API_CLOUDWATCH_AGE). GetMetricData has
      // no resource-level permissions, so the resource is "*"; the action is read-only.
      new iam.PolicyStatement({
        sid: "ReadOldestMessageAge",
        actions: ["cloudwatch:GetMetricData"],
        resources: ["*"],
      }),
    ],
    container: {
      image: props.image,
      environment: { ...props.environment, HOST: "0.0.0.0", PORT: String(API_PORT) },
      secrets: props.secrets,
      stopTimeout: Duration.seconds(10),
    },
    health: { port: API_PORT, startPeriodS: 15 },
  });
  const minTasks = props.minTasks ?? 2;
  const service = addProgramService(stack, "ApiService", props, {
    taskDefinition,
    desiredCount: minTasks,
  });

  const loadBalancer = new elbv2.ApplicationLoadBalancer(stack, "LoadBalancer", {
    vpc: props.vpc,
    internetFacing: true,
    securityGroup: new ec2.SecurityGroup(stack, "LoadBalancerSecurityGroup", {
      vpc: props.vpc,
      description: "ScaleStream public load balancer",
    }),
    vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    dropInvalidHeaderFields: true,
  });
  const listener = props.certificateArn
    ? loadBalancer.addListener("Https", {
      port: 443,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
    })
    : loadBalancer.addListener("Http", { port: 80 });
  if (props.certificateArn) loadBalancer.addRedirect();
  const targetGroup = listener.addTargets("Api", {
    port: API_PORT,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targets: [service],
    healthCheck: { path: "/health", healthyHttpCodes: "200", interval: Duration.seconds(15) },
    deregistrationDelay: Duration.seconds(15),
  });
  const scaling = service.autoScaleTaskCount({
    minCapacity: minTasks,
    maxCapacity: props.maxTasks ?? 10,
  });
  scaling.scaleOnCpuUtilization("ApiCpuScaling", { targetUtilizationPercent: 60 });
  scaling.scaleOnRequestCount("ApiRequestScaling", { requestsPerTarget: 1000, targetGroup });
  return { service, loadBalancer };
}
