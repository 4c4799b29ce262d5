package dsql

import (
	"context"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	persistenceclient "go.temporal.io/server/common/persistence/client"
)

// Limits of one DSQL transaction that the guard enforces before a workflow write reaches the
// SQL store (source: ../../../../shared/DSQL.md, "Limits").
const (
	// GuardMaxRows is DSQL's rows changed per transaction (54000 beyond it).
	GuardMaxRows = 3000
	// GuardMaxValueBytes is DSQL's size of one non-key column value (1 MiB).
	GuardMaxValueBytes = 1 << 20
	// GuardMaxTxBytes is DSQL's bytes written per transaction (10 MiB).
	GuardMaxTxBytes = 10 << 20
	// GuardMaxTimersPerTask caps timer rows created or changed by one write. Temporal 1.31.2
	// has no such limit; 990 is what the pending caps in config/default.yaml leave of 3,000
	// rows: 2·(500 activities + 150 children + 150 signals + 150 cancels) + 110 = 2,010.
	GuardMaxTimersPerTask = 990
	// guardBufferedEventsBound is the buffered-event rows one ClearBufferedEvents may delete
	// (history.maximumBufferedEventsBatch, default 100).
	guardBufferedEventsBound = 100
)

var metricLimitRefusals = metrics.NewCounterDef("dsql_limit_refusals", metrics.WithDescription("Workflow writes refused by the DSQL plugin's limit guard before the SQL store (rows, timers, value or transaction bytes over DSQL's limits), tagged by operation and limit."))

// DecorateFactoryProvider wraps upstream's persistence FactoryProviderFn so that every
// persistence factory the server builds gets a data store factory whose execution store is
// guarded, loads mutable state in one round trip and deletes runs in chunks
// (WrapExecutionStore). Wire it with fx.Decorate next to temporal.TopLevelModule
// (temporal.NewServerFx). Refusals are logged to the factory's logger and counted in
// dsql_limit_refusals on its metrics handler.
func DecorateFactoryProvider(next persistenceclient.FactoryProviderFn) persistenceclient.FactoryProviderFn {
	return func(p persistenceclient.NewFactoryParams) persistenceclient.Factory {
		p.DataStoreFactory = &guardedFactory{DataStoreFactory: p.DataStoreFactory, logger: p.Logger, metrics: p.MetricsHandler}
		return next(p)
	}
}

// guardedFactory is a persistence.DataStoreFactory whose NewExecutionStore returns the wrapped
// factory's execution store with the plugin's paths (WrapExecutionStore); every other store is
// the wrapped factory's own.
type guardedFactory struct {
	persistence.DataStoreFactory
	logger  log.Logger
	metrics metrics.Handler
}

func (f *guardedFactory) NewExecutionStore() (persistence.ExecutionStore, error) {
	s, err := f.DataStoreFactory.NewExecutionStore()
	if err != nil {
		return nil, err
	}
	return WrapExecutionStore(s, f.logger, f.metrics), nil
}

// WrapExecutionStore is the one place the plugin's execution-store paths are wired, in this
// order: GuardedExecutionStore (limits, before anything reaches the store) over
// LoadBatchingExecutionStore (GetWorkflowExecution in one round trip, prefetch.go) over
// ChunkedRunDeleteExecutionStore (DeleteWorkflowExecution's whole-run deletes in chunks,
// bulkdelete.go) over FencedExecutionStore (the shard fence checked inside the pipelined
// batch, fence.go) over s, upstream's SQL execution store. logger and h may be nil.
func WrapExecutionStore(s persistence.ExecutionStore, logger log.Logger, h metrics.Handler) persistence.ExecutionStore {
	return NewGuardedExecutionStore(NewLoadBatchingExecutionStore(NewChunkedRunDeleteExecutionStore(NewFencedExecutionStore(s))), logger, h)
}

// GuardedExecutionStore sizes CreateWorkflowExecution, UpdateWorkflowExecution and
// ConflictResolveWorkflowExecution before the wrapped store opens its transaction, and refuses
// a request over DSQL's limits with *persistence.TransactionSizeLimitError. Upstream's shard
// context treats that error as "definitely not committed" (handleWriteErrorLocked: no shard
// re-acquire, range_id unchanged) and respondworkflowtaskcompleted terminates the workflow
// with reason "Transaction size exceeds limit." and the message as details. Inside the SQL
// store's transaction the same refusal would become Unavailable (txExecute) and cost the shard.
// Every other method is the wrapped store's.
type GuardedExecutionStore struct {
	persistence.ExecutionStore
	logger  log.Logger
	metrics metrics.Handler
}

// guardedOperations and guardLimits are the tag values of dsql_limit_refusals.
var (
	guardedOperations = []string{"CreateWorkflowExecution", "UpdateWorkflowExecution", "ConflictResolveWorkflowExecution"}
	guardLimits       = []string{"timers", "rows", "value", "bytes"}
)

// NewGuardedExecutionStore wraps s; logger and h may be nil. dsql_limit_refusals is recorded
// once as 0 for every operation and limit (12 series), so that its series exist for the
// dashboards before the first refusal.
func NewGuardedExecutionStore(s persistence.ExecutionStore, logger log.Logger, h metrics.Handler) *GuardedExecutionStore {
	if logger == nil {
		logger = log.NewNoopLogger()
	}
	if h == nil {
		h = metrics.NoopMetricsHandler
	}
	for _, op := range guardedOperations {
		for _, l := range guardLimits {
			metricLimitRefusals.With(h).Record(0, metrics.OperationTag(op), metrics.StringTag("limit", l))
		}
	}
	return &GuardedExecutionStore{ExecutionStore: s, logger: logger, metrics: h}
}

// CreateWorkflowExecution refuses a new run whose snapshot exceeds the limits.
func (g *GuardedExecutionStore) CreateWorkflowExecution(ctx context.Context, r *persistence.InternalCreateWorkflowExecutionRequest) (*persistence.InternalCreateWorkflowExecutionResponse, error) {
	var sz TxSize
	sz.addSnapshot(&r.NewWorkflowSnapshot)
	if err := g.check("CreateWorkflowExecution", r.NewWorkflowSnapshot.NamespaceID, r.NewWorkflowSnapshot.WorkflowID, r.NewWorkflowSnapshot.RunID, sz); err != nil {
		return nil, err
	}
	return g.ExecutionStore.CreateWorkflowExecution(ctx, r)
}

// UpdateWorkflowExecution refuses a mutation (plus a continue-as-new run) over the limits.
func (g *GuardedExecutionStore) UpdateWorkflowExecution(ctx context.Context, r *persistence.InternalUpdateWorkflowExecutionRequest) error {
	var sz TxSize
	sz.addMutation(&r.UpdateWorkflowMutation)
	if r.NewWorkflowSnapshot != nil {
		sz.addSnapshot(r.NewWorkflowSnapshot)
	}
	m := &r.UpdateWorkflowMutation
	if err := g.check("UpdateWorkflowExecution", m.NamespaceID, m.WorkflowID, m.RunID, sz); err != nil {
		return err
	}
	return g.ExecutionStore.UpdateWorkflowExecution(ctx, r)
}

// ConflictResolveWorkflowExecution refuses a reset (reset run + new run + current run) over the limits.
func (g *GuardedExecutionStore) ConflictResolveWorkflowExecution(ctx context.Context, r *persistence.InternalConflictResolveWorkflowExecutionRequest) error {
	var sz TxSize
	sz.addSnapshot(&r.ResetWorkflowSnapshot)
	if r.NewWorkflowSnapshot != nil {
		sz.addSnapshot(r.NewWorkflowSnapshot)
	}
	if r.CurrentWorkflowMutation != nil {
		sz.addMutation(r.CurrentWorkflowMutation)
	}
	s := &r.ResetWorkflowSnapshot
	if err := g.check("ConflictResolveWorkflowExecution", s.NamespaceID, s.WorkflowID, s.RunID, sz); err != nil {
		return err
	}
	return g.ExecutionStore.ConflictResolveWorkflowExecution(ctx, r)
}

func (g *GuardedExecutionStore) check(op, ns, wf, run string, sz TxSize) error {
	limit, detail := sz.Exceeds()
	if detail == "" {
		return nil
	}
	msg := fmt.Sprintf("dsql: %s of workflow %q run %s (namespace id %s) refused before the store: %s", op, wf, run, ns, detail)
	g.logger.Warn("DSQL limit: workflow write refused before COMMIT; the workflow ends, its shard is unaffected.",
		tag.Operation(op), tag.WorkflowNamespaceID(ns), tag.WorkflowID(wf), tag.WorkflowRunID(run),
		tag.NewInt("rows", sz.Rows), tag.NewInt("timers", sz.Timers), tag.NewInt("bytes", sz.Bytes),
		tag.NewInt("largest_value_bytes", sz.LargestValue), tag.NewStringTag("limit", limit))
	metricLimitRefusals.With(g.metrics).Record(1, metrics.OperationTag(op), metrics.StringTag("limit", limit))
	return &persistence.TransactionSizeLimitError{Msg: msg}
}

// TxSize is an upper bound of what one workflow write changes in one transaction: Rows (rows
// inserted, updated or deleted), Timers (timer-map rows), Bytes (all blob bytes) and
// LargestValue (bytes of the largest single blob, i.e. one column value).
type TxSize struct {
	Rows, Timers, Bytes, LargestValue int
}

// Exceeds names the first DSQL limit sz exceeds ("rows", "timers", "value", "bytes") and
// says by how much, or returns two empty strings.
func (sz TxSize) Exceeds() (limit, detail string) {
	switch {
	case sz.Timers > GuardMaxTimersPerTask:
		return "timers", fmt.Sprintf("%d timers created or changed in one task, at most %d allowed (the share of DSQL's 3,000 rows per transaction left by the pending caps)", sz.Timers, GuardMaxTimersPerTask)
	case sz.Rows > GuardMaxRows:
		return "rows", fmt.Sprintf("%d rows in one transaction, DSQL allows %d", sz.Rows, GuardMaxRows)
	case sz.LargestValue > GuardMaxValueBytes:
		return "value", fmt.Sprintf("a value of %d bytes, DSQL allows %d per column value", sz.LargestValue, GuardMaxValueBytes)
	case sz.Bytes > GuardMaxTxBytes:
		return "bytes", fmt.Sprintf("%d bytes in one transaction, DSQL allows %d", sz.Bytes, GuardMaxTxBytes)
	}
	return "", ""
}

func (sz *TxSize) blob(b *commonpb.DataBlob) {
	if b == nil {
		return
	}
	n := len(b.Data)
	sz.Bytes += n
	if n > sz.LargestValue {
		sz.LargestValue = n
	}
}

func blobs[K comparable](sz *TxSize, m map[K]*commonpb.DataBlob) {
	sz.Rows += len(m)
	for _, b := range m {
		sz.blob(b)
	}
}

// addMutation counts the execution and current rows, every map row upserted or deleted, the
// history tasks, one new buffered-events row and up to 100 cleared ones.
func (sz *TxSize) addMutation(m *persistence.InternalWorkflowMutation) {
	sz.Rows += 2
	sz.blob(m.ExecutionInfoBlob)
	sz.blob(m.ExecutionStateBlob)
	sz.blob(m.Checksum)
	blobs(sz, m.UpsertActivityInfos)
	blobs(sz, m.UpsertTimerInfos)
	blobs(sz, m.UpsertChildExecutionInfos)
	blobs(sz, m.UpsertRequestCancelInfos)
	blobs(sz, m.UpsertSignalInfos)
	sz.Timers += len(m.UpsertTimerInfos) + len(m.DeleteTimerInfos)
	sz.Rows += len(m.DeleteActivityInfos) + len(m.DeleteTimerInfos) + len(m.DeleteChildExecutionInfos) +
		len(m.DeleteRequestCancelInfos) + len(m.DeleteSignalInfos) + len(m.DeleteChasmNodes) +
		len(m.UpsertSignalRequestedIDs) + len(m.DeleteSignalRequestedIDs)
	for _, n := range m.UpsertChasmNodes {
		sz.Rows++
		sz.blob(n.Metadata)
		sz.blob(n.Data)
	}
	if m.NewBufferedEvents != nil {
		sz.Rows++
		sz.blob(m.NewBufferedEvents)
	}
	if m.ClearBufferedEvents {
		sz.Rows += guardBufferedEventsBound
	}
	for _, ts := range m.Tasks {
		sz.Rows += len(ts)
		for _, t := range ts {
			sz.blob(t.Blob)
		}
	}
}

// addSnapshot counts the execution and current rows, every map row and the history tasks.
func (sz *TxSize) addSnapshot(s *persistence.InternalWorkflowSnapshot) {
	sz.Rows += 2
	sz.blob(s.ExecutionInfoBlob)
	sz.blob(s.ExecutionStateBlob)
	sz.blob(s.Checksum)
	blobs(sz, s.ActivityInfos)
	blobs(sz, s.TimerInfos)
	blobs(sz, s.ChildExecutionInfos)
	blobs(sz, s.RequestCancelInfos)
	blobs(sz, s.SignalInfos)
	sz.Timers += len(s.TimerInfos)
	sz.Rows += len(s.SignalRequestedIDs)
	for _, n := range s.ChasmNodes {
		sz.Rows++
		sz.blob(n.Metadata)
		sz.blob(n.Data)
	}
	for _, ts := range s.Tasks {
		sz.Rows += len(ts)
		for _, t := range ts {
			sz.blob(t.Blob)
		}
	}
}
