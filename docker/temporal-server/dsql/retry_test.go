package dsql

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common"
)

func TestRetryPolicyBackoff(t *testing.T) {
	cases := []struct {
		name   string
		policy RetryPolicy
		max    time.Duration
	}{
		{"attempts but no backoff at all retries at once", RetryPolicy{MaxAttempts: 3}, 0},
		{"initial backoff without a cap grows uncapped", RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond}, 1 << 30 * time.Millisecond},
		{"cap without initial backoff uses the cap", RetryPolicy{MaxAttempts: 3, MaxBackoff: 5 * time.Millisecond}, 5 * time.Millisecond},
		{"default policy stays within 500ms", DefaultRetryPolicy, 500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for attempt := 0; attempt <= 40; attempt++ {
				d := c.policy.backoff(attempt)
				if d < 0 || d > c.max {
					t.Fatalf("backoff(%d) = %v, want within [0, %v]", attempt, d, c.max)
				}
			}
		})
	}
}

func TestRetryPolicyRunConvertsExhaustedConflicts(t *testing.T) {
	conflict := &pgconn.PgError{Code: sqlStateSerialization, Message: "change conflicts with another transaction, please retry: (OC000)"}
	other := &pgconn.PgError{Code: "23505", Message: "duplicate key"}
	cases := []struct {
		name            string
		errs            []error // what each try returns; the last one repeats
		wantTries       int
		wantUnavailable bool
		wantConflict    bool
		wantErr         error
	}{
		{"success at once", []error{nil}, 1, false, false, nil},
		{"conflict then success", []error{conflict, nil}, 2, false, false, nil},
		{"other error is returned as is, no retry", []error{other}, 1, false, false, other},
		{"conflict on every try becomes Unavailable", []error{conflict}, 3, true, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := RetryPolicy{MaxAttempts: 3} // zero backoff: must not panic
			m := NewCounters(nil)
			tries := 0
			err := p.run(context.Background(), m, func() error {
				e := c.errs[min(tries, len(c.errs)-1)]
				tries++
				return e
			})
			if tries != c.wantTries {
				t.Fatalf("tries = %d, want %d", tries, c.wantTries)
			}
			var u *serviceerror.Unavailable
			if got := errors.As(err, &u); got != c.wantUnavailable {
				t.Fatalf("error %T %v: Unavailable = %v, want %v", err, err, got, c.wantUnavailable)
			}
			if c.wantUnavailable && !common.IsPersistenceTransientError(err) {
				t.Fatalf("Temporal does not treat %v as transient", err)
			}
			if IsConflict(err) != c.wantConflict {
				t.Fatalf("IsConflict(%v) = %v, want %v", err, IsConflict(err), c.wantConflict)
			}
			if c.wantErr != nil && err != c.wantErr {
				t.Fatalf("err = %v, want %v unchanged", err, c.wantErr)
			}
			if c.wantConflict && m.Exhausted.Load() != 1 {
				t.Fatalf("exhausted counter = %d, want 1", m.Exhausted.Load())
			}
		})
	}
}

func TestIsConflictAndIsRowLimit(t *testing.T) {
	cases := []struct {
		name              string
		err               error
		conflict, rowLimt bool
	}{
		{"40001", &pgconn.PgError{Code: "40001"}, true, false},
		{"wrapped 40001", errors.Join(errors.New("ctx"), &pgconn.PgError{Code: "40001"}), true, false},
		{"54000", &pgconn.PgError{Code: "54000", Message: "transaction row limit exceeded"}, false, true},
		{"our Unavailable for a conflict", conflictUnavailable(&pgconn.PgError{Code: "40001"}, 5), true, false},
		{"another Unavailable", serviceerror.NewUnavailable("database connection lost"), false, false},
		{"nil", nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if IsConflict(c.err) != c.conflict || IsRowLimit(c.err) != c.rowLimt {
				t.Fatalf("IsConflict = %v, IsRowLimit = %v; want %v, %v", IsConflict(c.err), IsRowLimit(c.err), c.conflict, c.rowLimt)
			}
		})
	}
}
