package main

// The latency model: time that a real Aurora DSQL endpoint adds and a local PostgreSQL does
// not. Each client round trip (see accounting.go) gets roundTrip added before its last
// ReadyForQuery reaches the client; each commit of a transaction that may have written (an
// explicit COMMIT, or a write outside a transaction block) gets commit added before it reaches
// PostgreSQL, so the transaction stays open, and can conflict, for that long. Each delay is
// drawn uniformly from base*(1-jitter) .. base*(1+jitter).
//
// Profiles (--latency-profile; README.md "Latency model" gives the sources and the reasoning):
//   none                 no added latency (the default: conformance tests and unit tests)
//   dsql-single-region   round trip 1.5 ms, commit 5 ms, jitter 0.3
//   dsql-multi-region    round trip 1.5 ms, commit 20 ms, jitter 0.3

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// latencyProfile is a named set of figures.
type latencyProfile struct {
	RoundTrip time.Duration
	Commit    time.Duration
	Jitter    float64
}

var latencyProfiles = map[string]latencyProfile{
	"none":               {},
	"dsql-single-region": {RoundTrip: 1500 * time.Microsecond, Commit: 5 * time.Millisecond, Jitter: 0.3},
	"dsql-multi-region":  {RoundTrip: 1500 * time.Microsecond, Commit: 20 * time.Millisecond, Jitter: 0.3},
}

// latencyModel holds the figures in force; the control API may change them at run time.
type latencyModel struct {
	roundTrip atomic.Int64 // ns
	commit    atomic.Int64 // ns
	jitter    atomic.Uint64
	sleep     func(time.Duration) // a seam for tests
}

func newLatencyModel(p latencyProfile) *latencyModel {
	l := &latencyModel{sleep: time.Sleep}
	_ = l.set(p)
	return l
}

// set validates and installs figures: durations 0..60 s, jitter 0..1.
func (l *latencyModel) set(p latencyProfile) error {
	if p.RoundTrip < 0 || p.RoundTrip > time.Minute || p.Commit < 0 || p.Commit > time.Minute {
		return fmt.Errorf("round trip and commit latency must be between 0 and 60s, got %s and %s", p.RoundTrip, p.Commit)
	}
	if p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter) {
		return fmt.Errorf("jitter must be between 0 and 1, got %v", p.Jitter)
	}
	l.roundTrip.Store(int64(p.RoundTrip))
	l.commit.Store(int64(p.Commit))
	l.jitter.Store(math.Float64bits(p.Jitter))
	return nil
}

func (l *latencyModel) get() latencyProfile {
	return latencyProfile{RoundTrip: time.Duration(l.roundTrip.Load()), Commit: time.Duration(l.commit.Load()),
		Jitter: math.Float64frombits(l.jitter.Load())}
}

// draw returns base with jitter applied.
func (l *latencyModel) draw(base time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	j := math.Float64frombits(l.jitter.Load())
	return time.Duration(float64(base) * (1 + j*(2*randFloat()-1)))
}

func (l *latencyModel) sleepRoundTrip() {
	if d := l.draw(time.Duration(l.roundTrip.Load())); d > 0 {
		l.sleep(d)
	}
}

func (l *latencyModel) sleepCommit() {
	if d := l.draw(time.Duration(l.commit.Load())); d > 0 {
		l.sleep(d)
	}
}
