package dsql

import (
	stdsql "database/sql"
	"sync"
	"time"

	"go.temporal.io/server/common/metrics"
)

// Pool waits: how long persistence calls wait for a connection of one of the plugin's pools.
//
// The plugin's pools are database/sql pools (plugin.go: "main", the pool upstream's statements
// and transactions run on; "chunk", the small pool of bulk-delete chunks). database/sql counts,
// per pool, the acquisitions that found no free connection and had to wait (DBStats.WaitCount)
// and the total time they waited (DBStats.WaitDuration); it has no hook per acquisition. A
// sampler reads both every PoolStatsInterval and records the growth since its last reading, so
// the exported counters are exact, only up to one interval late:
//
//	dsql_pool_waits{pool}          acquisitions that waited for a free connection
//	dsql_pool_wait_ms{pool}        milliseconds they waited, in total
//	dsql_pool_connections_in_use{pool}, dsql_pool_connections_max{pool}   gauges, at each sample
//
// rate(dsql_pool_wait_ms) / rate(dsql_pool_waits) is the average wait of a waiting call; a pool
// whose in-use gauge sits at its max while waits grow is too small for the load (maxConns).

// PoolStatsInterval is how often the plugin samples its pools' statistics.
const PoolStatsInterval = time.Second

var (
	metricPoolWaits   = metrics.NewCounterDef("dsql_pool_waits", metrics.WithDescription("Connection acquisitions from a DSQL plugin pool that found no free connection and waited, tagged by pool (main or chunk)."))
	metricPoolWaitMs  = metrics.NewCounterDef("dsql_pool_wait_ms", metrics.WithDescription("Milliseconds spent waiting for a free connection of a DSQL plugin pool, in total, tagged by pool."))
	metricPoolInUse   = metrics.NewGaugeDef("dsql_pool_connections_in_use", metrics.WithDescription("Connections of a DSQL plugin pool in use at the last sample, tagged by pool."))
	metricPoolMaxOpen = metrics.NewGaugeDef("dsql_pool_connections_max", metrics.WithDescription("Most connections a DSQL plugin pool may open (maxConns for main, 2 for chunk), tagged by pool."))
)

// poolSource names one pool and returns its current *sql.DB (nil while not open yet).
type poolSource struct {
	name string
	db   func() *stdsql.DB
}

// poolSampler records the pools' wait statistics until stopped.
type poolSampler struct {
	counters *Counters
	pools    []poolSource
	last     map[string]poolReading
	stop     chan struct{}
	done     sync.WaitGroup
	once     sync.Once
}

// poolReading is one pool's statistics at the previous sample; db tells a replaced pool
// (upstream reconnecting) from the same one, whose counters restart at zero.
type poolReading struct {
	db    *stdsql.DB
	waits int64
	wait  time.Duration
}

// startPoolSampler records 0 for every pool's counters (so their series exist before the first
// wait), then samples every interval until Stop.
func startPoolSampler(c *Counters, interval time.Duration, pools ...poolSource) *poolSampler {
	s := &poolSampler{counters: c, pools: pools, last: map[string]poolReading{}, stop: make(chan struct{})}
	for _, p := range pools {
		c.poolWaited(p.name, 0, 0, 0)
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

// sample records each pool's growth in waits and wait time since the previous sample.
func (s *poolSampler) sample() {
	for _, p := range s.pools {
		db := p.db()
		if db == nil {
			continue
		}
		st := db.Stats()
		prev := s.last[p.name]
		if prev.db != db {
			prev = poolReading{db: db}
		}
		s.counters.poolWaited(p.name, st.WaitCount-prev.waits, st.WaitDuration-prev.wait, st.WaitDuration.Milliseconds()-prev.wait.Milliseconds())
		s.counters.poolGauges(p.name, st.InUse, st.MaxOpenConnections)
		s.last[p.name] = poolReading{db: db, waits: st.WaitCount, wait: st.WaitDuration}
	}
}

// Stop takes a last sample and ends the sampler; safe to call more than once.
func (s *poolSampler) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.done.Wait()
		s.sample()
	})
}
