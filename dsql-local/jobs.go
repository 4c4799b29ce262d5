package main

import (
	"context"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// jobRunner builds the indexes that CREATE INDEX ASYNC submitted, like DSQL's job manager: it
// claims committed jobs from sys.jobs, waits the configured build delay, runs the build and
// records completed/failed with details. Finished jobs are pruned after the retention period.
type jobRunner struct {
	pool      *pgxpool.Pool
	delay     atomic.Int64 // nanoseconds
	retention time.Duration
	faults    *faults
	wg        sync.WaitGroup
	// installMu serialises the size-limit trigger rebuilds that follow index builds: two builds
	// of one table finishing together would both CREATE OR REPLACE the table's trigger function,
	// and PostgreSQL fails the second with XX000 "tuple concurrently updated". Holding it across
	// the whole statement also makes the later rebuild read the earlier one's index.
	installMu sync.Mutex
}

func (j *jobRunner) run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			j.wg.Wait()
			return
		case <-tick.C:
		}
		rows, err := j.pool.Query(ctx, `UPDATE sys.jobs SET status = 'processing', update_time = now()
			WHERE job_id IN (SELECT job_id FROM sys.jobs WHERE status = 'submitted' ORDER BY start_time LIMIT 16)
			RETURNING job_id, coalesce(object_name, '')`)
		if err != nil {
			if ctx.Err() == nil {
				log.Printf("job runner: claiming jobs: %v", err)
			}
			continue
		}
		type job struct{ id, object string }
		var claimed []job
		for rows.Next() {
			var jb job
			if err := rows.Scan(&jb.id, &jb.object); err == nil {
				claimed = append(claimed, jb)
			}
		}
		rows.Close()
		for _, jb := range claimed {
			j.wg.Add(1)
			go func() { defer j.wg.Done(); j.build(ctx, jb.id, jb.object) }()
		}
		if time.Since(lastPrune) > min(time.Minute, j.retention/2) {
			lastPrune = time.Now()
			_, _ = j.pool.Exec(ctx, `DELETE FROM sys.jobs WHERE status IN ('completed', 'failed', 'cancelled')
				AND update_time < now() - make_interval(secs => $1)`, j.retention.Seconds())
		}
	}
}

func (j *jobRunner) build(ctx context.Context, id, object string) {
	select {
	case <-time.After(time.Duration(j.delay.Load())):
	case <-ctx.Done():
		return
	}
	status, details := "completed", ""
	if msg := j.faults.indexFailure(object); msg != "" {
		status, details = "failed", msg
	} else {
		var stmt string
		err := j.pool.QueryRow(ctx, `SELECT statement FROM dsql_local_internal.job_statements WHERE job_id = $1`, id).Scan(&stmt)
		if err == nil {
			_, err = j.pool.Exec(ctx, stmt)
		}
		if err == nil {
			// The new index's key joins the 1 KiB key-size check of its table.
			j.installMu.Lock()
			_, err = j.pool.Exec(ctx, `SELECT dsql_local_internal.install_size_limits(i.indrelid::regclass)
				FROM pg_index i WHERE i.indexrelid = to_regclass($1)`, object)
			j.installMu.Unlock()
		}
		if err != nil {
			status, details = "failed", err.Error()
		}
	}
	_, err := j.pool.Exec(ctx, `UPDATE sys.jobs SET status = $2, details = nullif($3, ''), update_time = now() WHERE job_id = $1`, id, status, details)
	if err != nil && ctx.Err() == nil {
		log.Printf("job runner: recording job %s: %v", id, err)
	}
}
