package main

import (
	"strings"
	"testing"
	"time"
)

func TestLatencyModelDrawStaysWithinJitter(t *testing.T) {
	l := newLatencyModel(latencyProfiles["dsql-single-region"])
	base := 5 * time.Millisecond
	for _, r := range []float64{0, 0.25, 0.5, 0.999} {
		randFloat = func() float64 { return r }
		got := l.draw(base)
		lo, hi := time.Duration(float64(base)*0.7), time.Duration(float64(base)*1.3)
		if got < lo || got > hi {
			t.Errorf("draw(%s) with rand %v = %s, want within [%s, %s]", base, r, got, lo, hi)
		}
	}
	randFloat = func() float64 { return 0.5 }
	if got := l.draw(base); got != base {
		t.Errorf("draw at the middle of the jitter range = %s, want %s", got, base)
	}
	if got := l.draw(0); got != 0 {
		t.Errorf("draw(0) = %s, want 0", got)
	}
}

func TestLatencyModelSleepsPerRoundTripAndCommit(t *testing.T) {
	var slept []time.Duration
	l := newLatencyModel(latencyProfile{RoundTrip: 2 * time.Millisecond, Commit: 7 * time.Millisecond})
	l.sleep = func(d time.Duration) { slept = append(slept, d) }
	l.sleepRoundTrip()
	l.sleepCommit()
	if len(slept) != 2 || slept[0] != 2*time.Millisecond || slept[1] != 7*time.Millisecond {
		t.Fatalf("slept %v, want [2ms 7ms]", slept)
	}
	l2 := newLatencyModel(latencyProfiles["none"])
	l2.sleep = func(d time.Duration) { t.Errorf("profile none slept %s", d) }
	l2.sleepRoundTrip()
	l2.sleepCommit()
}

func TestLatencyModelRefusesBadFigures(t *testing.T) {
	l := newLatencyModel(latencyProfile{})
	for _, p := range []latencyProfile{
		{RoundTrip: -time.Millisecond},
		{Commit: 2 * time.Minute},
		{Jitter: 1.5},
		{Jitter: -0.1},
	} {
		if err := l.set(p); err == nil {
			t.Errorf("set(%+v) accepted, want an error", p)
		}
	}
	if got := l.get(); got != (latencyProfile{}) {
		t.Errorf("a refused setting changed the model: %+v", got)
	}
}

func TestStatsPrometheusText(t *testing.T) {
	st := newStats()
	st.forRole("temporal").roundTrips.Add(3)
	st.forRole("admin").conflicts.Add(2)
	text := st.prometheus()
	for _, want := range []string{
		"# TYPE dsql_local_round_trips_total counter\n",
		"dsql_local_round_trips_total{role=\"admin\"} 0\n",
		"dsql_local_round_trips_total{role=\"temporal\"} 3\n",
		"dsql_local_occ_conflicts_total{role=\"admin\"} 2\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics text lacks %q:\n%s", want, text)
		}
	}
	if got := st.snapshot()["temporal"]["roundTrips"]; got != 3 {
		t.Errorf("snapshot roundTrips = %d, want 3", got)
	}
}
