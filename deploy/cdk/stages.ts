/**
 * Deployment stages: what `-c stage=production` changes. Production gets a standby database in a
 * second availability zone (RDS Multi-AZ: synchronous replication, automatic failover in about a
 * minute) and a NAT gateway per AZ, so one zone's outage leaves the pipeline running. An explicit
 * `-c multiAz=true|false` still wins, for a production-sized test stack or a cheap staging one.
 */
export const STAGES = ["development", "production"] as const;
export type DeploymentStage = typeof STAGES[number];

export interface StageDefaults {
  multiAz: boolean;
  natGateways: number;
}

export const STAGE_DEFAULTS: Readonly<Record<DeploymentStage, StageDefaults>> = {
  development: { multiAz: false, natGateways: 1 },
  production: { multiAz: true, natGateways: 2 },
};

/** The stage named by the context value (default "development"); a typo is an error, not a default. */
export function parseStage(value: string | undefined): DeploymentStage {
  if (value === undefined) return "development";
  if ((STAGES as readonly string[]).includes(value)) return value as DeploymentStage;
  throw new RangeError(`Context "stage" must be one of ${STAGES.join(", ")}, got "${value}"`);
}
