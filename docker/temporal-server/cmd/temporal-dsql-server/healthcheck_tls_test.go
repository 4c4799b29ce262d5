package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startTLSHealthServer serves grpc.health.v1 with cfg (TLS) on a loopback port.
func startTLSHealthServer(t *testing.T, cfg *tls.Config) (*health.Server, int) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return hs, lis.Addr().(*net.TCPAddr).Port
}

// TestHealthcheckTLS: with TEMPORAL_TLS_DIR holding the files, the healthcheck dials the frontend
// with server TLS (no client certificate) and the other roles with internode mutual TLS, and fails
// against a role whose server trusts another CA.
func TestHealthcheckTLS(t *testing.T) {
	t.Setenv("SERVICES", "")
	ca := newTestCA(t, "cluster CA")
	dir := t.TempDir()
	inCert, inKey := ca.issue(t, InternodeServerName, 20)
	feCert, feKey := ca.issue(t, FrontendServerName, 21)
	for name, content := range map[string]string{"ca.pem": ca.pem, "internode.pem": inCert, "internode.key": inKey, "frontend.pem": feCert, "frontend.key": feKey} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(envTLSDir, dir)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.pem))
	inPair, _ := tls.X509KeyPair([]byte(inCert), []byte(inKey))
	fePair, _ := tls.X509KeyPair([]byte(feCert), []byte(feKey))

	// frontend: server TLS only.
	hs, port := startTLSHealthServer(t, &tls.Config{Certificates: []tls.Certificate{fePair}})
	hs.SetServingStatus(healthRoles["frontend"].service, healthpb.HealthCheckResponse_SERVING)
	t.Setenv("FRONTEND_GRPC_PORT", strconv.Itoa(port))
	if out, err := runHealthcheck(t, "--service", "frontend"); err != nil || !strings.Contains(out, "SERVING") {
		t.Fatalf("frontend over TLS: %v %s", err, out)
	}

	// history and internal-frontend: mutual TLS with the internode pair.
	for _, role := range []string{"history", "internal-frontend"} {
		hs, port := startTLSHealthServer(t, &tls.Config{Certificates: []tls.Certificate{inPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
		hs.SetServingStatus(healthRoles[role].service, healthpb.HealthCheckResponse_SERVING)
		t.Setenv(healthRoles[role].portEnv, strconv.Itoa(port))
		if out, err := runHealthcheck(t, "--service", role); err != nil || !strings.Contains(out, "SERVING") {
			t.Fatalf("%s over mutual TLS: %v %s", role, err, out)
		}
	}

	// A history server that trusts only another CA refuses the check's client certificate.
	other := newTestCA(t, "other CA")
	otherPool := x509.NewCertPool()
	otherPool.AppendCertsFromPEM([]byte(other.pem))
	hs, port = startTLSHealthServer(t, &tls.Config{Certificates: []tls.Certificate{inPair}, ClientCAs: otherPool, ClientAuth: tls.RequireAndVerifyClientCert})
	hs.SetServingStatus(healthRoles["history"].service, healthpb.HealthCheckResponse_SERVING)
	t.Setenv("HISTORY_GRPC_PORT", strconv.Itoa(port))
	if _, err := runHealthcheck(t, "--service", "history", "--timeout", "2s"); err == nil {
		t.Fatal("healthcheck passed against a server that does not trust the internode certificate")
	}
}
