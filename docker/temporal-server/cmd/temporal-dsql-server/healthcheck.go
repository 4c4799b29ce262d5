package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/server/service/frontend"
	"go.temporal.io/server/service/worker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// roleHealth says where a role's gRPC server listens and which grpc.health.v1 service name
// its status is kept under. Every role registers the standard health service on its own gRPC
// port; the empty service name ("") is always SERVING in grpc-go's health server, so the check
// must name the role's service.
type roleHealth struct {
	portEnv     string // upstream's variable that moves the port (config_template.yaml)
	defaultPort int
	service     string
}

// healthRoles are the four roles' health endpoints in go.temporal.io/server v1.31.2:
//   - frontend: WorkflowService, NOT_SERVING until the membership ring is initialised
//     (service/frontend/workflow_handler.go Start), NOT_SERVING again on stop;
//   - history: HistoryService, NOT_SERVING until the shards this host owns at start are
//     acquired plus 5 s (service/history/service.go Start), NOT_SERVING again on stop;
//   - matching: MatchingService, SERVING from start until stop (service/matching/service.go);
//   - worker: WorkerService, SERVING only after the worker has joined the membership ring
//     (membership Start returns after ringpop bootstrap, a failed join is fatal), checked that
//     the system namespace exists and started its system workers (service/worker/service.go
//     Start); NOT_SERVING on stop. So a SERVING worker is a live ring member whose gRPC server
//     still answers.
//
// History's and matching's names are unexported upstream (serviceName in handler.go), hence
// the literals; the e2e test checks all four against a running server.
var healthRoles = map[string]roleHealth{
	"frontend": {"FRONTEND_GRPC_PORT", 7233, frontend.WorkflowServiceName},
	"history":  {"HISTORY_GRPC_PORT", 7234, "temporal.api.workflowservice.v1.HistoryService"},
	"matching": {"MATCHING_GRPC_PORT", 7235, "temporal.api.workflowservice.v1.MatchingService"},
	"worker":   {"WORKER_GRPC_PORT", 7239, worker.ServiceName},
	// internal-frontend runs upstream's frontend module on its own port (internode TLS).
	"internal-frontend": {"INTERNAL_FRONTEND_GRPC_PORT", 7236, frontend.WorkflowServiceName},
}

// healthcheckCommand is the `healthcheck` subcommand: the container health check of every
// server role (docs/server-container.md). It runs no bootstrap and reads no config file, so
// that it is cheap and does not depend on the ECS task metadata endpoint or on DSQL.
func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "exit 0 when every role of this task answers SERVING to grpc.health.v1 Check on its own gRPC port, else 1",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "service", Usage: "role(s) to check (default $SERVICES or all four)"},
			&cli.StringFlag{Name: "host", Usage: "host the roles listen on (default: $BIND_ON_IP unless it is a wildcard, else 127.0.0.1)"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "deadline of the whole check"},
		},
		Action: func(c *cli.Context) error {
			roles, err := services(c)
			if err != nil {
				return err
			}
			host := c.String("host")
			if host == "" {
				host = healthHost(os.Getenv(envBindOnIP))
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			tlsOn, err := tlsFilesPresent(tlsDir(os.Getenv))
			if err != nil {
				return err
			}
			var failed []string
			for _, role := range roles {
				addr, service, err := healthTarget(role, host, os.Getenv)
				creds := insecure.NewCredentials()
				if err == nil && tlsOn {
					creds, err = healthTLS(role, tlsDir(os.Getenv))
				}
				if err == nil {
					err = checkHealth(ctx, addr, service, creds)
				}
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", role, err))
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s %s: SERVING\n", role, addr)
			}
			if len(failed) > 0 {
				return fmt.Errorf("unhealthy: %s", strings.Join(failed, "; "))
			}
			return nil
		},
	}
}

// healthHost is the address to dial: the bind address when it names one interface, else
// loopback (a server bound to 0.0.0.0 answers there; on ECS the entrypoint binds 0.0.0.0).
func healthHost(bindOnIP string) string {
	switch strings.TrimSpace(bindOnIP) {
	case "", "0.0.0.0", "::", "[::]":
		return "127.0.0.1"
	default:
		return strings.TrimSpace(bindOnIP)
	}
}

// healthTarget returns the host:port and health service name of role, honouring the same
// port variables as the config template.
func healthTarget(role, host string, getenv func(string) string) (addr, service string, err error) {
	rh, ok := healthRoles[role]
	if !ok {
		return "", "", fmt.Errorf("unknown role %q", role)
	}
	port := rh.defaultPort
	if v := getenv(rh.portEnv); v != "" {
		if port, err = strconv.Atoi(v); err != nil || port < 1 || port > 65535 {
			return "", "", fmt.Errorf("%s=%q is not a port number", rh.portEnv, v)
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), rh.service, nil
}

// healthTLS returns the credentials to dial role's own port when TEMPORAL_TLS_DIR holds the
// TLS files: the frontend verified as frontend.temporal.internal with ca.pem (no client
// certificate, as for SDK clients); every other role through internode mutual TLS with the
// internode pair, verified as internode.temporal.internal.
func healthTLS(role, dir string) (credentials.TransportCredentials, error) {
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s holds no PEM certificate", filepath.Join(dir, "ca.pem"))
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: FrontendServerName}
	if role != "frontend" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "internode.pem"), filepath.Join(dir, "internode.key"))
		if err != nil {
			return nil, fmt.Errorf("loading the internode certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
		cfg.ServerName = InternodeServerName
	}
	return credentials.NewTLS(cfg), nil
}

// checkHealth calls grpc.health.v1.Health/Check for service on addr with creds and returns
// nil only for SERVING.
func checkHealth(ctx context.Context, addr, service string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("dialing %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("health check of %s on %s: %w", service, addr, err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s on %s is %s", service, addr, s)
	}
	return nil
}
