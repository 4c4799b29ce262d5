/**
 * Unit tests of the fault suite's pure helpers and of the topology option checks (no servers).
 */
import { checkTopology } from '../../local/roles';
import { percentile, sumSamples } from './workload';

test('checkTopology accepts the two topologies and refuses the rest, naming the option and what is allowed', () => {
  expect(() => checkTopology('combined', 1)).not.toThrow();
  expect(() => checkTopology('per-role', 3)).not.toThrow();
  expect(() => checkTopology('split', 1)).toThrow("topology must be one of combined, per-role, got 'split'");
  expect(() => checkTopology('per-role', 0)).toThrow('historyProcesses must be an integer from 1 to 8, got 0');
  expect(() => checkTopology('per-role', 1.5)).toThrow('historyProcesses must be an integer from 1 to 8, got 1.5');
  expect(() => checkTopology('combined', 2)).toThrow("historyProcesses = 2 needs topology 'per-role'");
});

test('sumSamples adds the samples of one metric whose labels match, ignoring comments and other metrics', () => {
  const text = [
    '# TYPE persistence_error_with_type counter',
    'persistence_error_with_type{error_type="persistence_ShardOwnershipLostError",operation="UpdateShard"} 2',
    'persistence_error_with_type{error_type="persistence_ShardOwnershipLostError",operation="UpdateWorkflowExecution"} 3',
    'persistence_error_with_type{error_type="serviceerror_Unavailable",operation="UpdateShard"} 7',
    'persistence_error_with_type_total 100',
    'sharditem_created_count{service_name="history"} 4',
  ].join('\n');
  expect(sumSamples(text, 'persistence_error_with_type', { error_type: 'persistence_ShardOwnershipLostError' })).toBe(5);
  expect(sumSamples(text, 'persistence_error_with_type')).toBe(12);
  expect(sumSamples(text, 'sharditem_created_count')).toBe(4);
  expect(sumSamples(text, 'missing_metric')).toBe(0);
});

test('percentile is the nearest rank', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted order
  expect(percentile(values, 99)).toBe(99);
  expect(percentile(values, 50)).toBe(50);
  expect(percentile([7], 99)).toBe(7);
  expect(Number.isNaN(percentile([], 99))).toBe(true);
});
