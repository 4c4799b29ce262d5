package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// controlHandler serves the fault-injection API on loopback. Every endpoint takes and returns
// JSON; errors are {"error": "..."} with status 400. See README.md ("Control API").
func (srv *server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, _ *http.Request) {
		srv.mu.Lock()
		conns := []map[string]any{}
		for _, s := range srv.sessions {
			conns = append(conns, s.describe())
		}
		srv.mu.Unlock()
		writeJSON(w, 200, map[string]any{
			"connections": conns, "schemaVersion": srv.schemaVersion.Load(), "faults": srv.faults.snapshot(),
			"indexBuildDelayMs": time.Duration(srv.jobs.delay.Load()).Milliseconds(),
			"concurrency":       srv.cfg.concurrency, "latency": latencyJSON(srv.latency.get()),
		})
	})
	mux.HandleFunc("POST /faults/statements", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Pattern string `json:"pattern"`
			Code    string `json:"code"`
			Times   int    `json:"times"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if body.Pattern == "" {
			writeErr(w, fmt.Errorf("pattern is required (a Go regular expression matched against each statement)"))
			return
		}
		f, err := srv.faults.addStatement(body.Pattern, body.Code, body.Times)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, f)
	})
	mux.HandleFunc("POST /faults/commits", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Fraction float64 `json:"fraction"`
			Code     string  `json:"code"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if err := srv.faults.setCommits(body.Fraction, body.Code); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"fraction": body.Fraction})
	})
	mux.HandleFunc("POST /faults/drop-connections", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			User     string `json:"user"`
			Graceful bool   `json:"graceful"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		writeJSON(w, 200, map[string]any{"dropped": srv.dropConnections(body.User, body.Graceful)})
	})
	mux.HandleFunc("POST /faults/refuse-connections", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Seconds float64 `json:"seconds"`
			Mode    string  `json:"mode"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if body.Seconds < 0 || body.Seconds > 3600 {
			writeErr(w, fmt.Errorf("seconds must be between 0 and 3600, got %v", body.Seconds))
			return
		}
		if err := srv.faults.refuseConnections(time.Duration(body.Seconds*float64(time.Second)), body.Mode); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"seconds": body.Seconds})
	})
	mux.HandleFunc("POST /faults/index-builds", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Pattern string `json:"pattern"`
			Message string `json:"message"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if body.Pattern == "" {
			writeErr(w, fmt.Errorf("pattern is required (a Go regular expression matched against \"schema.index\")"))
			return
		}
		f, err := srv.faults.addIndexFailure(body.Pattern, body.Message)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, f)
	})
	mux.HandleFunc("POST /config/index-build-delay", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Ms *float64 `json:"ms"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		if body.Ms == nil || *body.Ms < 0 || *body.Ms > 3_600_000 {
			writeErr(w, fmt.Errorf("ms is required, between 0 and 3600000"))
			return
		}
		srv.jobs.delay.Store(int64(*body.Ms * float64(time.Millisecond)))
		writeJSON(w, 200, map[string]any{"ms": *body.Ms})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"roles": srv.stats.snapshot()})
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(srv.stats.prometheus()))
	})
	mux.HandleFunc("GET /config/latency", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, latencyJSON(srv.latency.get()))
	})
	mux.HandleFunc("POST /config/latency", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			RoundTripMs *float64 `json:"roundTripMs"`
			CommitMs    *float64 `json:"commitMs"`
			Jitter      *float64 `json:"jitter"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		p := srv.latency.get()
		if body.RoundTripMs != nil {
			p.RoundTrip = time.Duration(*body.RoundTripMs * float64(time.Millisecond))
		}
		if body.CommitMs != nil {
			p.Commit = time.Duration(*body.CommitMs * float64(time.Millisecond))
		}
		if body.Jitter != nil {
			p.Jitter = *body.Jitter
		}
		if err := srv.latency.set(p); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, latencyJSON(p))
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		srv.faults.clear()
		writeJSON(w, 200, map[string]any{"cleared": true})
	})
	return mux
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, fmt.Errorf("invalid JSON body: %v", err))
		return false
	}
	return true
}

func writeErr(w http.ResponseWriter, err error) {
	writeJSON(w, 400, map[string]any{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func latencyJSON(p latencyProfile) map[string]any {
	return map[string]any{"roundTripMs": float64(p.RoundTrip) / float64(time.Millisecond),
		"commitMs": float64(p.Commit) / float64(time.Millisecond), "jitter": p.Jitter}
}
