/**
 * {@link DatabaseFence} over the Aurora DSQL control plane: a Deny statement for the old Region's
 * VPC in the resource policy of the old Region's cluster (the cluster its servers connect to,
 * through their VPC endpoint), merged into the policy the stack put there
 * (lib/security/temporal-auth.ts `dsqlVpcOnlyPolicy`).
 *
 * Facts (Aurora DSQL User Guide, "Resource-based policies", as recorded in the project's DSQL
 * facts): a cluster has one resource policy; `aws:SourceVpc` names the VPC a request comes from;
 * a change takes about a minute to apply. Like the IAM token, it is checked when a connection
 * opens: connections opened before the Deny may live up to DSQL's 60-minute connection lifetime.
 * What it cannot do: if the old Region's DSQL control plane cannot be reached either, the call
 * fails; a Region cut off from the other peered Region and the witness stops serving on its own.
 *
 * IAM: dsql:GetClusterPolicy and dsql:PutClusterPolicy on the old Region's cluster ARN.
 */
import { DSQLClient, GetClusterPolicyCommand, PutClusterPolicyCommand } from '@aws-sdk/client-dsql';
import { isUnreachable } from './aws-fleet';
import { DatabaseFence, RegionUnreachableError } from './types';

/** Sid of the statement the fence adds (one per Region, so a failback can find and remove it). */
export function fenceSid(region: string): string {
  return `TemporalFailoverDenyVpc${region.replace(/[^A-Za-z0-9]/g, '')}`;
}

/** The Deny the fence adds: every connection (DbConnect, DbConnectAdmin) from `vpcId`. */
export function fenceStatement(region: string, vpcId: string): Record<string, unknown> {
  return {
    Sid: fenceSid(region), Effect: 'Deny', Principal: { AWS: '*' }, Resource: '*',
    Action: ['dsql:DbConnect', 'dsql:DbConnectAdmin'],
    Condition: { StringEquals: { 'aws:SourceVpc': vpcId } },
  };
}

type PolicyDoc = { Version?: string; Statement?: Record<string, unknown>[] | Record<string, unknown> };

/**
 * The VPC the stack's VPC-only policy admits: the `aws:SourceVpc` value of its
 * `DenyConnectFromOtherVpcs` statement (StringNotEquals). undefined when the policy has none.
 */
export function vpcOfPolicy(policy: string | undefined): string | undefined {
  if (!policy) return undefined;
  const doc = JSON.parse(policy) as PolicyDoc;
  const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  for (const s of statements) {
    const v = (s.Condition as Record<string, Record<string, unknown>> | undefined)?.StringNotEquals?.['aws:SourceVpc'];
    if (s.Effect === 'Deny' && typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * `policy` (a JSON policy document, or undefined for none) with the fence statement for `region`
 * added, or replaced when a statement with its Sid differs. Pure: the unit under test for what the
 * fence writes. `changed` is false when the statement was already there as is.
 */
export function withFence(policy: string | undefined, region: string, vpcId: string): { policy: string; changed: boolean } {
  const doc: PolicyDoc = policy ? JSON.parse(policy) as PolicyDoc : { Version: '2012-10-17', Statement: [] };
  const statements = Array.isArray(doc.Statement) ? [...doc.Statement] : doc.Statement ? [doc.Statement] : [];
  const want = fenceStatement(region, vpcId);
  const i = statements.findIndex((s) => s.Sid === want.Sid);
  if (i >= 0 && JSON.stringify(statements[i]) === JSON.stringify(want)) return { policy: policy!, changed: false };
  if (i >= 0) statements[i] = want; else statements.push(want);
  return { policy: JSON.stringify({ ...doc, Version: doc.Version ?? '2012-10-17', Statement: statements }), changed: true };
}

/** Options of {@link AwsDatabaseFence}. */
export interface AwsDatabaseFenceOptions {
  /** A DSQL client per Region (the old Region's cluster is called in its own Region). */
  readonly clientFor: (region: string) => Pick<DSQLClient, 'send'>;
  /** Cluster identifier or ARN per Region (`multiRegion.clusterArns`). */
  readonly clusters: Readonly<Record<string, string>>;
  /** The Region's VPC id when known; otherwise read from the cluster's VPC-only policy. */
  readonly vpcIds?: Readonly<Record<string, string>>;
}

/** Denies a Region's VPC in its cluster's resource policy; 'already' when the statement is in place. */
export class AwsDatabaseFence implements DatabaseFence {
  constructor(private readonly o: AwsDatabaseFenceOptions) {}

  async fence(region: string): Promise<'applied' | 'already'> {
    const identifier = this.o.clusters[region];
    if (!identifier) throw new Error(`no DSQL cluster known for ${region} (multiRegion.clusterArns)`);
    const client = this.o.clientFor(region);
    const call = async <T>(fn: () => Promise<T>) => {
      try { return await fn(); } catch (e) { if (isUnreachable(e)) throw new RegionUnreachableError(region, e); throw e; }
    };
    let current: { policy?: string; policyVersion?: string } = {};
    try {
      current = await call(() => client.send(new GetClusterPolicyCommand({ identifier })));
    } catch (e) {
      if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
    }
    const vpcId = this.o.vpcIds?.[region] ?? vpcOfPolicy(current.policy);
    if (!vpcId) throw new Error(`the VPC of ${region} is unknown: cluster ${identifier} has no VPC-only policy naming it; pass --old-region-vpc vpc-...`);
    const next = withFence(current.policy, region, vpcId);
    if (!next.changed) return 'already';
    await call(() => client.send(new PutClusterPolicyCommand({
      identifier, policy: next.policy, ...(current.policyVersion ? { expectedPolicyVersion: current.policyVersion } : {}),
    })));
    return 'applied';
  }
}
