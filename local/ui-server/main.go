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
//	    [-tls-ca-file ca.pem -tls-server-name frontend.temporal.internal] [-auth-token-file token]
//	    [-oidc-issuer URL -oidc-client-id ID -oidc-client-secret-file FILE -oidc-callback-url URL [-oidc-scopes openid,profile,email]]
//
// With -auth-token-file the UI sends `authorization: Bearer <token>` (the file's contents, read
// at start) with every call to the frontend: the local stack's authenticated mode gives it an
// admin token so that the UI works without a login (a UI login through the OpenID provider
// replaces it when configured).
//
// With -oidc-issuer the UI requires a login through that OpenID provider (upstream's `auth`
// config, the same settings the ECS task passes as TEMPORAL_AUTH_*) and forwards the logged-in
// user's bearer token to the frontend; it cannot be combined with -auth-token-file.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/labstack/echo/v4"
	"google.golang.org/grpc/metadata"

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
	cfg, tokenFile, err := parseConfig(args)
	if err != nil {
		return err
	}
	middleware := []api.Middleware{headers.WithForwardHeaders(cfg.ForwardHeaders)}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("-auth-token-file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		middleware = append(middleware, func(echo.Context) runtime.ServeMuxOption {
			return runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
				return metadata.Pairs("authorization", "Bearer "+token)
			})
		})
	}
	s := server.NewServer(
		server_options.WithConfigProvider(cfg),
		server_options.WithAPIMiddleware(middleware),
	)
	defer s.Stop()
	return s.Start()
}

// parseConfig turns the command line into an upstream UI server config. Errors name the flag,
// the value and what is allowed.
func parseConfig(args []string) (*config.Config, string, error) {
	fs := flag.NewFlagSet("temporal-ui-server", flag.ContinueOnError)
	temporal := fs.String("temporal-address", "127.0.0.1:7233", "Temporal frontend gRPC address, host:port")
	host := fs.String("host", "127.0.0.1", "address the UI listens on")
	port := fs.Int("port", 8233, "TCP port the UI listens on (1-65535)")
	namespace := fs.String("namespace", "default", "namespace the UI opens first")
	caFile := fs.String("tls-ca-file", "", "CA bundle (PEM) to verify the frontend's TLS certificate; empty: plaintext gRPC")
	serverName := fs.String("tls-server-name", "", "name the frontend's certificate is verified against (with -tls-ca-file)")
	tokenFile := fs.String("auth-token-file", "", "file holding a bearer token sent with every frontend call")
	oidcIssuer := fs.String("oidc-issuer", "", "OpenID provider URL (its /.well-known/openid-configuration); turns on the UI login")
	oidcClientID := fs.String("oidc-client-id", "", "OIDC client id of the UI (with -oidc-issuer)")
	oidcSecretFile := fs.String("oidc-client-secret-file", "", "file holding the OIDC client secret (with -oidc-issuer)")
	oidcCallback := fs.String("oidc-callback-url", "", "the UI's callback URL registered at the provider, http(s)://<host>:<port>/auth/sso/callback (with -oidc-issuer)")
	oidcScopes := fs.String("oidc-scopes", "openid,profile,email", "comma-separated scopes asked for at login (with -oidc-issuer)")
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected argument %q: this command takes flags only", fs.Arg(0))
	}
	if _, p, err := net.SplitHostPort(*temporal); err != nil || p == "" {
		return nil, "", fmt.Errorf("-temporal-address %q is not host:port", *temporal)
	} else if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return nil, "", fmt.Errorf("-temporal-address %q: port must be 1-65535", *temporal)
	}
	if *port < 1 || *port > 65535 {
		return nil, "", fmt.Errorf("-port %d: must be 1-65535", *port)
	}
	if *namespace == "" {
		return nil, "", fmt.Errorf("-namespace must not be empty")
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
	if *caFile != "" {
		cfg.TLS = config.TLS{CaFile: *caFile, ServerName: *serverName, EnableHostVerification: true}
	} else if *serverName != "" {
		return nil, "", fmt.Errorf("-tls-server-name %q needs -tls-ca-file", *serverName)
	}
	if *oidcIssuer != "" {
		if *tokenFile != "" {
			return nil, "", fmt.Errorf("-oidc-issuer and -auth-token-file exclude each other: with a login the UI sends the user's token")
		}
		if *oidcClientID == "" || *oidcSecretFile == "" || *oidcCallback == "" {
			return nil, "", fmt.Errorf("-oidc-issuer %q needs -oidc-client-id, -oidc-client-secret-file and -oidc-callback-url", *oidcIssuer)
		}
		secret, err := os.ReadFile(*oidcSecretFile)
		if err != nil {
			return nil, "", fmt.Errorf("-oidc-client-secret-file: %w", err)
		}
		cfg.Auth = config.Auth{Enabled: true, Providers: []config.AuthProvider{{
			Label: "sso", Type: "oidc", ProviderURL: *oidcIssuer, ClientID: *oidcClientID,
			ClientSecret: strings.TrimSpace(string(secret)), CallbackURL: *oidcCallback, Scopes: strings.Split(*oidcScopes, ","),
		}}}
	} else if *oidcClientID != "" || *oidcSecretFile != "" || *oidcCallback != "" {
		return nil, "", fmt.Errorf("-oidc-client-id, -oidc-client-secret-file and -oidc-callback-url need -oidc-issuer")
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	return cfg, *tokenFile, nil
}
