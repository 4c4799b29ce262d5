/**
 * `npm run capacity -- --wps <workflows/s> [--workload hello|<file.json>] [--regions 1|2] [--env <name>] [--json] [assumption flags]`
 *
 * Prints the capacity model's answer (lib/capacity/capacity.ts): history shards, task sizes and counts per
 * role, DSQL load and connections against DSQL's limits, OpenSearch sizing, and the assumptions
 * used; with `--regions 2` the same with the multi-Region commit latency beside it
 * (lib/capacity/multi-region.ts); with `--env <name>` the monthly cost estimate of that environment's
 * configuration (lib/capacity/cost.ts, prices in lib/capacity/prices.ts). Formulas and calibration:
 * docs/capacity.md.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import {
  CapacityAssumptions, CapacityPlan, DSQL_LIMITS, HELLO_WORKLOAD, parseWorkload, planCapacity, WorkloadProfile,
} from '../lib/capacity/capacity';
import { CostEstimate, CostUsage, estimateMonthlyCost } from '../lib/capacity/cost';
import { MultiRegionCapacity, parseRegionCount, planMultiRegion } from '../lib/capacity/multi-region';
import { formatPrice, PRICES } from '../lib/capacity/prices';
import type { CostEnvironment } from '../lib/capacity/environment';
import { FIXED_ROLE_REASONS } from '../lib/services/scaling';

/** Flags that override one assumption, with the assumption they set. */
const ASSUMPTION_FLAGS: Record<string, keyof CapacityAssumptions> = {
  'round-trip-ms': 'roundTripMs',
  'commit-ms': 'commitMs',
  'target-cpu': 'targetCpuUtilization',
  'growth': 'shardGrowthFactor',
  'min-tasks': 'minTasksPerRole',
  'max-conns': 'maxConnsPerTask',
  'max-pool-use': 'maxPoolUtilization',
  'retention-days': 'retentionDays',
  'az-count': 'azCount',
};

/** Flags given as a fraction (0-1) and flags that count things. */
const FRACTION_FLAGS = ['target-cpu', 'max-pool-use'];
const INTEGER_FLAGS = ['min-tasks', 'max-conns', 'az-count'];

/** Usage flags of the cost estimate, with the field they set. */
const USAGE_FLAGS: Record<string, keyof CostUsage> = {
  'dpu-per-workflow': 'dpuPerWorkflow',
  'write-dpu-per-workflow': 'writeDpuPerWorkflow',
  'dsql-storage-gb': 'dsqlStorageGB',
  'nat-gb': 'natGBPerMonth',
  'logs-gb': 'logsGBPerMonth',
};

const USAGE = `usage: npm run capacity -- --wps <workflows/s> [--workload hello|<file.json>] [--regions 1|2] [--env <name>] [--json]
  assumptions: ${Object.keys(ASSUMPTION_FLAGS).map((f) => `--${f} <n>`).join(' ')}
  cost (with --env <an environment of config/index.ts>): ${Object.keys(USAGE_FLAGS).map((f) => `--${f} <n>`).join(' ')}
  formulas and defaults: docs/capacity.md`;

function loadWorkload(arg: string | undefined): WorkloadProfile {
  if (arg === undefined || arg === 'hello') return HELLO_WORKLOAD;
  if (!fs.existsSync(arg)) throw new Error(`--workload ${arg}: neither "hello" nor an existing JSON file`);
  return parseWorkload(fs.readFileSync(arg, 'utf8'), arg);
}

const f1 = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1 });

/** The plan as the text the CLI prints. */
function formatPlan(plan: CapacityPlan, workload: WorkloadProfile): string {
  const a = plan.assumptions;
  const d = plan.dsql;
  const lines = [
    `Capacity for ${f1(plan.workflowsPerSecond)} workflows/s, workload ${workload.name} (${workload.source})`,
    '',
    `numHistoryShards     ${plan.numHistoryShards}  (sized for ${a.shardGrowthFactor}x the load: it can never change; one shard takes ${f1(plan.shards.workflowsPerShard)} wf/s, ${f1(plan.shards.utilizationAtTarget * 100)} % busy at this load)`,
    '',
    'role       cpu units  memory MiB  tasks  vCPU needed',
    ...(['frontend', 'history', 'matching', 'worker'] as const).map((r) => {
      const s = plan.services[r];
      return `${r.padEnd(10)} ${String(s.cpu).padStart(9)}  ${String(s.memoryMiB).padStart(10)}  ${String(s.desiredCount).padStart(5)}  ${plan.vcpuNeeded[r].toFixed(2).padStart(11)}`;
    }),
    `(sized for ${a.targetCpuUtilization * 100} % CPU; frontend and matching autoscale on CPU above these counts, history and worker stay fixed)`,
    `  history tasks for the DSQL connections alone: ${plan.historyTasksForConnections} (at most ${a.maxPoolUtilization * 100} % of ${a.maxConnsPerTask} busy per task)`
      + (plan.historyTasksForConnections >= plan.services.history.desiredCount && plan.historyTasksForConnections > a.minTasksPerRole ? ': connections, not CPU, set the history count' : ''),
    ...Object.entries(FIXED_ROLE_REASONS).map(([role, why]) => `  ${role} fixed: ${why}`),
    '',
    'DSQL',
    `  statements/s         ${f1(d.statementsPerSecond)}  (+ at most ${f1(d.shardUpkeepStatementsPerSecond)} for the shards' upkeep, ${plan.numHistoryShards} x ${+a.idleStatementsPerShardPerSecond.toFixed(3)})`,
    `  round trips/s        ${f1(d.roundTripsPerSecond)}`,
    `  commits/s            ${f1(d.commitsPerSecond)}`,
    `  persistence ms/wf    ${f1(d.msPerWorkflow)}  (${workload.roundTripsPerWorkflow} round trips x ${a.roundTripMs} ms + ${+workload.commitsPerWorkflow.toFixed(2)} commits x ${a.commitMs} ms: latency floor of one workflow)`,
    `  connections          ${f1(d.busyConnections)} busy on average of ${d.connectionPool} open (${a.maxConnsPerTask} per task); limit ${DSQL_LIMITS.connections.toLocaleString('en-US')} per cluster`
      + (d.connectionPool > DSQL_LIMITS.connections ? ' -- OVER: ask for a higher limit or lower DSQL_MAX_CONNS' : ''),
    `  per history task     ${f1(d.busyConnectionsPerHistoryTask)} busy of ${a.maxConnsPerTask}`
      + (d.busyConnectionsPerHistoryTask > a.maxConnsPerTask * a.maxPoolUtilization ? ' -- above the pool target: raise DSQL_MAX_CONNS or use more history tasks' : ''),
    `  new connections/s    ${d.steadyNewConnectionsPerSecond.toFixed(2)} steady (age limit), ${d.startupNewConnectionsPerSecond} when all tasks start at once; limit ${DSQL_LIMITS.newConnectionsPerSecond}/s per cluster`
      + (d.startupNewConnectionsPerSecond > DSQL_LIMITS.newConnectionsPerSecond
        ? ` -- OVER: start at most ${d.maxTasksStartingAtOnce} tasks at once or lower DSQL_CONNECT_RATE` : ' (within)'),
    '',
    'OpenSearch (visibility)',
    `  index operations/s   ${f1(plan.opensearch.indexOpsPerSecond)}`,
    `  data nodes           ${plan.opensearch.dataNodes} x r7g.large.search (multiple of ${a.azCount} zones)`,
    `  volume per node      ${plan.opensearch.volumeSizeGiB} GiB (${a.retentionDays} days retention, one replica, disks at most half full)`,
    '',
    `Assumptions: ${Object.entries(a).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(4) : v}`).join(', ')}`,
  ];
  return lines.join('\n');
}

/** Single- and multi-Region plans side by side (`--regions 2`). */
function formatMultiRegion(m: MultiRegionCapacity): string {
  const s = m.single;
  const x = m.multi;
  const row = (name: string, a: string | number, b: string | number, ratio?: number) =>
    `${name.padEnd(34)} ${String(a).padStart(14)} ${String(b).padStart(14)}${ratio === undefined ? '' : `  ${ratio.toFixed(2)}x`}`;
  return [
    `Multi-Region (--regions 2): commits pay one round trip to the peer Region (${s.assumptions.commitMs} ms -> ${x.assumptions.commitMs} ms per commit; reads stay local)`,
    row('', 'single-Region', 'multi-Region', undefined) + '  multi/single',
    row('persistence ms per workflow', f1(s.dsql.msPerWorkflow), f1(x.dsql.msPerWorkflow), m.msPerWorkflowRatio),
    row('workflows/s per shard', f1(s.shards.workflowsPerShard), f1(x.shards.workflowsPerShard), m.workflowsPerShardRatio),
    row('numHistoryShards', s.numHistoryShards, x.numHistoryShards, x.numHistoryShards / s.numHistoryShards),
    row('history tasks (for connections)', `${s.services.history.desiredCount} (${s.historyTasksForConnections})`, `${x.services.history.desiredCount} (${x.historyTasksForConnections})`),
    row('DSQL connections busy', f1(s.dsql.busyConnections), f1(x.dsql.busyConnections), x.dsql.busyConnections / s.dsql.busyConnections),
    row('commits/s (each replicated)', f1(s.dsql.commitsPerSecond), f1(x.dsql.commitsPerSecond)),
    'DPUs: every write is billed again as MultiRegionWriteDPU (replicated writes cost what the originating writes cost);',
    '  storage is billed in both peered Regions; the witness holds the transaction log for quorum and has no endpoint.',
    'Standby Region: Temporal services at 0 tasks until a failover, then the multi-Region plan above; what it costs at 0:',
    '  NAT gateways, NLB, ALB (and UI tasks if multiRegion.standbyUiDesiredCount > 0), OpenSearch domain, interface endpoints,',
    '  KMS key, logs and alarms: see the cost estimate (--env <name> --regions 2).',
  ].join('\n');
}

const usd = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** The cost estimate as text: one line per item, the total, the prices used with their sources, what is not priced. */
function formatCost(e: CostEstimate, envName: string): string {
  const used = new Set(e.lines.flatMap((l) => l.prices));
  return [
    `Monthly cost estimate, environment ${envName}, ${e.regions === 2 ? 'two Regions (active, standby at 0 tasks) and a witness' : 'one Region'} (us-east-1 on-demand list prices applied to every Region, 730 h)`,
    ...e.lines.map((l) => `  ${l.region.padEnd(10)} ${l.item.padEnd(44)} ${(l.monthlyUsd === undefined ? '-' : usd(l.monthlyUsd)).padStart(11)}  ${l.quantity}${l.note ? `; ${l.note}` : ''}`),
    `  total of the priced lines: ${usd(e.totalUsd)} per month (a lower bound: the lines without a figure are not in it)`,
    '',
    'Prices (lib/capacity/prices.ts; check them before relying on the figure):',
    ...[...used].map((k) => `  ${k.padEnd(22)} ${formatPrice(PRICES[k]).padEnd(34)} ${PRICES[k].region}, read ${PRICES[k].read}${PRICES[k].sourceDate ? ` (source dated ${PRICES[k].sourceDate})` : ''}, ${PRICES[k].kind}: ${PRICES[k].source}`),
    'Not priced:',
    ...e.notPriced.map((n) => `  ${n.item}: ${n.why}`),
  ].join('\n');
}

/** The environment's configuration (and, for a multi-Region environment, the standby's), resolved as the stack would. */
function loadEnvironment(envName: string): CostEnvironment {
  // Loaded here, not at the top: the configuration pulls in aws-cdk-lib, which only the cost estimate needs.
  const { ENVIRONMENTS } = require('../config') as typeof import('../config');
  const { costEnvironment } = require('../lib/capacity/environment') as typeof import('../lib/capacity/environment');
  const input = ENVIRONMENTS[envName];
  if (!input) throw new Error(`--env ${JSON.stringify(envName)} is not allowed: one of ${Object.keys(ENVIRONMENTS).join(', ')} (config/index.ts)`);
  return costEnvironment(envName, input);
}

function main(argv: string[]): void {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    wps: { type: 'string' }, workload: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' }, regions: { type: 'string' }, env: { type: 'string' },
  };
  for (const flag of [...Object.keys(ASSUMPTION_FLAGS), ...Object.keys(USAGE_FLAGS)]) options[flag] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const regions = parseRegionCount(values.regions as string | undefined);
  const envName = values.env as string | undefined;
  const wps = Number(values.wps);
  if (values.wps !== undefined ? !(wps > 0) : envName === undefined) throw new Error(`--wps must be a positive number of workflows/s, got ${JSON.stringify(values.wps)}\n${USAGE}`);
  const overrides: Partial<Record<keyof CapacityAssumptions, number>> = {};
  for (const [flag, key] of Object.entries(ASSUMPTION_FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    const n = Number(v);
    if (!(n > 0)) throw new Error(`--${flag} must be a positive number, got ${JSON.stringify(v)}`);
    if (FRACTION_FLAGS.includes(flag) && n > 1) throw new Error(`--${flag} is a fraction from 0 to 1 (0.6 = 60 %), got ${v}`);
    if (INTEGER_FLAGS.includes(flag) && !Number.isInteger(n)) throw new Error(`--${flag} must be a whole number, got ${v}`);
    overrides[key] = n;
  }
  const usage: { -readonly [K in keyof CostUsage]: number } = {};
  for (const [flag, key] of Object.entries(USAGE_FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    if (envName === undefined) throw new Error(`--${flag} is a cost figure: it needs --env <name>`);
    const n = Number(v);
    if (!(n >= 0) || v === '') throw new Error(`--${flag} ${JSON.stringify(v)} is not allowed: a number >= 0`);
    usage[key] = n;
  }
  const out: Record<string, unknown> = {};
  const text: string[] = [];
  if (values.wps !== undefined) {
    const workload = loadWorkload(values.workload as string | undefined);
    const plan = planCapacity(wps, workload, overrides);
    out.plan = plan;
    text.push(formatPlan(plan, workload));
    usage.workflowsPerSecond = wps;
    if (regions === 2) {
      const m = planMultiRegion(wps, workload, overrides);
      out.multiRegion = m;
      text.push('', formatMultiRegion(m));
    }
  }
  if (envName !== undefined) {
    const env = loadEnvironment(envName);
    const estimate = estimateMonthlyCost(env.config, {
      regions, standbyConfig: env.standby, standbyUiDesiredCount: env.standbyUi, regionNames: env.names, usage,
    });
    out.cost = estimate;
    text.push('', formatCost(estimate, envName));
  }
  console.log(values.json ? JSON.stringify(out.cost || out.multiRegion ? out : out.plan, null, 2) : text.join('\n').replace(/^\n/, ''));
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
