/**
 * `npm run capacity -- --wps <workflows/s> [--workload hello|<file.json>] [--json] [assumption flags]`
 *
 * Prints the capacity model's answer (lib/capacity/capacity.ts): history shards, task sizes and counts per
 * role, DSQL load and connections against DSQL's limits, OpenSearch sizing, and the assumptions
 * used. Formulas and calibration: docs/capacity.md.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import {
  CapacityAssumptions, CapacityPlan, DSQL_LIMITS, HELLO_WORKLOAD, parseWorkload, planCapacity, WorkloadProfile,
} from '../lib/capacity/capacity';
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

const USAGE = `usage: npm run capacity -- --wps <workflows/s> [--workload hello|<file.json>] [--json]
  assumptions: ${Object.keys(ASSUMPTION_FLAGS).map((f) => `--${f} <n>`).join(' ')}
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

function main(argv: string[]): void {
  const options: Record<string, { type: 'string' | 'boolean' }> = { wps: { type: 'string' }, workload: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } };
  for (const flag of Object.keys(ASSUMPTION_FLAGS)) options[flag] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const wps = Number(values.wps);
  if (values.wps === undefined || !(wps > 0)) throw new Error(`--wps must be a positive number of workflows/s\n${USAGE}`);
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
  const workload = loadWorkload(values.workload as string | undefined);
  const plan = planCapacity(wps, workload, overrides);
  console.log(values.json ? JSON.stringify(plan, null, 2) : formatPlan(plan, workload));
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
