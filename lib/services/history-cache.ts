/**
 * Memory bound of the history service's host-level mutable-state cache, derived from the history
 * task's memory. Plain data (no constructs): `lib/platform-stack.ts` lays it over the image's
 * default dynamic config and under the environment's own `dynamicConfig` (which wins).
 *
 * Facts (go.temporal.io/server@v1.31.2): common/dynamicconfig/constants.go and shared_constants.go
 * (keys, defaults, `CacheBackgroundEvictSettings`), service/history/workflow/cache/cache.go
 * (`NewHostLevelCache`: the cap is `history.hostLevelCacheMaxSizeBytes` when
 * `history.cacheSizeBasedLimit` is true, else `history.hostLevelCacheMaxSize` entries; TTL and
 * background eviction from `history.cacheTTL` and `history.cacheBackgroundEvict`). All four are
 * read when the history service starts. Reasons for the fraction and the TTL: docs/capacity.md,
 * "Memory of the history service".
 */
import type { DynamicConfigValue } from './roles';

/**
 * Share of the history task's memory given to the host-level mutable-state cache (0.25). The Go
 * runtime lets the heap grow to about twice the live data before it collects (GOGC 100, no memory
 * limit set), so a full cache can take about half the task; the other half is for shard contexts,
 * the per-shard events caches, gRPC buffers and the persistence pools.
 */
export const HISTORY_CACHE_MEMORY_FRACTION = 0.25;

/** Idle time after which a cached mutable state is dropped (`history.cacheTTL`; upstream 1 h). */
export const HISTORY_CACHE_TTL = '5m';

/**
 * Background eviction of expired entries (`history.cacheBackgroundEvict`; upstream: off, 1m, 1024).
 * Field names are those of upstream's `CacheBackgroundEvictSettings`; upstream ignores unknown
 * fields, so a misspelt one silently leaves eviction off (the Go test
 * TestHistoryCacheDynamicConfig reads them back through upstream's history config).
 */
export const HISTORY_CACHE_BACKGROUND_EVICT = { Enabled: true, LoopInterval: '1m', MaxEntryPerCall: 1024 } as const;

/**
 * Byte cap of the host-level mutable-state cache for a history task of `historyMemoryMiB`.
 *
 * @param historyMemoryMiB the history service's task memory, MiB (`services.history.memoryMiB`,
 *   a Fargate size, 512-122880)
 * @returns bytes, an integer: `floor(historyMemoryMiB * 1 MiB * HISTORY_CACHE_MEMORY_FRACTION)`
 *   (2048 MiB -> 536,870,912; 4096 MiB -> 1,073,741,824)
 * @throws Error when `historyMemoryMiB` is not a positive integer (resolveConfig refuses such a
 *   value first, with a ConfigError)
 */
export function historyCacheMaxSizeBytes(historyMemoryMiB: number): number {
  if (!Number.isInteger(historyMemoryMiB) || historyMemoryMiB <= 0) {
    throw new Error(`History task memory must be a positive integer of MiB, got ${historyMemoryMiB}`);
  }
  return Math.floor(historyMemoryMiB * 1024 * 1024 * HISTORY_CACHE_MEMORY_FRACTION);
}

/**
 * Dynamic config that bounds history's host-level mutable-state cache for a history task of
 * `historyMemoryMiB`: size-based limit on, byte cap {@link historyCacheMaxSizeBytes}, TTL
 * {@link HISTORY_CACHE_TTL}, background eviction {@link HISTORY_CACHE_BACKGROUND_EVICT}. The same
 * keys with a fixed 512 MiB cap are in docker/temporal-server/config/dynamicconfig/default.yaml.
 *
 * @param historyMemoryMiB the history service's task memory, MiB
 * @returns key -> `[{ value }]` in Temporal's dynamic config file format
 * @throws Error as {@link historyCacheMaxSizeBytes}
 */
export function historyCacheDynamicConfig(historyMemoryMiB: number): Record<string, DynamicConfigValue[]> {
  return {
    'history.cacheSizeBasedLimit': [{ value: true }],
    'history.hostLevelCacheMaxSizeBytes': [{ value: historyCacheMaxSizeBytes(historyMemoryMiB) }],
    'history.cacheTTL': [{ value: HISTORY_CACHE_TTL }],
    'history.cacheBackgroundEvict': [{ value: { ...HISTORY_CACHE_BACKGROUND_EVICT } }],
  };
}
