/**
 * The capacity model's formulas (lib/capacity/capacity.ts, docs/capacity.md), the presets it produces, and
 * the CLI. Expected numbers are worked out by hand from the formulas in docs/capacity.md and written
 * out here; they are not read from the code under test.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  autoscalingMaxCount, DEFAULT_ASSUMPTIONS, dsqlMsPerWorkflow, HELLO_WORKLOAD, historyShards, historyTasksForConnections, nextPowerOfTwo, parseWorkload, planCapacity,
  roleSizing, taskCpuUnits, vcpuNeeded, workflowsPerShard,
} from '../../lib/capacity/capacity';
import { SIZING_PRESETS } from '../../lib/services/roles';
import { AUTOSCALING_PRESETS, PRESET_TARGET_WORKFLOWS_PER_SECOND } from '../../lib/services/scaling';
import { REPO, tempDir } from './helpers';

describe('calibration: the hello workload is what docs/benchmarks.md measured', () => {
  test('statements, round trips, commits, visibility writes per workflow', () => {
    expect(HELLO_WORKLOAD.statementsPerWorkflow).toBe(99.0);
    expect(HELLO_WORKLOAD.roundTripsPerWorkflow).toBe(54.9);
    expect(HELLO_WORKLOAD.commitsPerWorkflow).toBeCloseTo(9.2, 10);
    expect(HELLO_WORKLOAD.visibilityWritesPerWorkflow).toBe(3);
  });

  test('CPU per workflow: 2 vCPU / 55.2 wf/s split 32:8:6:1 (history:frontend:matching:worker)', () => {
    const c = HELLO_WORKLOAD.cpuSecondsPerWorkflow;
    expect(c.history).toBeCloseTo(0.0246685, 6);
    expect(c.frontend).toBeCloseTo(0.0061671, 6);
    expect(c.matching).toBeCloseTo(0.0046253, 6);
    expect(c.worker).toBeCloseTo(0.0007709, 6);
    expect(c.history + c.frontend + c.matching + c.worker).toBeCloseTo(0.0362319, 6);
  });

  test('default assumptions: DSQL single-Region latency profile 1.5 ms / 5 ms, 60 % CPU, shards half busy at most, 4x growth', () => {
    expect(DEFAULT_ASSUMPTIONS).toMatchObject({
      roundTripMs: 1.5, commitMs: 5, targetCpuUtilization: 0.6, maxShardUtilization: 0.5, shardGrowthFactor: 4,
      minShardsPerHistoryTask: 32, minTasksPerRole: 2, maxConnsPerTask: 20, maxPoolUtilization: 0.5, connectRatePerTask: 5,
      connectBurstPerTask: 20, meanConnectionAgeSeconds: 3150,
    });
    expect(DEFAULT_ASSUMPTIONS.idleStatementsPerShardPerSecond).toBeCloseTo(0.058333, 5); // (9.5 - 6.0) / 60
  });
});

describe('formulas', () => {
  const a = DEFAULT_ASSUMPTIONS;

  test('DSQL ms per workflow = round trips x 1.5 + commits x 5', () => {
    expect(dsqlMsPerWorkflow(HELLO_WORKLOAD, a)).toBeCloseTo(128.35, 10); // 54.9 x 1.5 + 9.2 x 5
    expect(dsqlMsPerWorkflow({ ...HELLO_WORKLOAD, roundTripsPerWorkflow: 99.8 }, a)).toBeCloseTo(195.7, 10); // without pipelining
    expect(dsqlMsPerWorkflow(HELLO_WORKLOAD, { roundTripMs: 1.5, commitMs: 20 })).toBeCloseTo(266.35, 10); // multi-Region commit
  });

  test('workflows per shard = 0.5 / 0.12835 s', () => {
    expect(workflowsPerShard(HELLO_WORKLOAD, a)).toBeCloseTo(3.89560, 4);
  });

  test('next power of two', () => {
    expect([0, 1, 3, 4, 5, 168, 288, 768, 16385].map(nextPowerOfTwo)).toEqual([1, 1, 4, 4, 8, 256, 512, 1024, 32768]);
  });

  test('vCPU needed = wps x cpu-seconds per workflow / 0.6', () => {
    expect(vcpuNeeded('history', 150, HELLO_WORKLOAD, a)).toBeCloseTo(6.16713, 4);
    expect(vcpuNeeded('frontend', 400, HELLO_WORKLOAD, a)).toBeCloseTo(4.11142, 4);
  });

  test('task sizes step up with the vCPU needed', () => {
    expect([1, 2, 2.01, 8, 8.01, 50].map((v) => taskCpuUnits('history', v))).toEqual([1024, 1024, 2048, 2048, 4096, 4096]);
    expect([1, 4, 4.01].map((v) => taskCpuUnits('frontend', v))).toEqual([1024, 1024, 2048]);
    expect([1, 4, 4.01].map((v) => taskCpuUnits('matching', v))).toEqual([1024, 1024, 2048]);
    expect([0.1, 10].map((v) => taskCpuUnits('worker', v))).toEqual([512, 512]);
  });

  test('history tasks for connections = ceil(wps x 0.12835 s / (20 x 0.5))', () => {
    expect(historyTasksForConnections(150, HELLO_WORKLOAD, a)).toBe(2); // 19.25 busy
    expect(historyTasksForConnections(400, HELLO_WORKLOAD, a)).toBe(6); // 51.34 busy
    expect(historyTasksForConnections(400, HELLO_WORKLOAD, { ...a, roundTripMs: 4 })).toBe(11); // 106.24 busy
  });

  test('role sizing: memory 2 GiB per vCPU, at least 2 tasks, history also by connections, worker fixed', () => {
    expect(roleSizing('history', 150, HELLO_WORKLOAD, a)).toEqual({ cpu: 2048, memoryMiB: 4096, desiredCount: 4 }); // CPU: 6.17 / 2
    expect(roleSizing('history', 200, HELLO_WORKLOAD, a)).toEqual({ cpu: 4096, memoryMiB: 8192, desiredCount: 3 }); // CPU: 8.22 / 4
    expect(roleSizing('history', 400, HELLO_WORKLOAD, a)).toEqual({ cpu: 4096, memoryMiB: 8192, desiredCount: 6 }); // connections: 6 > CPU: 5
    expect(roleSizing('history', 1, HELLO_WORKLOAD, a)).toEqual({ cpu: 1024, memoryMiB: 2048, desiredCount: 2 });
    expect(roleSizing('worker', 10000, HELLO_WORKLOAD, a)).toEqual({ cpu: 512, memoryMiB: 1024, desiredCount: 2 });
  });

  test('shards: next power of two of max(grown load / per-shard rate, 32 x history tasks at the grown load)', () => {
    // 150: grown 600 -> latency ceil(154.0) = 155; history at 600: 8 tasks (connections 77.0 / 10) x 32 = 256 -> 256.
    expect(historyShards(150, HELLO_WORKLOAD, a)).toBe(256);
    // 400: grown 1600 -> 411; 21 history tasks (connections 205.4 / 10) -> 672 -> 1024.
    expect(historyShards(400, HELLO_WORKLOAD, a)).toBe(1024);
    // Growth 1: 150 -> 39 for latency; 4 tasks x 32 = 128 -> 128.
    expect(historyShards(150, HELLO_WORKLOAD, { ...a, shardGrowthFactor: 1 })).toBe(128);
    // Never above 16384.
    expect(historyShards(100000, HELLO_WORKLOAD, a)).toBe(16384);
  });
});

describe('planCapacity', () => {
  test('150 workflows/s (the reference ran 137 at P99 259 ms with 8 history tasks of 4 vCPU and 4,096 shards)', () => {
    const p = planCapacity(150);
    expect(p.numHistoryShards).toBe(256);
    expect(p.services).toEqual({
      frontend: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
      history: { cpu: 2048, memoryMiB: 4096, desiredCount: 4 },
      matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
      worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
    });
    expect(p.historyTasksForConnections).toBe(2);
    expect(p.dsql.statementsPerSecond).toBeCloseTo(14850, 6);
    expect(p.dsql.roundTripsPerSecond).toBeCloseTo(8235, 6);
    expect(p.dsql.commitsPerSecond).toBeCloseTo(1380, 6);
    expect(p.dsql.busyConnections).toBeCloseTo(19.2525, 6);
    expect(p.dsql.busyConnectionsPerHistoryTask).toBeCloseTo(4.813125, 6); // 19.2525 / 4
    expect(p.dsql.shardUpkeepStatementsPerSecond).toBeCloseTo(14.9333, 3); // 256 x 0.058333
    expect(p.dsql.connectionPool).toBe(200); // 10 tasks x 20
    expect(p.dsql.steadyNewConnectionsPerSecond).toBeCloseTo(0.0635, 4); // 200 / 3150 s
    expect(p.dsql.startupNewConnectionsPerSecond).toBe(50); // 10 tasks x 5/s
    expect(p.dsql.maxTasksStartingAtOnce).toBe(20); // min(100 / 5, 1000 / 20)
    expect(p.opensearch).toEqual({ indexOpsPerSecond: 450, dataNodes: 3, volumeSizeGiB: 116 });
  });

  test('the latency floor at the reference\'s load is below the reference\'s measured P50 (197 ms)', () => {
    expect(planCapacity(137).dsql.msPerWorkflow).toBeLessThan(197);
  });

  test('400 workflows/s', () => {
    const p = planCapacity(400);
    expect(p.numHistoryShards).toBe(1024);
    expect(p.services).toEqual({
      frontend: { cpu: 2048, memoryMiB: 4096, desiredCount: 3 },
      history: { cpu: 4096, memoryMiB: 8192, desiredCount: 6 },
      matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 4 },
      worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
    });
    expect(p.historyTasksForConnections).toBe(6); // CPU alone would need 5
    expect(p.dsql.busyConnectionsPerHistoryTask).toBeCloseTo(8.556667, 5); // 51.34 / 6
    expect(p.dsql.roundTripsPerSecond).toBeCloseTo(21960, 6);
    expect(p.dsql.startupNewConnectionsPerSecond).toBe(75); // 15 tasks x 5
    expect(p.opensearch).toEqual({ indexOpsPerSecond: 1200, dataNodes: 3, volumeSizeGiB: 308 });
  });

  test('OpenSearch data nodes grow with index operations in multiples of the zones', () => {
    // 2,000 wf/s x 3 = 6,000 ops/s at 1,000 per node -> 6 nodes (multiple of 3).
    expect(planCapacity(2000).opensearch.dataNodes).toBe(6);
    // 2 zones: 450 ops/s -> 2 nodes.
    expect(planCapacity(150, HELLO_WORKLOAD, { azCount: 2 }).opensearch.dataNodes).toBe(2);
  });

  test('a fleet whose simultaneous start exceeds 100 new connections/s is reported as such', () => {
    const p = planCapacity(800); // 5 + 11 + 4 + 2 = 22 tasks x 5/s
    expect(p.dsql.startupNewConnectionsPerSecond).toBe(110);
  });

  test('slower round trips make connections, not CPU, set the history count: 4 ms at 400 wf/s needs 11 tasks', () => {
    const p = planCapacity(400, HELLO_WORKLOAD, { roundTripMs: 4 });
    expect(p.dsql.msPerWorkflow).toBeCloseTo(265.6, 10); // 54.9 x 4 + 9.2 x 5
    expect(p.services.history.desiredCount).toBe(11); // 106.24 busy / 10 per task
    expect(p.dsql.busyConnectionsPerHistoryTask).toBeCloseTo(9.658182, 5);
    // Twice the connections per task halves that again.
    expect(planCapacity(400, HELLO_WORKLOAD, { roundTripMs: 4, maxConnsPerTask: 40 }).services.history.desiredCount).toBe(6);
  });

  test('bad loads and assumptions are refused', () => {
    expect(() => planCapacity(0)).toThrow('workflows/s must be a positive number, got 0');
    expect(() => planCapacity(Number.NaN)).toThrow('workflows/s must be a positive number');
    expect(() => planCapacity(100, HELLO_WORKLOAD, { targetCpuUtilization: 60 })).toThrow('assumption targetCpuUtilization is a fraction from 0 to 1, got 60');
    expect(() => planCapacity(100, HELLO_WORKLOAD, { roundTripMs: 0 })).toThrow('assumption roundTripMs must be a positive number, got 0');
  });
});

describe('the medium and large presets are the model\'s answer for their target loads', () => {
  test('target loads: medium 100, large 400 workflows/s', () => {
    expect(PRESET_TARGET_WORKFLOWS_PER_SECOND).toEqual({ medium: 100, large: 400 });
  });

  test.each(['medium', 'large'] as const)('%s: task sizes and counts equal planCapacity(target)', (preset) => {
    const { ui: _ui, ...roles } = SIZING_PRESETS[preset];
    expect(roles).toEqual(planCapacity(PRESET_TARGET_WORKFLOWS_PER_SECOND[preset]).services);
  });

  test.each(['medium', 'large'] as const)('%s: autoscaling maximum is the preset\'s tasks the model needs at twice the target', (preset) => {
    const s = SIZING_PRESETS[preset];
    const peak = 2 * PRESET_TARGET_WORKFLOWS_PER_SECOND[preset];
    expect(AUTOSCALING_PRESETS[preset].maxCount).toEqual({
      frontend: autoscalingMaxCount('frontend', s.frontend.cpu, s.frontend.desiredCount, peak),
      matching: autoscalingMaxCount('matching', s.matching.cpu, s.matching.desiredCount, peak),
    });
  });

  test('autoscaling maximum: ceil(vCPU needed at the peak / task vCPU), at least one above the minimum', () => {
    expect(autoscalingMaxCount('matching', 1024, 4, 800)).toBe(7); // 6.17 vCPU in 1-vCPU tasks
    expect(autoscalingMaxCount('frontend', 2048, 3, 800)).toBe(5); // 8.22 vCPU in 2-vCPU tasks
    expect(autoscalingMaxCount('matching', 1024, 2, 200)).toBe(3); // 1.54 vCPU = 2 tasks, but one above the minimum of 2
    expect(autoscalingMaxCount('frontend', 1024, 5, 200)).toBe(6); // 2.06 vCPU, but the minimum is 5
  });

  test('the presets as written in the README', () => {
    expect(SIZING_PRESETS.medium).toEqual({
      frontend: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
      history: { cpu: 2048, memoryMiB: 4096, desiredCount: 3 },
      matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
      worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
      ui: { cpu: 256, memoryMiB: 512, desiredCount: 2 },
    });
    expect(SIZING_PRESETS.large).toEqual({
      frontend: { cpu: 2048, memoryMiB: 4096, desiredCount: 3 },
      history: { cpu: 4096, memoryMiB: 8192, desiredCount: 6 },
      matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 4 },
      worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
      ui: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
    });
    expect(AUTOSCALING_PRESETS.medium.maxCount).toEqual({ frontend: 3, matching: 3 });
    expect(AUTOSCALING_PRESETS.large.maxCount).toEqual({ frontend: 5, matching: 7 });
  });
});

describe('workload files', () => {
  const valid = {
    name: 'orders', statementsPerWorkflow: 300, roundTripsPerWorkflow: 180, commitsPerWorkflow: 30,
    cpuSecondsPerWorkflow: { history: 0.1, frontend: 0.02, matching: 0.02, worker: 0.001 }, visibilityWritesPerWorkflow: 4,
  };

  test('a complete file is read', () => {
    const w = parseWorkload(JSON.stringify(valid), 'orders.json');
    expect(w.name).toBe('orders');
    expect(dsqlMsPerWorkflow(w, DEFAULT_ASSUMPTIONS)).toBeCloseTo(420, 10); // 180 x 1.5 + 30 x 5
  });

  test('a missing or negative field is named', () => {
    expect(() => parseWorkload(JSON.stringify({ ...valid, commitsPerWorkflow: -1 }), 'x')).toThrow('workload commitsPerWorkflow must be a number >= 0, got -1');
    expect(() => parseWorkload(JSON.stringify({ ...valid, cpuSecondsPerWorkflow: { history: 0.1 } }), 'x')).toThrow('workload cpuSecondsPerWorkflow.frontend must be a number >= 0, got undefined');
    expect(() => parseWorkload('{', 'x')).toThrow(/workload file is not valid JSON/);
  });
});

describe('npm run capacity (bin/capacity.ts)', () => {
  const tsx = path.join(REPO, 'node_modules', '.bin', 'tsx');
  const run = (...args: string[]) => spawnSync(tsx, ['bin/capacity.ts', ...args], { cwd: REPO, encoding: 'utf8' });

  test('prints shards, roles, DSQL and OpenSearch for --wps 150', () => {
    const r = run('--wps', '150');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('numHistoryShards     256');
    expect(r.stdout).toMatch(/history\s+2048\s+4096\s+4\s+6\.17/);
    expect(r.stdout).toContain('round trips/s        8,235');
    expect(r.stdout).toContain('50 when all tasks start at once; limit 100/s per cluster (within)');
    expect(r.stdout).toContain('3 x r7g.large.search');
  });

  test('warns when a simultaneous start would pass 100 new connections/s; --json gives the plan', () => {
    expect(run('--wps', '800').stdout).toContain('110 when all tasks start at once; limit 100/s per cluster -- OVER: start at most 20 tasks at once');
    expect(run('--wps', '400', '--round-trip-ms', '4').stdout).toContain('history tasks for the DSQL connections alone: 11 (at most 50 % of 20 busy per task): connections, not CPU, set the history count');
    const plan = JSON.parse(run('--wps', '400', '--json').stdout);
    expect(plan.numHistoryShards).toBe(1024);
  });

  test('a workload file and assumption flags are used; bad input exits 1 with a message', () => {
    const file = path.join(tempDir('capacity'), 'w.json');
    fs.writeFileSync(file, JSON.stringify({
      name: 'heavy', statementsPerWorkflow: 300, roundTripsPerWorkflow: 180, commitsPerWorkflow: 30,
      cpuSecondsPerWorkflow: { history: 0.1, frontend: 0.02, matching: 0.02, worker: 0.001 }, visibilityWritesPerWorkflow: 4,
    }));
    const r = run('--wps', '100', '--workload', file, '--commit-ms', '20');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('persistence ms/wf    870'); // 180 x 1.5 + 30 x 20
    const bad = run('--wps', 'fast');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--wps must be a positive number of workflows/s');
    const percent = run('--wps', '100', '--target-cpu', '60');
    expect(percent.status).toBe(1);
    expect(percent.stderr).toContain('--target-cpu is a fraction from 0 to 1 (0.6 = 60 %), got 60');
    expect(run('--wps', '100', '--az-count', '2.5').stderr).toContain('--az-count must be a whole number, got 2.5');
  });

  test('--regions 2 prints single- and multi-Region side by side; --env prints the cost of that configuration; bad values exit 1', () => {
    const r = run('--wps', '100', '--regions', '2', '--env', 'prod', '--write-dpu-per-workflow', '1');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/persistence ms per workflow\s+128\.4\s+266\.4\s+2\.08x/);
    expect(r.stdout).toMatch(/standby\s+Fargate history\s+\$0\.00/);
    expect(r.stdout).toMatch(/standby\s+DSQL MultiRegionWriteDPU .*\$2,102\.40/);
    expect(r.stdout).toContain('Not priced:');
    const three = run('--wps', '100', '--regions', '3');
    expect(three.status).toBe(1);
    expect(three.stderr).toContain('--regions "3" is not allowed: 1 (one Region) or 2');
    expect(run('--env', 'staging').stderr).toContain('--env "staging" is not allowed: one of dev, prod');
  });
});
