package dsql

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
)

// SQLSTATEs DSQL returns that this plugin handles.
const (
	// sqlStateSerialization is DSQL's optimistic-concurrency conflict (message
	// carries OC000 for data conflicts, OC001 for schema changes).
	sqlStateSerialization = "40001"
	// sqlStateConnectionRate is "too many connections per second" (cluster-wide 100/s).
	sqlStateConnectionRate = "53400"
	// sqlStateTooManyConnections is the cluster connection limit.
	sqlStateTooManyConnections = "53300"
)

// IsConflict reports whether err is an optimistic-concurrency conflict (SQLSTATE 40001),
// the error DSQL returns when a transaction lost to a concurrent writer. Matching is on
// the SQLSTATE only, never on message text.
func IsConflict(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == sqlStateSerialization
	}
	var u *serviceerror.Unavailable
	return errors.As(err, &u) && strings.HasPrefix(u.Message, conflictUnavailablePrefix)
}

func isConnectRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == sqlStateConnectionRate || pgErr.Code == sqlStateTooManyConnections
	}
	return false
}

// RetryPolicy retries optimistic-concurrency conflicts of statements that run outside a
// transaction (each such statement is its own transaction, so a conflict means it had no
// effect and running it again is safe). Statements inside a transaction are never retried
// here: the conflict surfaces to Temporal, which retries the whole operation.
type RetryPolicy struct {
	// MaxAttempts is the number of tries including the first. Default 5.
	MaxAttempts int
	// InitialBackoff is the base delay before the second try. Default 10ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the delay. Default 500ms.
	MaxBackoff time.Duration
}

// DefaultRetryPolicy is 5 tries with full-jitter exponential backoff from 10ms to 500ms.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}

// backoff returns a full-jitter delay for the given attempt (1 = before the second try).
// A policy with no backoff (both durations zero) retries at once.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := p.InitialBackoff << min(attempt-1, 30)
	if d <= 0 || (p.MaxBackoff > 0 && d > p.MaxBackoff) {
		d = p.MaxBackoff
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func (p RetryPolicy) run(ctx context.Context, m *Counters, f func() error) error {
	var err error
	for attempt := 0; attempt < p.MaxAttempts; attempt++ {
		if attempt > 0 {
			m.Retry()
			if sleepCtx(ctx, p.backoff(attempt)) != nil {
				return err
			}
		}
		err = f()
		if !IsConflict(err) {
			return err
		}
		m.Conflict("statement")
	}
	m.RetriesExhausted()
	return conflictUnavailable(err, p.MaxAttempts)
}
