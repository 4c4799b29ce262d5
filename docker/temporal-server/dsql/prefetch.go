package dsql

// Mutable-state load in one round trip.
//
// Loading a workflow's mutable state (upstream's GetWorkflowExecution, sql/execution.go) reads
// the executions row and then, one round trip each, the activity, timer, child-execution,
// request-cancel and signal maps, the signals-requested set and the buffered events: eight
// sequential round trips on the same key, all outside any transaction, all with the same
// context. With pipelining on, SelectFromExecutions sends all eight reads as one batch (one
// Sync, one round trip; PostgreSQL and DSQL run a batch without BEGIN as one implicit
// transaction, so the eight results are one snapshot, where upstream's eight separate reads
// are eight) and keeps the map results for the calls that follow. A kept result is handed out
// once, only to a call with the same context (the same load), and only within prefetchTTL;
// anything else reads as before. If the batch fails for any reason, SelectFromExecutions drops
// the run's kept entry (a retry of the load carries the same context and must not get the
// earlier load's maps) and falls back to upstream's read, so errors and their conversion are
// upstream's. At most prefetchMaxEntries (1,024) loads are kept.

import (
	"context"
	stdsql "database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
)

// prefetchTTL bounds how long a kept map result may be handed out after its batch.
const prefetchTTL = 2 * time.Second

const (
	pfExecutionQry = `SELECT shard_id, namespace_id, workflow_id, run_id, next_event_id, last_write_version, data, data_encoding, state, state_encoding, db_record_version
 FROM executions WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfActivityQry       = `SELECT schedule_id, data, data_encoding FROM activity_info_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfTimerQry          = `SELECT timer_id, data, data_encoding FROM timer_info_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfChildQry          = `SELECT initiated_id, data, data_encoding FROM child_execution_info_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfRequestCancelQry  = `SELECT initiated_id, data, data_encoding FROM request_cancel_info_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfSignalQry         = `SELECT initiated_id, data, data_encoding FROM signal_info_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfSignalsRequestQry = `SELECT signal_id FROM signals_requested_sets WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	pfBufferedQry       = `SELECT data, data_encoding FROM buffered_events WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4 ORDER BY id`
)

type runKey struct {
	shard               int32
	namespace, workflow string
	run                 string
}

// prefetched holds one load's map results until they are taken.
type prefetched struct {
	ctx              context.Context
	at               time.Time
	activity         []sqlplugin.ActivityInfoMapsRow
	timer            []sqlplugin.TimerInfoMapsRow
	child            []sqlplugin.ChildExecutionInfoMapsRow
	requestCancel    []sqlplugin.RequestCancelInfoMapsRow
	signal           []sqlplugin.SignalInfoMapsRow
	signalsRequested []sqlplugin.SignalsRequestedSetsRow
	buffered         []sqlplugin.BufferedEventsRow
	taken            uint8
}

const (
	takenActivity uint8 = 1 << iota
	takenTimer
	takenChild
	takenRequestCancel
	takenSignal
	takenSignalsRequested
	takenBuffered
	takenAll = takenActivity | takenTimer | takenChild | takenRequestCancel | takenSignal | takenSignalsRequested | takenBuffered
)

// prefetchMaxEntries bounds the cache: at most this many loads' results are kept. A load whose
// entry was dropped reads its maps with upstream's statements (more round trips, same rows).
const prefetchMaxEntries = 1024

// prefetchCache keeps the results of recent loads; Hits and Misses count map reads served
// from it or not (also exported: dsql_prefetch_hits / dsql_prefetch_misses).
type prefetchCache struct {
	mu      sync.Mutex
	entries map[runKey]*prefetched
	Hits    atomic.Int64
	Misses  atomic.Int64
	// counters, when set, receives the hits and misses as metrics.
	counters *Counters
}

// put keeps p for k, replacing any older entry of the run. When the cache is full it first
// drops expired entries, then arbitrary ones, so it never holds more than prefetchMaxEntries.
func (pc *prefetchCache) put(k runKey, p *prefetched) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.entries == nil {
		pc.entries = map[runKey]*prefetched{}
	}
	if _, replace := pc.entries[k]; !replace && len(pc.entries) >= prefetchMaxEntries {
		now := time.Now()
		for key, e := range pc.entries {
			if now.Sub(e.at) > prefetchTTL {
				delete(pc.entries, key)
			}
		}
		for key := range pc.entries {
			if len(pc.entries) < prefetchMaxEntries {
				break
			}
			delete(pc.entries, key)
		}
	}
	pc.entries[k] = p
}

// drop forgets k's entry: a load whose batch failed reads upstream's way, and must not be
// handed the maps of an earlier load of the same run (a retry carries the same context).
func (pc *prefetchCache) drop(k runKey) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delete(pc.entries, k)
}

func (pc *prefetchCache) len() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.entries)
}

// take hands out one kept result (flag) for ctx's load, at most once.
func (pc *prefetchCache) take(ctx context.Context, k runKey, flag uint8) (*prefetched, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e := pc.entries[k]
	if e == nil || e.ctx != ctx || e.taken&flag != 0 || time.Since(e.at) > prefetchTTL {
		pc.Misses.Add(1)
		pc.counters.PrefetchRead(false)
		return nil, false
	}
	e.taken |= flag
	if e.taken == takenAll {
		delete(pc.entries, k)
	}
	pc.Hits.Add(1)
	pc.counters.PrefetchRead(true)
	return e, true
}

// SelectFromExecutions reads the execution row and, in the same round trip, the run's maps,
// kept for the reads of the same load (see the file comment). Pipelining off: upstream's read.
func (d *db) SelectFromExecutions(ctx context.Context, f sqlplugin.ExecutionsFilter) (*sqlplugin.ExecutionsRow, error) {
	pool := d.sqlDB.Load()
	if pool == nil || !d.prefetch {
		return d.upstreamDB.SelectFromExecutions(ctx, f)
	}
	key := keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	row, p, err := prefetchRun(ctx, pool, f)
	if err != nil {
		d.cache.drop(key)
		return d.upstreamDB.SelectFromExecutions(ctx, f)
	}
	if row == nil {
		d.cache.drop(key)
	}
	if row == nil {
		return nil, stdsql.ErrNoRows // as upstream's GetContext
	}
	p.ctx, p.at = ctx, time.Now()
	d.cache.put(key, p)
	return row, nil
}

func keyOf(shard int32, ns primitives.UUID, wf string, run primitives.UUID) runKey {
	return runKey{shard: shard, namespace: string(ns), workflow: wf, run: string(run)}
}

var errNotOurConn = errors.New("dsql: prefetch needs the plugin's own connection")

// prefetchRun sends the eight reads as one batch on one pool connection (a statement outside a
// transaction: retried on conflicts like any other).
func prefetchRun(ctx context.Context, pool *stdsql.DB, f sqlplugin.ExecutionsFilter) (*sqlplugin.ExecutionsRow, *prefetched, error) {
	sc, err := pool.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer sc.Close()
	var row *sqlplugin.ExecutionsRow
	var p *prefetched
	err = sc.Raw(func(dc any) error {
		c, ok := dc.(*conn)
		if !ok || c.inTx {
			return errNotOurConn
		}
		return c.retry.run(ctx, c.metrics, func() error {
			var err error
			row, p, err = c.readRun(ctx, f)
			return err
		})
	})
	return row, p, err
}

// readRun runs the batch and scans its results.
func (c *conn) readRun(ctx context.Context, f sqlplugin.ExecutionsFilter) (*sqlplugin.ExecutionsRow, *prefetched, error) {
	args := []any{f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID}
	b := &pgx.Batch{}
	for _, q := range []string{pfExecutionQry, pfActivityQry, pfTimerQry, pfChildQry, pfRequestCancelQry, pfSignalQry, pfSignalsRequestQry, pfBufferedQry} {
		b.Queue(q, args...)
	}
	br := c.Conn.Conn().SendBatch(ctx, b)
	defer br.Close()

	var row *sqlplugin.ExecutionsRow
	rows, err := br.Query()
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var r sqlplugin.ExecutionsRow
		var ns, run pgtype.UUID
		if err := rows.Scan(&r.ShardID, &ns, &r.WorkflowID, &run, &r.NextEventID, &r.LastWriteVersion, &r.Data, &r.DataEncoding, &r.State, &r.StateEncoding, &r.DBRecordVersion); err != nil {
			rows.Close()
			return nil, nil, err
		}
		r.NamespaceID, r.RunID = uuidBytes(ns), uuidBytes(run)
		row = &r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}

	p := &prefetched{}
	scanInto := func(scan func(pgx.Rows) error) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	k := f
	steps := []func(pgx.Rows) error{
		func(r pgx.Rows) error {
			v := sqlplugin.ActivityInfoMapsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.ScheduleID, &v.Data, &v.DataEncoding)
			p.activity = append(p.activity, v)
			return err
		},
		func(r pgx.Rows) error {
			v := sqlplugin.TimerInfoMapsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.TimerID, &v.Data, &v.DataEncoding)
			p.timer = append(p.timer, v)
			return err
		},
		func(r pgx.Rows) error {
			v := sqlplugin.ChildExecutionInfoMapsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.InitiatedID, &v.Data, &v.DataEncoding)
			p.child = append(p.child, v)
			return err
		},
		func(r pgx.Rows) error {
			v := sqlplugin.RequestCancelInfoMapsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.InitiatedID, &v.Data, &v.DataEncoding)
			p.requestCancel = append(p.requestCancel, v)
			return err
		},
		func(r pgx.Rows) error {
			v := sqlplugin.SignalInfoMapsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.InitiatedID, &v.Data, &v.DataEncoding)
			p.signal = append(p.signal, v)
			return err
		},
		func(r pgx.Rows) error {
			v := sqlplugin.SignalsRequestedSetsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.SignalID)
			p.signalsRequested = append(p.signalsRequested, v)
			return err
		},
		func(r pgx.Rows) error {
			v := sqlplugin.BufferedEventsRow{ShardID: k.ShardID, NamespaceID: k.NamespaceID, WorkflowID: k.WorkflowID, RunID: k.RunID}
			err := r.Scan(&v.Data, &v.DataEncoding)
			p.buffered = append(p.buffered, v)
			return err
		},
	}
	for _, step := range steps {
		if err := scanInto(step); err != nil {
			return nil, nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, nil, err
	}
	return row, p, nil
}

func uuidBytes(u pgtype.UUID) primitives.UUID {
	b := make([]byte, 16)
	copy(b, u.Bytes[:])
	return b
}

// --- the map reads of a load: served from the batch once, else upstream's read -------------

func (d *db) SelectAllFromActivityInfoMaps(ctx context.Context, f sqlplugin.ActivityInfoMapsAllFilter) ([]sqlplugin.ActivityInfoMapsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenActivity); ok {
		return p.activity, nil
	}
	return d.upstreamDB.SelectAllFromActivityInfoMaps(ctx, f)
}

func (d *db) SelectAllFromTimerInfoMaps(ctx context.Context, f sqlplugin.TimerInfoMapsAllFilter) ([]sqlplugin.TimerInfoMapsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenTimer); ok {
		return p.timer, nil
	}
	return d.upstreamDB.SelectAllFromTimerInfoMaps(ctx, f)
}

func (d *db) SelectAllFromChildExecutionInfoMaps(ctx context.Context, f sqlplugin.ChildExecutionInfoMapsAllFilter) ([]sqlplugin.ChildExecutionInfoMapsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenChild); ok {
		return p.child, nil
	}
	return d.upstreamDB.SelectAllFromChildExecutionInfoMaps(ctx, f)
}

func (d *db) SelectAllFromRequestCancelInfoMaps(ctx context.Context, f sqlplugin.RequestCancelInfoMapsAllFilter) ([]sqlplugin.RequestCancelInfoMapsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenRequestCancel); ok {
		return p.requestCancel, nil
	}
	return d.upstreamDB.SelectAllFromRequestCancelInfoMaps(ctx, f)
}

func (d *db) SelectAllFromSignalInfoMaps(ctx context.Context, f sqlplugin.SignalInfoMapsAllFilter) ([]sqlplugin.SignalInfoMapsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenSignal); ok {
		return p.signal, nil
	}
	return d.upstreamDB.SelectAllFromSignalInfoMaps(ctx, f)
}

func (d *db) SelectAllFromSignalsRequestedSets(ctx context.Context, f sqlplugin.SignalsRequestedSetsAllFilter) ([]sqlplugin.SignalsRequestedSetsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenSignalsRequested); ok {
		return p.signalsRequested, nil
	}
	return d.upstreamDB.SelectAllFromSignalsRequestedSets(ctx, f)
}

func (d *db) SelectFromBufferedEvents(ctx context.Context, f sqlplugin.BufferedEventsFilter) ([]sqlplugin.BufferedEventsRow, error) {
	if p, ok := d.cache.take(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenBuffered); ok {
		return p.buffered, nil
	}
	return d.upstreamDB.SelectFromBufferedEvents(ctx, f)
}
