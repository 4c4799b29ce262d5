package dsql

import (
	"context"
	"testing"
	"time"
)

type ctxKey struct{}

func TestPrefetchCacheHandsOutOncePerLoad(t *testing.T) {
	var pc prefetchCache
	load := context.WithValue(context.Background(), ctxKey{}, "load 1")
	other := context.WithValue(context.Background(), ctxKey{}, "load 2")
	k := runKey{shard: 1, namespace: "ns", workflow: "wf", run: "r"}
	pc.put(k, &prefetched{ctx: load, at: time.Now()})

	if _, ok := pc.take(other, k, takenActivity); ok {
		t.Fatal("a kept result was handed to another load's context")
	}
	if _, ok := pc.take(load, runKey{shard: 2}, takenActivity); ok {
		t.Fatal("a kept result was handed out for another run")
	}
	if _, ok := pc.take(load, k, takenActivity); !ok {
		t.Fatal("the load's own read was not served")
	}
	if _, ok := pc.take(load, k, takenActivity); ok {
		t.Fatal("the same result was handed out twice")
	}
	for _, f := range []uint8{takenTimer, takenChild, takenRequestCancel, takenSignal, takenSignalsRequested, takenBuffered} {
		if _, ok := pc.take(load, k, f); !ok {
			t.Fatalf("read %b not served", f)
		}
	}
	if len(pc.entries) != 0 {
		t.Fatalf("a fully taken entry is kept: %d entries", len(pc.entries))
	}
	if got := pc.Hits.Load(); got != 7 {
		t.Fatalf("hits = %d, want 7", got)
	}

	pc.put(k, &prefetched{ctx: load, at: time.Now().Add(-prefetchTTL - time.Millisecond)})
	if _, ok := pc.take(load, k, takenActivity); ok {
		t.Fatal("an expired result was handed out")
	}
}

// TestPrefetchCacheStaysBounded: 10,000 loads of different runs, none of whose results is
// taken, leave at most prefetchMaxEntries entries; the newest load is still served.
func TestPrefetchCacheStaysBounded(t *testing.T) {
	var pc prefetchCache
	load := context.Background()
	var last runKey
	for i := 0; i < 10000; i++ {
		last = runKey{shard: int32(i % 4), namespace: "ns", workflow: "wf", run: string(rune(i))}
		pc.put(last, &prefetched{ctx: load, at: time.Now()})
		if n := pc.len(); n > prefetchMaxEntries {
			t.Fatalf("after %d loads the cache holds %d entries, bound %d", i+1, n, prefetchMaxEntries)
		}
	}
	if _, ok := pc.take(load, last, takenTimer); !ok {
		t.Fatal("the newest load was evicted")
	}
}

// TestPrefetchFailedBatchDropsTheOldEntry: after a load's batch failed, its retry (the same
// context) must not be handed the maps of the earlier, successful load of the run.
func TestPrefetchFailedBatchDropsTheOldEntry(t *testing.T) {
	var pc prefetchCache
	load := context.Background()
	k := runKey{shard: 1, namespace: "ns", workflow: "wf", run: "r"}
	pc.put(k, &prefetched{ctx: load, at: time.Now()})
	pc.drop(k) // what SelectFromExecutions does when the batch fails
	if _, ok := pc.take(load, k, takenActivity); ok {
		t.Fatal("a retry after a failed batch was handed the earlier load's maps")
	}
	if pc.Misses.Load() != 1 {
		t.Fatalf("misses = %d, want 1", pc.Misses.Load())
	}
}
