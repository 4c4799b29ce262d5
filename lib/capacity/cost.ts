/**
 * Monthly cost estimate of one environment, single- or multi-Region, from its resolved configuration
 * (what the stack deploys: task sizes and counts, AZs, NAT gateways, endpoints, keys) and the price
 * table (lib/capacity/prices.ts). Pure functions; `npm run capacity -- --env <name> [--regions 2]`
 * prints it (bin/capacity.ts), docs/capacity.md ("Cost") explains the lines.
 *
 * Fixed lines (hours of things that exist) come from the configuration; usage lines (DSQL DPUs and
 * storage, NAT and log gigabytes) only when their usage is given, since nothing here measures them.
 * Lines whose price was not found are kept with `monthlyUsd: undefined` ("not priced").
 */
import type { PlatformConfig } from '../config';
import type { PlatformService } from '../services/roles';
import { NOT_PRICED, PriceKey, PRICES } from './prices';

/** Hours in an average month (AWS's pricing examples use 730). */
export const HOURS_PER_MONTH = 730;

/** Seconds in an average month (730 hours). */
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;

/** Interface endpoints every stack with `network.createVpcEndpoints` creates (lib/network/network.ts). */
export const BASE_INTERFACE_ENDPOINTS = ['ecr.api', 'ecr.dkr', 'logs', 'sts', 'secretsmanager', 'kms'] as const;

/** Usage the configuration cannot tell; each undefined field leaves its line "usage not given". */
export interface CostUsage {
  /** Target load, workflows/s (for the DSQL DPUs). */
  readonly workflowsPerSecond?: number;
  /** DSQL DPUs per workflow, all components (Compute + Read + Write). Not measured here: read CloudWatch's DPU metrics on a real cluster. */
  readonly dpuPerWorkflow?: number;
  /** Of those, Write DPUs per workflow: a multi-Region cluster bills them again as MultiRegionWriteDPU. */
  readonly writeDpuPerWorkflow?: number;
  /** DSQL storage, GB (billed once per Region that holds the data). */
  readonly dsqlStorageGB?: number;
  /** GB through the NAT gateways per month, per Region that runs the services. */
  readonly natGBPerMonth?: number;
  /** GB of logs ingested into CloudWatch Logs per month, per Region that runs the services. */
  readonly logsGBPerMonth?: number;
}

/** Options of {@link estimateMonthlyCost}. */
export interface CostOptions {
  /** 1: one Region; 2: an active Region, a standby at 0 tasks and a witness (docs/multi-region.md). @default 1 */
  readonly regions?: 1 | 2;
  /** The standby Region's configuration (its overrides applied). @default the active's configuration */
  readonly standbyConfig?: PlatformConfig;
  /** UI tasks in the standby Region (`multiRegion.standbyUiDesiredCount`). @default 0 */
  readonly standbyUiDesiredCount?: number;
  /** Region names for the lines. @default config.env.region ?? 'active', 'standby', 'witness' */
  readonly regionNames?: { readonly active?: string; readonly standby?: string; readonly witness?: string };
  readonly usage?: CostUsage;
}

/** One line of the estimate. */
export interface CostLine {
  /** The Region (name) the line is billed in. */
  readonly region: string;
  readonly item: string;
  /** How much, in words (e.g. `3 NAT gateways x 730 h`). */
  readonly quantity: string;
  /** US dollars per month; undefined when not priced or its usage was not given. */
  readonly monthlyUsd?: number;
  /** The prices used (keys of PRICES). */
  readonly prices: readonly PriceKey[];
  /** Why the line has no figure, or what it assumes. */
  readonly note?: string;
}

/** The estimate: lines, the total of the priced ones, and what is not priced. */
export interface CostEstimate {
  readonly regions: 1 | 2;
  readonly lines: readonly CostLine[];
  /** Sum of the lines that have a figure, US dollars per month (a lower bound: see notPriced). */
  readonly totalUsd: number;
  readonly notPriced: typeof NOT_PRICED;
}

const SERVICES: readonly PlatformService[] = ['frontend', 'history', 'matching', 'worker', 'ui'];

/** Interface endpoints the stack creates for a configuration (0 without `network.createVpcEndpoints`), the DSQL PrivateLink endpoint included. */
export function interfaceEndpointCount(c: PlatformConfig): number {
  let n = 0;
  if (c.network.createVpcEndpoints) {
    n += BASE_INTERFACE_ENDPOINTS.length;
    if (c.enableEcsExec) n += 1; // ssmmessages
    if (c.observability.metricsCollector && c.observability.managedPrometheus !== undefined) n += 1; // aps-workspaces
  }
  if (c.dsql.privateLink) n += 1;
  return n;
}

/** NAT gateways the stack creates: one per AZ (`perAz`) or one; none in an existing VPC (not managed by the stack). */
export function natGatewayCount(c: PlatformConfig): number {
  if (c.network.existingVpc) return 0;
  return c.network.natGateways === 'perAz' ? c.network.azCount : 1;
}

/** Fargate cost of one service for a month at `count` tasks, on the configuration's CPU architecture. */
function fargateMonthly(c: PlatformConfig, cpu: number, memoryMiB: number, count: number): number {
  const arm = c.cpuArchitecture === 'arm64';
  const vcpu = arm ? PRICES.fargateArmVcpu.value : PRICES.fargateX86Vcpu.value;
  const gb = arm ? PRICES.fargateArmGb.value : PRICES.fargateX86Gb.value;
  return count * ((cpu / 1024) * vcpu + (memoryMiB / 1024) * gb) * HOURS_PER_MONTH;
}

/** The lines of one Region's stack; `serviceCounts` overrides the configured task counts (the standby's zeros). */
function regionLines(c: PlatformConfig, region: string, serviceCounts: Partial<Record<PlatformService, number>>, usage: CostUsage, runsServices: boolean): CostLine[] {
  const lines: CostLine[] = [];
  const arch = c.cpuArchitecture === 'arm64' ? 'ARM' : 'x86';
  const fargateKeys: PriceKey[] = c.cpuArchitecture === 'arm64' ? ['fargateArmVcpu', 'fargateArmGb'] : ['fargateX86Vcpu', 'fargateX86Gb'];
  for (const s of SERVICES) {
    const sz = c.services[s];
    const count = serviceCounts[s] ?? sz.desiredCount;
    lines.push({
      region, item: `Fargate ${s}`, prices: fargateKeys,
      quantity: `${count} x ${sz.cpu / 1024} vCPU / ${sz.memoryMiB / 1024} GB (${arch}) x ${HOURS_PER_MONTH} h`,
      monthlyUsd: fargateMonthly(c, sz.cpu, sz.memoryMiB, count),
      note: count === 0 ? 'standby: 0 tasks until a failover' : (s === 'frontend' || s === 'matching') && c.autoscaling.enabled ? 'at the autoscaling floor; more under load' : undefined,
    });
  }
  const nat = natGatewayCount(c);
  lines.push({
    region, item: 'NAT gateways', prices: ['natGatewayHour'],
    quantity: `${nat} (${c.network.existingVpc ? 'existing VPC: not managed by the stack' : `network.natGateways ${c.network.natGateways}, ${c.network.azCount} AZs`}) x ${HOURS_PER_MONTH} h`,
    monthlyUsd: nat * PRICES.natGatewayHour.value * HOURS_PER_MONTH,
  });
  if (nat > 0) {
    const gb = runsServices ? usage.natGBPerMonth : 0;
    lines.push({
      region, item: 'NAT gateway data', prices: ['natGatewayGb'],
      quantity: gb === undefined ? 'GB/month not given (--nat-gb)' : `${gb} GB`,
      monthlyUsd: gb === undefined ? undefined : gb * PRICES.natGatewayGb.value,
    });
  }
  lines.push({ region, item: 'NLB (frontend)', prices: ['nlbHour'], quantity: `1 x ${HOURS_PER_MONTH} h`, monthlyUsd: PRICES.nlbHour.value * HOURS_PER_MONTH,
    note: `NLCUs (${'$'}${PRICES.nlbLcu.value}/NLCU-hour) follow the traffic: not estimated` });
  lines.push({ region, item: 'ALB (UI, internal)', prices: ['albHour'], quantity: `1 x ${HOURS_PER_MONTH} h`, monthlyUsd: PRICES.albHour.value * HOURS_PER_MONTH,
    note: `LCUs (${'$'}${PRICES.albLcu.value}/LCU-hour) follow the traffic: not estimated` });
  const endpoints = interfaceEndpointCount(c);
  lines.push({
    region, item: 'VPC interface endpoints', prices: ['interfaceEndpointHour'],
    quantity: `${endpoints} endpoints x ${c.network.azCount} AZs x ${HOURS_PER_MONTH} h`,
    monthlyUsd: endpoints * c.network.azCount * PRICES.interfaceEndpointHour.value * HOURS_PER_MONTH,
    note: `plus ${'$'}${PRICES.interfaceEndpointGb.value}/GB processed`,
  });
  const keys = c.security.platformKey === 'create' ? 1 : 0;
  lines.push({ region, item: 'KMS keys', prices: ['kmsKey'], quantity: `${keys} (security.platformKey ${c.security.platformKey ?? 'unset: AWS-owned keys'})`, monthlyUsd: keys * PRICES.kmsKey.value });
  const os = c.opensearch;
  lines.push({
    region, item: 'OpenSearch domain', prices: [],
    quantity: `${os.dataNodes} x ${os.dataNodeInstanceType}${os.masterNodes ? ` + ${os.masterNodes} x ${os.masterNodeInstanceType}` : ''}, ${os.dataNodes} x ${os.volumeSizeGiB} GiB`,
    note: 'not priced (see NOT_PRICED)',
  });
  const logs = runsServices ? usage.logsGBPerMonth : 0;
  lines.push({
    region, item: 'CloudWatch Logs ingestion', prices: ['logsIngestion'],
    quantity: logs === undefined ? 'GB/month not given (--logs-gb)' : `${logs} GB`,
    monthlyUsd: logs === undefined ? undefined : logs * PRICES.logsIngestion.value,
  });
  return lines;
}

/** DSQL DPU cost of `dpuPerWorkflow` at `wps` for a month, or undefined when either is not given. */
function dpuMonthly(wps: number | undefined, dpuPerWorkflow: number | undefined): { usd?: number; quantity: string } {
  if (wps === undefined || dpuPerWorkflow === undefined) {
    const missing = [wps === undefined ? 'load (--wps)' : '', dpuPerWorkflow === undefined ? 'DPUs per workflow (--dpu-per-workflow, --write-dpu-per-workflow)' : ''];
    return { quantity: `${missing.filter(Boolean).join(' and ')} not given` };
  }
  const dpu = wps * dpuPerWorkflow * SECONDS_PER_MONTH;
  return { usd: (dpu / 1e6) * PRICES.dsqlDpu.value, quantity: `${wps} wf/s x ${dpuPerWorkflow} DPU x ${SECONDS_PER_MONTH} s = ${(dpu / 1e6).toFixed(1)}M DPU` };
}

/**
 * The monthly estimate: each Region's stack (services at their configured counts in the active
 * Region; at 0 in the standby, UI at `standbyUiDesiredCount`), DSQL DPUs (in a multi-Region
 * cluster, Write DPUs billed once more as MultiRegionWriteDPU: AWS's DSQL pricing page, replicated
 * writes cost what the originating writes cost) and DSQL storage (billed in each peered Region).
 *
 * @throws Error when `regions` is not 1 or 2, or a usage figure is negative or not a number
 */
export function estimateMonthlyCost(config: PlatformConfig, options: CostOptions = {}): CostEstimate {
  const regions = options.regions ?? 1;
  if (regions !== 1 && regions !== 2) {
    throw new Error(`regions: ${JSON.stringify(regions)} is not allowed: 1 (one Region) or 2 (two peered Regions and a witness; DSQL peers two Regions)`);
  }
  const usage = options.usage ?? {};
  for (const [k, v] of Object.entries(usage)) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw new Error(`usage ${k}: ${JSON.stringify(v)} is not allowed: a number >= 0`);
  }
  const names = {
    active: options.regionNames?.active ?? config.env.region ?? 'active',
    standby: options.regionNames?.standby ?? 'standby',
    witness: options.regionNames?.witness ?? 'witness',
  };
  const lines: CostLine[] = [...regionLines(config, names.active, {}, usage, true)];
  const dpu = dpuMonthly(usage.workflowsPerSecond, usage.dpuPerWorkflow);
  lines.push({ region: names.active, item: 'DSQL DPUs', prices: ['dsqlDpu'], quantity: dpu.quantity, monthlyUsd: dpu.usd });
  const storage = usage.dsqlStorageGB;
  const storageLine = (region: string): CostLine => ({
    region, item: 'DSQL storage', prices: ['dsqlStorage'],
    quantity: storage === undefined ? 'GB not given (--dsql-storage-gb)' : `${storage} GB (one logical copy per Region)`,
    monthlyUsd: storage === undefined ? undefined : storage * PRICES.dsqlStorage.value,
  });
  lines.push(storageLine(names.active));
  if (regions === 2) {
    const standby = options.standbyConfig ?? config;
    const zero = { frontend: 0, history: 0, matching: 0, worker: 0, ui: options.standbyUiDesiredCount ?? 0 };
    lines.push(...regionLines(standby, names.standby, zero, usage, false));
    const mrw = dpuMonthly(usage.workflowsPerSecond, usage.writeDpuPerWorkflow);
    lines.push({ region: names.standby, item: 'DSQL MultiRegionWriteDPU (writes replicated to the peer)', prices: ['dsqlDpu'], quantity: mrw.quantity, monthlyUsd: mrw.usd });
    lines.push(storageLine(names.standby));
    lines.push({ region: names.witness, item: 'DSQL witness', prices: [], quantity: 'transaction log for quorum, no endpoint', note: 'not priced (no charge named in the sources read)' });
  }
  const totalUsd = lines.reduce((s, l) => s + (l.monthlyUsd ?? 0), 0);
  return { regions, lines, totalUsd, notPriced: NOT_PRICED };
}
