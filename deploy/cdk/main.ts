/**
 * `deno task synth`: synthesizes the CDK app (no AWS account needed) into a temporary directory, or
 * into CDK_OUTDIR when the CDK CLI runs it (`npx aws-cdk deploy`, see deploy/cdk/cdk.json). The
 * context values it reads are listed in app.ts; production deploys pass `-c stage=production`.
 */
import { App } from "aws-cdk-lib";
import { addScaleStreamStacks } from "./app.ts";

const outdir = Deno.env.get("CDK_OUTDIR") ?? await Deno.makeTempDir({ prefix: "scalestream-cdk-" });
const app = new App({ outdir });
addScaleStreamStacks(app, {
  account: Deno.env.get("CDK_DEFAULT_ACCOUNT"),
  region: Deno.env.get("CDK_DEFAULT_REGION"),
});
const assembly = app.synth();
console.error(
  `Synthesized ${assembly.stacks.map((s) => s.stackName).join(", ")} into ${assembly.directory}`,
);
