/**
 * `temporal-dsql-tool failover --to <region>`: the failover of a multi-Region environment
 * (docs/multi-region.md, "Failover and failback runbook"). Reads the environment's configuration
 * (`--env`, config/<env>.ts) for everything else: the Region pair, the new Region's counts, floors
 * and ceilings, both VPC CIDRs (to tell the Regions' hosts apart), numHistoryShards and the cluster
 * ARNs. Dry run unless `--execute`. Exit codes: 0 every step done, already or planned; 1 a step
 * failed; 2 bad usage or configuration (the message names the field, the value and what is allowed).
 */
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { DSQLClient } from '@aws-sdk/client-dsql';
import { ECSClient } from '@aws-sdk/client-ecs';
import * as fs from 'fs';
import { BlockList } from 'net';
import { parseArgs } from 'util';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, PlatformConfig, PlatformConfigInput, resolveConfig } from '../../lib/config';
import { resolveMultiRegion } from '../../lib/multi-region/config';
import { AutoscaledRole } from '../../lib/services/scaling';
import { AWS_ROLES, AwsRegionFleet } from './aws-fleet';
import { AwsDatabaseFence } from './aws-fence';
import { PgClusterDatabase } from './database';
import { FailoverInputError, runFailover } from './failover';
import { Route53Record, Route53RecordOptions } from './route53';
import type { ClusterDatabase, DatabaseFence, RegionFleet, RoleCount } from './types';

export const FAILOVER_USAGE = `Usage: temporal-dsql-tool failover --to REGION [options]

Moves Temporal from the active Region of a multiRegion environment to REGION: fences the old Region
(its services and autoscaling floors to 0), removes stale cluster_membership rows, scales REGION to
its configured counts, waits until REGION owns every history shard and prints the client endpoint
switch. Dry run unless --execute; every step is idempotent (a second run answers 'already').

Options:
  --to REGION             The Region to fail over to: the standby of multiRegion.regions. Required.
  --env NAME              Environment (config/<NAME>.ts, with multiRegion). Default dev.
  --execute               Act. Without it nothing changes (dry run).
  --deny-old-region-vpc   Also deny the old Region's VPC in its DSQL cluster's resource policy;
                          the way through when the old Region's ECS cannot be reached.
  --old-region-vpc VPC    The old Region's VPC id (default: read from its cluster's VPC-only policy).
  --wait-timeout SECONDS  Bound of each wait (tasks stopped/running, heartbeats, shards). Default 900.
  --poll-seconds N        Poll interval of the waits. Default 5.
  --outputs-file FILE     cdk deploy --outputs-file JSON: the new Region's FrontendAddress for step 5.
  --route53-zone ID       With --route53-record and --outputs-file: point that record at the new
                          Region's NLB (UPSERT of a CNAME, TTL 60; read first, so a second run is
                          'already'). Printed in a dry run, applied with --execute.
  --route53-record NAME   The DNS name clients use (a CNAME to the new Region's NLB).
  --dsql-endpoint HOST    The database endpoint to read/write membership through (default: the new
                          Region's cluster, <id>.dsql.<region>.on.aws, from multiRegion.clusterArns).
  --dsql-host ADDRESS     Address to dial when it differs from the endpoint (dsql-local: 127.0.0.1).
  --dsql-port N           Default 5432.
  --ca-file FILE          PEM CA bundle of the database endpoint (dsql-local).
  --json                  One JSON document instead of lines.
  -h, --help              Show this help.
Credentials: the AWS SDK default chain; the IAM permissions are listed in docs/multi-region.md.
`;

/** What {@link failoverMain} builds its parts from; tests replace the AWS clients (moto). */
export interface FailoverCliDeps {
  readonly environments?: Readonly<Record<string, PlatformConfigInput>>;
  /** AWS clients of a Region. @default real SDK clients with the default credential chain */
  readonly clients?: (region: string) => { ecs: ECSClient; autoscaling: ApplicationAutoScalingClient; dsql: DSQLClient };
  /** Credentials for the database token. @default the SDK default chain */
  readonly dsqlCredentials?: { accessKeyId: string; secretAccessKey: string };
  /** The Route 53 record of --route53-zone/--route53-record. @default {@link Route53Record} on route53.amazonaws.com */
  readonly route53?: (o: Route53RecordOptions) => Route53Record;
}

class UsageError extends Error {}

function defaultClients(region: string) {
  // Bounded so that an unreachable Region fails in seconds, not minutes.
  const requestHandler = { connectionTimeout: 5_000, requestTimeout: 30_000 };
  return {
    ecs: new ECSClient({ region, requestHandler }),
    autoscaling: new ApplicationAutoScalingClient({ region, requestHandler }),
    dsql: new DSQLClient({ region, requestHandler }),
  };
}

/** The new Region's counts per role: desiredCount, and the autoscaling floor and ceiling of autoscaled roles. */
export function targetCountsOf(config: PlatformConfig): RoleCount[] {
  return AWS_ROLES.map((role) => {
    const desired = config.services[role as keyof PlatformConfig['services']].desiredCount;
    const scaled = config.autoscaling.enabled ? config.autoscaling.roles[role as AutoscaledRole] : undefined;
    return scaled ? { role, desired, min: scaled.minCount, max: scaled.maxCount } : { role, desired };
  });
}

/** The VPC CIDR of a resolved Region configuration. */
function vpcCidr(config: PlatformConfig): string {
  return config.network.existingVpc?.cidr ?? config.network.cidr;
}

function overlaps(a: string, b: string): boolean {
  const [ai, ab] = a.split('/');
  const [bi, bb] = b.split('/');
  const la = new BlockList(); la.addSubnet(ai, Number(ab));
  const lb = new BlockList(); lb.addSubnet(bi, Number(bb));
  return la.check(bi) || lb.check(ai);
}

/**
 * The step-5 lines: the new Region's frontend address and, with a Route 53 record, the change
 * (applied by the command on --execute, bin/failover/route53.ts; the equivalent AWS CLI command is
 * printed as well, for a run from elsewhere).
 */
export function endpointSwitch(o: { envName: string; to: string; frontendAddress?: string; zone?: string; record?: string }): { summary: string; lines: string[] } {
  const stack = `Temporal-${o.envName}-${o.to}`;
  const lines: string[] = [];
  const address = o.frontendAddress;
  if (address) lines.push(`  clients: TEMPORAL_ADDRESS=${address}  (stack ${stack}, output FrontendAddress)`);
  else {
    lines.push(`  clients: the FrontendAddress output of ${stack}:`);
    lines.push(`    aws cloudformation describe-stacks --region ${o.to} --stack-name ${stack} --query "Stacks[0].Outputs[?OutputKey=='FrontendAddress'].OutputValue" --output text`);
  }
  lines.push(`  clients must trust ${stack}'s CA bundle (output TemporalCaBundle) unless both Regions use one private CA`);
  if (o.zone && o.record) {
    const target = address ? address.replace(/:\d+$/, '') : `<FrontendAddress of ${stack} without :7233>`;
    const batch = { Comment: `Temporal failover to ${o.to}`, Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: o.record, Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: target }] } }] };
    lines.push(`  Route 53 (applied by this command with --execute; the same change with the AWS CLI):`);
    lines.push(`    aws route53 change-resource-record-sets --hosted-zone-id ${o.zone} --change-batch '${JSON.stringify(batch)}'`);
  }
  return { summary: address ? `switch clients to ${address}` : `switch clients to ${stack}'s FrontendAddress`, lines };
}

/** Runs `failover` with `argv` (after the command word); returns the exit code. */
export async function failoverMain(argv: string[], out: (s: string) => void, err: (s: string) => void, deps: FailoverCliDeps = {}): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv, allowPositionals: false,
      options: {
        'to': { type: 'string' }, 'env': { type: 'string' }, 'execute': { type: 'boolean' }, 'deny-old-region-vpc': { type: 'boolean' },
        'old-region-vpc': { type: 'string' }, 'wait-timeout': { type: 'string' }, 'poll-seconds': { type: 'string' }, 'outputs-file': { type: 'string' },
        'route53-zone': { type: 'string' }, 'route53-record': { type: 'string' }, 'dsql-endpoint': { type: 'string' }, 'dsql-host': { type: 'string' },
        'dsql-port': { type: 'string' }, 'ca-file': { type: 'string' }, 'json': { type: 'boolean' }, 'help': { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    err(`error: ${(e as Error).message}\n\n${FAILOVER_USAGE}`);
    return 2;
  }
  if (v.help) { out(FAILOVER_USAGE); return 0; }
  let database: PgClusterDatabase | undefined;
  try {
    const num = (name: string, value: string | undefined, def: number, min: number, max: number) => {
      if (value === undefined) return def;
      const n = Number(value);
      if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} = ${JSON.stringify(value)}; allowed: a number from ${min} to ${max}`);
      return n;
    };
    const environments = deps.environments ?? ENVIRONMENTS;
    const envName = v.env ?? 'dev';
    const input = environments[envName];
    if (!input) throw new UsageError(`--env = ${JSON.stringify(envName)}; allowed: ${Object.keys(environments).join(', ')} (config/<name>.ts)`);
    if (!input.multiRegion) {
      const withMr = Object.entries(environments).filter(([, i]) => i.multiRegion).map(([n]) => n);
      throw new UsageError(`--env = ${JSON.stringify(envName)}: environment has no multiRegion section; allowed: an environment with multiRegion (${withMr.join(', ') || 'none configured'})`);
    }
    const { multiRegion, regions } = resolveMultiRegion((f) => `${envName}.${f}`, input, undefined);
    const { active, standby } = multiRegion;
    if (!v.to) throw new UsageError(`--to is required; allowed: ${standby} (the standby of ${envName}.multiRegion.regions)`);
    if (v.to === active) {
      throw new UsageError(`--to = "${v.to}"; allowed: ${standby}. ${active} is already the active Region (first of ${envName}.multiRegion.regions ["${active}", "${standby}"]); after a failover, swap the two there`);
    }
    if (v.to !== standby) throw new UsageError(`--to = "${v.to}"; allowed: ${standby} (${envName}.multiRegion.regions is ["${active}", "${standby}"])`);
    if (v['route53-zone'] && !v['route53-record']) throw new UsageError('--route53-zone needs --route53-record (the DNS name clients use)');
    if (v['route53-record'] && !v['route53-zone']) throw new UsageError('--route53-record needs --route53-zone (the hosted zone id holding it)');
    if (v['route53-zone'] && !v['outputs-file']) {
      throw new UsageError('--route53-zone needs --outputs-file (the cdk deploy outputs with the new Region\'s FrontendAddress, the record\'s target)');
    }
    const from = active;
    const to = standby;
    const configOf = (region: string) => resolveConfig(envName, regions.find((r) => r.region === region)!.input);
    const newConfig = configOf(to);
    const oldCidr = vpcCidr(configOf(from));
    const newCidr = vpcCidr(newConfig);
    if (overlaps(oldCidr, newCidr)) {
      throw new UsageError(`${envName}.multiRegion.regionOverrides["${to}"].network.cidr = "${newCidr}" overlaps ${from}'s "${oldCidr}"; allowed: ` +
        'two disjoint VPC CIDRs (the failover tells the Regions\' hosts apart by their cluster_membership rpc_address)');
    }
    const clusterArns = multiRegion.clusterArns!;
    const clusterId = (region: string) => clusterArns[region].split('/').pop()!;
    const clients = new Map<string, ReturnType<typeof defaultClients>>();
    const clientsOf = (region: string) => {
      if (!clients.has(region)) clients.set(region, (deps.clients ?? defaultClients)(region));
      return clients.get(region)!;
    };
    const pollMs = num('poll-seconds', v['poll-seconds'], 5, 0.05, 300) * 1000;
    const fleet = (region: string): RegionFleet => new AwsRegionFleet({ region, envName, ...clientsOf(region), pollIntervalMs: pollMs });
    const hostname = v['dsql-endpoint'] ?? `${clusterId(to)}.dsql.${to}.on.aws`;
    database = new PgClusterDatabase({
      connection: {
        hostname, host: v['dsql-host'], port: num('dsql-port', v['dsql-port'], 5432, 1, 65535), region: to, caFile: v['ca-file'],
        ...(deps.dsqlCredentials ? { credentials: deps.dsqlCredentials } : {}),
      },
    });
    const fence: DatabaseFence = new AwsDatabaseFence({
      clientFor: (region) => clientsOf(region).dsql, clusters: clusterArns,
      ...(v['old-region-vpc'] ? { vpcIds: { [from]: v['old-region-vpc'] } } : {}),
    });
    let frontendAddress: string | undefined;
    if (v['outputs-file']) {
      const outputs = JSON.parse(fs.readFileSync(v['outputs-file'], 'utf8')) as Record<string, Record<string, string>>;
      frontendAddress = outputs[`Temporal-${envName}-${to}`]?.FrontendAddress;
      if (!frontendAddress) throw new UsageError(`--outputs-file ${v['outputs-file']} has no Temporal-${envName}-${to}.FrontendAddress; allowed: the file of cdk deploy --outputs-file`);
    }
    const execute = v.execute ?? false;
    const print = v.json ? () => undefined : (line: string) => out(`${line}\n`);
    if (!v.json) out(`failover ${envName}: ${from} -> ${to}${execute ? '' : '  (DRY RUN: nothing changes; add --execute to act)'}\n`);
    const started = Date.now();
    let sw: ReturnType<typeof endpointSwitch> & { apply?: () => Promise<{ status: 'done' | 'already'; detail: string }> } =
      endpointSwitch({ envName, to, frontendAddress, zone: v['route53-zone'], record: v['route53-record'] });
    if (v['route53-zone'] && v['route53-record'] && frontendAddress) {
      let record: Route53Record;
      try {
        record = (deps.route53 ?? ((o) => new Route53Record(o)))({ zoneId: v['route53-zone'], name: v['route53-record'] });
      } catch (e) {
        throw new UsageError(`--route53-zone/--route53-record: ${(e as Error).message}`);
      }
      const target = frontendAddress.replace(/:\d+$/, '');
      sw = {
        ...sw,
        apply: async () => {
          const r = await record.upsert(target, `Temporal failover of ${envName} to ${to}`);
          return r.status === 'already'
            ? { status: 'already', detail: `${v['route53-record']} already points to ${target}` }
            : { status: 'done', detail: `${v['route53-record']} -> ${target} (Route 53 change ${r.changeId}; clients follow within the TTL, 60 s)` };
        },
      };
    }
    const results = await runFailover({
      from, to, execute, denyOldRegion: v['deny-old-region-vpc'] ?? false, shardCount: newConfig.numHistoryShards,
      targetCounts: targetCountsOf(newConfig), oldRegionHosts: oldCidr,
      waitTimeoutMs: num('wait-timeout', v['wait-timeout'], 900, 0.1, 86_400) * 1000, pollIntervalMs: pollMs,
      endpointSwitch: sw,
    }, { oldFleet: fleet(from), newFleet: fleet(to), database: database as ClusterDatabase, fence, print });
    const failed = results.some((r) => r.status === 'failed');
    const totalMs = Date.now() - started;
    if (v.json) out(`${JSON.stringify({ env: envName, from, to, execute, steps: results, totalMs, endpointSwitch: sw.lines.map((l) => l.trim()) })}\n`);
    else {
      out(`total ${(totalMs / 1000).toFixed(1)} s; ${failed ? 'FAILED: fix the failed step and run again (every step is idempotent)' : execute ? 'done' : 'dry run complete'}\n`);
      if (execute && !failed) {
        out(`next: set ${envName}.multiRegion.regions to ["${to}", "${from}"] and deploy both stacks before any other deploy of ${from} (its stack would scale it back up)\n`);
      }
    }
    return failed ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof FailoverInputError) {
      err(`error: ${e.message}\nRun with --help for usage.\n`);
      return 2;
    }
    err(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await database?.close();
  }
}


