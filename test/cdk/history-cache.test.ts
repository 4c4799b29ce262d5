/**
 * History's host-level mutable-state cache bounded by the history task's memory: the dynamic config
 * every server container gets (TEMPORAL_DYNAMIC_CONFIG of the history task definition) carries a
 * byte cap of 25 % of the history task's memory, the size-based limit, a 5-minute TTL and
 * background eviction; an environment's own dynamicConfig wins. Expected figures are written out
 * (docs/capacity.md, "Memory of the history service"), not read from lib/services/history-cache.ts. That
 * upstream's server reads these shapes is proven in Go (TestHistoryCacheDynamicConfig, against
 * default.yaml); here the CDK's keys must equal default.yaml's apart from the byte cap.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import * as YAML from 'yaml';
import type { PlatformConfigInput } from '../../lib/config';
import { historyCacheMaxSizeBytes } from '../../lib/services/history-cache';
import { buildApp, REPO } from './helpers';

const KEYS = ['history.cacheSizeBasedLimit', 'history.hostLevelCacheMaxSizeBytes', 'history.cacheTTL', 'history.cacheBackgroundEvict'];

/** The history task definition's TEMPORAL_DYNAMIC_CONFIG, parsed. */
function historyDynamicConfig(input: PlatformConfigInput): Record<string, unknown> {
  const { app, stack } = buildApp('cache', { cache: input }, { quick: true });
  app.synth();
  const td = stack.services.services.history.taskDefinition;
  const resource = Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(td.node.defaultChild as any)];
  const temporal = (resource.Properties.ContainerDefinitions as any[]).find((c) => c.Name === 'temporal');
  const yaml = temporal.Environment.find((e: any) => e.Name === 'TEMPORAL_DYNAMIC_CONFIG').Value;
  return YAML.parse(yaml);
}

describe('history cache byte cap', () => {
  test.each([[2048, 536_870_912], [4096, 1_073_741_824], [8192, 2_147_483_648], [6144, 1_610_612_736]])('%i MiB -> %i bytes', (mib, bytes) => {
    expect(historyCacheMaxSizeBytes(mib)).toBe(bytes);
  });
  test('refuses a memory that is not a positive integer', () => {
    expect(() => historyCacheMaxSizeBytes(0)).toThrow('History task memory must be a positive integer of MiB, got 0');
    expect(() => historyCacheMaxSizeBytes(1.5)).toThrow(/got 1.5/);
  });
});

describe('history cache dynamic config in the template', () => {
  const base = { numHistoryShards: 16, security: { allowNoAuth: true } };

  test('medium preset with the history task at 6 GiB: cap 1.5 GiB, same shapes as default.yaml', () => {
    const dc = historyDynamicConfig({ ...base, services: { history: { memoryMiB: 6144 } } } as PlatformConfigInput);
    expect(dc['history.hostLevelCacheMaxSizeBytes']).toEqual([{ value: 1_610_612_736 }]);
    expect(dc['history.cacheSizeBasedLimit']).toEqual([{ value: true }]);
    expect(dc['history.cacheTTL']).toEqual([{ value: '5m' }]);
    expect(dc['history.cacheBackgroundEvict']).toEqual([{ value: { Enabled: true, LoopInterval: '1m', MaxEntryPerCall: 1024 } }]);
    const defaults = YAML.parse(fs.readFileSync(path.join(REPO, 'docker', 'temporal-server', 'config', 'dynamicconfig', 'default.yaml'), 'utf8'));
    for (const key of KEYS.filter((k) => k !== 'history.hostLevelCacheMaxSizeBytes')) expect(dc[key]).toEqual(defaults[key]);
    expect(defaults['history.hostLevelCacheMaxSizeBytes']).toEqual([{ value: 536_870_912 }]);
  });

  test('an environment\'s own cache settings win over the derived ones', () => {
    const dc = historyDynamicConfig({
      ...base,
      sizing: 'small',
      dynamicConfig: {
        'history.hostLevelCacheMaxSizeBytes': [{ value: 100_000_000 }],
        'history.cacheTTL': [{ value: '30m' }],
      },
    } as PlatformConfigInput);
    expect(dc['history.hostLevelCacheMaxSizeBytes']).toEqual([{ value: 100_000_000 }]);
    expect(dc['history.cacheTTL']).toEqual([{ value: '30m' }]);
    expect(dc['history.cacheSizeBasedLimit']).toEqual([{ value: true }]);
  });
});
