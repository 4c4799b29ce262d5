package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startHealthServer serves grpc-go's own grpc.health.v1 implementation (the one every
// Temporal role registers) on a loopback port and returns the server and the port.
func startHealthServer(t *testing.T) (*health.Server, int) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return hs, lis.Addr().(*net.TCPAddr).Port
}

// runHealthcheck runs the real CLI (`temporal-dsql-server healthcheck ...`) in-process and
// returns its error (main exits 1 on any error, 0 on nil) and its output.
func runHealthcheck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	err := app.Run(append([]string{"temporal-dsql-server", "healthcheck", "--host", "127.0.0.1"}, args...))
	return out.String(), err
}

func TestHealthcheck(t *testing.T) {
	t.Setenv("SERVICES", "")
	for _, role := range []string{"frontend", "history", "matching", "worker"} {
		t.Run(role+"/serving", func(t *testing.T) {
			hs, port := startHealthServer(t)
			t.Setenv(healthRoles[role].portEnv, strconv.Itoa(port))
			hs.SetServingStatus(healthRoles[role].service, healthpb.HealthCheckResponse_SERVING)
			out, err := runHealthcheck(t, "--service", role)
			if err != nil {
				t.Fatalf("healthcheck of a SERVING %s failed: %v", role, err)
			}
			if want := role + " 127.0.0.1:" + strconv.Itoa(port) + ": SERVING"; !strings.Contains(out, want) {
				t.Fatalf("output %q lacks %q", out, want)
			}
		})
		t.Run(role+"/not-serving", func(t *testing.T) {
			hs, port := startHealthServer(t)
			t.Setenv(healthRoles[role].portEnv, strconv.Itoa(port))
			hs.SetServingStatus(healthRoles[role].service, healthpb.HealthCheckResponse_NOT_SERVING)
			_, err := runHealthcheck(t, "--service", role)
			if err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
				t.Fatalf("healthcheck of a NOT_SERVING %s: got %v, want an error naming NOT_SERVING", role, err)
			}
		})
	}

	t.Run("other-service-serving-only", func(t *testing.T) {
		// grpc-go reports "" as SERVING from the start: a check that asked for "" (or for
		// another role's name) would pass on a role that is not ready.
		hs, port := startHealthServer(t)
		t.Setenv("HISTORY_GRPC_PORT", strconv.Itoa(port))
		hs.SetServingStatus(healthRoles["matching"].service, healthpb.HealthCheckResponse_SERVING)
		_, err := runHealthcheck(t, "--service", "history")
		if err == nil || !strings.Contains(err.Error(), "NotFound") {
			t.Fatalf("got %v, want NotFound for the unregistered history service", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := lis.Addr().(*net.TCPAddr).Port
		lis.Close()
		t.Setenv("MATCHING_GRPC_PORT", strconv.Itoa(port))
		start := time.Now()
		_, err = runHealthcheck(t, "--service", "matching", "--timeout", "2s")
		if err == nil || !strings.Contains(err.Error(), "Unavailable") && !strings.Contains(err.Error(), "DeadlineExceeded") {
			t.Fatalf("got %v, want Unavailable or DeadlineExceeded for a closed port", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v with --timeout 2s", d)
		}
	})

	t.Run("hung", func(t *testing.T) {
		// Accepts TCP connections and never answers: a hung process must fail within --timeout.
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 16)
		go func() {
			for {
				c, err := lis.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		t.Cleanup(func() {
			lis.Close()
			for c := range accepted {
				c.Close()
			}
		})
		t.Setenv("WORKER_GRPC_PORT", strconv.Itoa(lis.Addr().(*net.TCPAddr).Port))
		start := time.Now()
		_, err = runHealthcheck(t, "--service", "worker", "--timeout", "1s")
		if err == nil || !strings.Contains(err.Error(), "DeadlineExceeded") {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("took %v with --timeout 1s", d)
		}
	})

	t.Run("all-roles-from-SERVICES", func(t *testing.T) {
		// The all-in-one process: every role in $SERVICES must serve; one that does not fails
		// the check and is named.
		for _, role := range []string{"frontend", "worker"} {
			hs, port := startHealthServer(t)
			t.Setenv(healthRoles[role].portEnv, strconv.Itoa(port))
			status := healthpb.HealthCheckResponse_SERVING
			if role == "worker" {
				status = healthpb.HealthCheckResponse_NOT_SERVING
			}
			hs.SetServingStatus(healthRoles[role].service, status)
		}
		t.Setenv("SERVICES", "frontend,worker")
		out, err := runHealthcheck(t)
		if err == nil || !strings.Contains(err.Error(), "worker:") || strings.Contains(err.Error(), "frontend:") {
			t.Fatalf("got %v, want an error naming only worker", err)
		}
		if !strings.Contains(out, "frontend 127.0.0.1:") {
			t.Fatalf("output %q does not report the serving frontend", out)
		}
	})
}

func TestHealthTarget(t *testing.T) {
	for _, tc := range []struct {
		bind, role, portVar, want, wantErr string
	}{
		{bind: "", role: "frontend", want: "127.0.0.1:7233"},
		{bind: "0.0.0.0", role: "history", want: "127.0.0.1:7234"},
		{bind: "::", role: "matching", want: "127.0.0.1:7235"},
		{bind: "10.1.2.3", role: "worker", want: "10.1.2.3:7239"},
		{bind: "0.0.0.0", role: "worker", portVar: "17239", want: "127.0.0.1:17239"},
		{bind: "0.0.0.0", role: "history", portVar: "http", wantErr: `HISTORY_GRPC_PORT="http" is not a port number`},
		{bind: "0.0.0.0", role: "ui", wantErr: `unknown role "ui"`},
	} {
		env := map[string]string{}
		if tc.portVar != "" {
			env[healthRoles[tc.role].portEnv] = tc.portVar
		}
		addr, _, err := healthTarget(tc.role, healthHost(tc.bind), func(k string) string { return env[k] })
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%+v: got %q, %v; want error %q", tc, addr, err, tc.wantErr)
			}
			continue
		}
		if err != nil || addr != tc.want {
			t.Errorf("%+v: got %q, %v; want %q", tc, addr, err, tc.want)
		}
	}
}
