package dsql

// Mutable-state load in one round trip, on an explicit code path.
//
// Loading a workflow's mutable state (upstream's GetWorkflowExecution, sql/execution.go) reads
// the executions row and then, one round trip each, the activity, timer, child-execution,
// request-cancel and signal maps, the signals-requested set and the buffered events: eight
// sequential round trips on the same key, all outside any transaction. The plugin sends the
// eight reads as one batch (one Sync, one round trip; PostgreSQL and DSQL run a batch without
// BEGIN as one implicit transaction, so the eight results are one snapshot, where upstream's
// eight separate reads are eight) when, and only when, the read is part of a load opened by
// LoadBatchingExecutionStore.GetWorkflowExecution:
//
//   - the store method (wired by DecorateFactoryProvider, guard.go) opens a *mutableStateLoad for
//     this one call and passes it down through upstream's GetWorkflowExecution in the context,
//     the only value upstream's store hands from its caller to the plugin's db;
//   - db.SelectFromExecutions runs the batch for the load's run and keeps the map results in the
//     load itself; each map read of the same load and run takes its result once;
//   - nothing is shared between calls: no cache, no expiry, no bound to keep. A retry of the
//     load (Temporal's persistence retry calls the store again) opens a new load. If the batch
//     fails, the load keeps nothing and every map read goes upstream's way (errors and their
//     conversion are upstream's), counted as a miss.
//
// Without a load in the context (another caller, the store not decorated, pipeline=off) every
// read is upstream's own statement. dsql_prefetch_hits / dsql_prefetch_misses count the map
// reads of loads served from the batch or not.

import (
	"context"
	stdsql "database/sql"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
)

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

// runKey names one workflow run.
type runKey struct {
	shard               int32
	namespace, workflow string
	run                 string
}

// prefetched holds one batch's map results.
type prefetched struct {
	activity         []sqlplugin.ActivityInfoMapsRow
	timer            []sqlplugin.TimerInfoMapsRow
	child            []sqlplugin.ChildExecutionInfoMapsRow
	requestCancel    []sqlplugin.RequestCancelInfoMapsRow
	signal           []sqlplugin.SignalInfoMapsRow
	signalsRequested []sqlplugin.SignalsRequestedSetsRow
	buffered         []sqlplugin.BufferedEventsRow
}

const (
	takenActivity uint8 = 1 << iota
	takenTimer
	takenChild
	takenRequestCancel
	takenSignal
	takenSignalsRequested
	takenBuffered
)

// LoadBatchingExecutionStore is the explicit entry of the one-round-trip load: its
// GetWorkflowExecution opens a load (mutableStateLoad) for the call and runs the wrapped store's
// GetWorkflowExecution within it, so that the plugin's db batches the eight reads (see the file
// comment). Every other method is the wrapped store's. DecorateFactoryProvider wires it under
// GuardedExecutionStore for every execution store the server builds.
type LoadBatchingExecutionStore struct {
	persistence.ExecutionStore
}

// NewLoadBatchingExecutionStore wraps s.
func NewLoadBatchingExecutionStore(s persistence.ExecutionStore) *LoadBatchingExecutionStore {
	return &LoadBatchingExecutionStore{ExecutionStore: s}
}

// GetWorkflowExecution loads the mutable state within a new load of its own.
func (s *LoadBatchingExecutionStore) GetWorkflowExecution(ctx context.Context, r *persistence.GetWorkflowExecutionRequest) (*persistence.InternalGetWorkflowExecutionResponse, error) {
	ctx, _ = withMutableStateLoad(ctx)
	return s.ExecutionStore.GetWorkflowExecution(ctx, r)
}

// mutableStateLoad is one GetWorkflowExecution call's batch: the run it read (key), its map
// results (p; nil until the batch succeeded, or after it failed) and which were handed out.
type mutableStateLoad struct {
	mu    sync.Mutex
	key   runKey
	p     *prefetched
	taken uint8
}

type mutableStateLoadKey struct{}

// withMutableStateLoad opens a new load for one GetWorkflowExecution call.
func withMutableStateLoad(ctx context.Context) (context.Context, *mutableStateLoad) {
	l := &mutableStateLoad{}
	return context.WithValue(ctx, mutableStateLoadKey{}, l), l
}

// loadOf returns the load ctx belongs to, or nil.
func loadOf(ctx context.Context) *mutableStateLoad {
	l, _ := ctx.Value(mutableStateLoadKey{}).(*mutableStateLoad)
	return l
}

// keep stores the batch's results of run k (p nil: the batch failed, keep nothing).
func (l *mutableStateLoad) keep(k runKey, p *prefetched) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.key, l.p, l.taken = k, p, 0
}

// take hands out the kept result flag of run k once; counted as a hit or a miss (c may be nil).
func (l *mutableStateLoad) take(k runKey, flag uint8, c *Counters) (*prefetched, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil || l.key != k || l.taken&flag != 0 {
		c.PrefetchRead(false)
		return nil, false
	}
	l.taken |= flag
	c.PrefetchRead(true)
	return l.p, true
}

// SelectFromExecutions reads the execution row; inside a load (see the file comment) it reads
// the run's maps in the same round trip and keeps them in the load. Otherwise upstream's read.
func (d *db) SelectFromExecutions(ctx context.Context, f sqlplugin.ExecutionsFilter) (*sqlplugin.ExecutionsRow, error) {
	load := loadOf(ctx)
	pool := d.sqlDB.Load()
	if load == nil || pool == nil || !d.prefetch {
		return d.upstreamDB.SelectFromExecutions(ctx, f)
	}
	key := keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	row, p, err := prefetchRun(ctx, pool, f)
	if err != nil {
		load.keep(key, nil)
		return d.upstreamDB.SelectFromExecutions(ctx, f)
	}
	if row == nil {
		load.keep(key, nil)
		return nil, stdsql.ErrNoRows // as upstream's GetContext
	}
	load.keep(key, p)
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

// fromLoad returns ctx's load's kept result flag of run k, if it has one not handed out yet.
func (d *db) fromLoad(ctx context.Context, k runKey, flag uint8) (*prefetched, bool) {
	l := loadOf(ctx)
	if l == nil || !d.prefetch { // pipeline=off: no batch, nothing to count
		return nil, false
	}
	return l.take(k, flag, d.counters)
}

func (d *db) SelectAllFromActivityInfoMaps(ctx context.Context, f sqlplugin.ActivityInfoMapsAllFilter) ([]sqlplugin.ActivityInfoMapsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenActivity); ok {
		return p.activity, nil
	}
	return d.upstreamDB.SelectAllFromActivityInfoMaps(ctx, f)
}

func (d *db) SelectAllFromTimerInfoMaps(ctx context.Context, f sqlplugin.TimerInfoMapsAllFilter) ([]sqlplugin.TimerInfoMapsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenTimer); ok {
		return p.timer, nil
	}
	return d.upstreamDB.SelectAllFromTimerInfoMaps(ctx, f)
}

func (d *db) SelectAllFromChildExecutionInfoMaps(ctx context.Context, f sqlplugin.ChildExecutionInfoMapsAllFilter) ([]sqlplugin.ChildExecutionInfoMapsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenChild); ok {
		return p.child, nil
	}
	return d.upstreamDB.SelectAllFromChildExecutionInfoMaps(ctx, f)
}

func (d *db) SelectAllFromRequestCancelInfoMaps(ctx context.Context, f sqlplugin.RequestCancelInfoMapsAllFilter) ([]sqlplugin.RequestCancelInfoMapsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenRequestCancel); ok {
		return p.requestCancel, nil
	}
	return d.upstreamDB.SelectAllFromRequestCancelInfoMaps(ctx, f)
}

func (d *db) SelectAllFromSignalInfoMaps(ctx context.Context, f sqlplugin.SignalInfoMapsAllFilter) ([]sqlplugin.SignalInfoMapsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenSignal); ok {
		return p.signal, nil
	}
	return d.upstreamDB.SelectAllFromSignalInfoMaps(ctx, f)
}

func (d *db) SelectAllFromSignalsRequestedSets(ctx context.Context, f sqlplugin.SignalsRequestedSetsAllFilter) ([]sqlplugin.SignalsRequestedSetsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenSignalsRequested); ok {
		return p.signalsRequested, nil
	}
	return d.upstreamDB.SelectAllFromSignalsRequestedSets(ctx, f)
}

func (d *db) SelectFromBufferedEvents(ctx context.Context, f sqlplugin.BufferedEventsFilter) ([]sqlplugin.BufferedEventsRow, error) {
	if p, ok := d.fromLoad(ctx, keyOf(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID), takenBuffered); ok {
		return p.buffered, nil
	}
	return d.upstreamDB.SelectFromBufferedEvents(ctx, f)
}
