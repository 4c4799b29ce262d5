// Command temporal-ui-server runs the Temporal Web UI for the local stack.
//
// It is upstream's UI server (github.com/temporalio/ui-server/v2, which embeds the built UI, so
// `go build` yields a working UI with no Node toolchain and no network at run time), configured
// from flags instead of upstream's YAML config directory, so that the local-stack orchestrator
// can start it on a free loopback port without writing files.
//
// Usage:
//
//	temporal-ui-server -temporal-address 127.0.0.1:7233 -port 8233 [-host 127.0.0.1] [-namespace default]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/temporalio/ui-server/v2/server"
	"github.com/temporalio/ui-server/v2/server/api"
	"github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/headers"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "temporal-ui-server:", err)
		os.Exit(1)
	}
}

// run parses the flags, checks them and serves until the process is stopped.
func run(args []string) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	s := server.NewServer(
		server_options.WithConfigProvider(cfg),
		server_options.WithAPIMiddleware([]api.Middleware{headers.WithForwardHeaders(cfg.ForwardHeaders)}),
	)
	defer s.Stop()
	return s.Start()
}

// parseConfig turns the command line into an upstream UI server config. Errors name the flag,
// the value and what is allowed.
func parseConfig(args []string) (*config.Config, error) {
	fs := flag.NewFlagSet("temporal-ui-server", flag.ContinueOnError)
	temporal := fs.String("temporal-address", "127.0.0.1:7233", "Temporal frontend gRPC address, host:port")
	host := fs.String("host", "127.0.0.1", "address the UI listens on")
	port := fs.Int("port", 8233, "TCP port the UI listens on (1-65535)")
	namespace := fs.String("namespace", "default", "namespace the UI opens first")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: this command takes flags only", fs.Arg(0))
	}
	if _, p, err := net.SplitHostPort(*temporal); err != nil || p == "" {
		return nil, fmt.Errorf("-temporal-address %q is not host:port", *temporal)
	} else if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("-temporal-address %q: port must be 1-65535", *temporal)
	}
	if *port < 1 || *port > 65535 {
		return nil, fmt.Errorf("-port %d: must be 1-65535", *port)
	}
	if *namespace == "" {
		return nil, fmt.Errorf("-namespace must not be empty")
	}
	cfg := &config.Config{
		TemporalGRPCAddress: *temporal,
		Host:                *host,
		Port:                *port,
		EnableUI:            true,
		DefaultNamespace:    *namespace,
		// Local HTTP without TLS: the CSRF cookie cannot be Secure.
		CORS:             config.CORS{CookieInsecure: true},
		DisableNewsFetch: true, // no network beyond the loopback stack
		Distribution:     "server",
		ForwardHeaders:   []string{"X-Forwarded-For"},
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
