// Command temporal-dsql-server runs the upstream Temporal server (go.temporal.io/server,
// pinned in go.mod) with the "dsql" persistence plugin for Amazon Aurora DSQL registered.
//
// Usage:
//
//	temporal-dsql-server --config-file /etc/temporal/config.yaml [--service frontend ...] start
//	temporal-dsql-server --config-file /etc/temporal/config.yaml render-config
//	temporal-dsql-server healthcheck [--service history] [--timeout 3s]
//
// Services default to $SERVICES (comma-separated), else all four roles; a process that runs the
// frontend also runs internal-frontend when the config has an internal-frontend section.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // embed tzdata as a fallback

	"github.com/urfave/cli/v2"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/headers"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
	"go.uber.org/fx"

	"temporal-dsql/server/dsql"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "temporal-dsql-server:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	app := cli.NewApp()
	app.Name = "temporal-dsql-server"
	app.Usage = "Temporal server " + headers.ServerVersion + " with the Aurora DSQL persistence plugin (schema v" + dsql.SchemaVersion + ")"
	app.Version = headers.ServerVersion + "+dsql" + dsql.SchemaVersion
	app.Flags = []cli.Flag{
		&cli.StringFlag{Name: "config-file", Usage: "path to the server config file (may start with '# enable-template')", EnvVars: []string{"TEMPORAL_CONFIG_FILE"}, Value: "/etc/temporal/config.yaml"},
	}
	app.Commands = []*cli.Command{
		{
			Name:  "render-config",
			Usage: "print the rendered server config (after the same bootstrap as start)",
			Action: func(c *cli.Context) error {
				bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := bootstrap(bctx, osEnv{}, &http.Client{Timeout: 5 * time.Second}); err != nil {
					return err
				}
				if _, err := prepareTLS(bctx, osEnv{}, newTLSFetcher); err != nil {
					return err
				}
				cfg, err := config.Load(config.WithConfigFile(c.String("config-file")))
				if err != nil {
					return fmt.Errorf("loading config %s: %w", c.String("config-file"), err)
				}
				fmt.Println(cfg.String())
				return nil
			},
		},
		{
			Name:  "start",
			Usage: "start the Temporal services",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "service", Usage: "service(s) to start: frontend, history, matching, worker (default $SERVICES or all)"},
				&cli.BoolFlag{Name: "allow-no-auth", Usage: "run the frontend without an authorizer (development only)", EnvVars: []string{envAllowNoAuth}},
				&cli.BoolFlag{Name: "allow-plaintext", Usage: "run without TLS (development only)", EnvVars: []string{envAllowPlaintext}},
			},
			Action: start,
		},
		healthcheckCommand(),
	}
	return app
}

func services(c *cli.Context) ([]string, error) {
	svcs := c.StringSlice("service")
	if len(svcs) == 0 {
		if env := os.Getenv("SERVICES"); env != "" {
			svcs = strings.Split(env, ",")
		} else {
			svcs = temporal.DefaultServices
		}
	}
	known := map[string]bool{}
	for _, s := range temporal.Services {
		known[s] = true
	}
	out := make([]string, 0, len(svcs))
	for _, s := range svcs {
		s = strings.TrimSpace(s)
		if !known[s] {
			return nil, fmt.Errorf("unknown service %q in SERVICES/--service; allowed: %s", s, strings.Join(temporal.Services, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

func start(c *cli.Context) error {
	svcs, err := services(c)
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bootstrap(bctx, osEnv{}, &http.Client{Timeout: 5 * time.Second}); err != nil {
		return err
	}
	fetcher, err := prepareTLS(bctx, osEnv{}, newTLSFetcher)
	if err != nil {
		return err
	}
	cfg, err := config.Load(config.WithConfigFile(c.String("config-file")))
	if err != nil {
		return fmt.Errorf("loading config %s: %w", c.String("config-file"), err)
	}
	if err := checkSecurity(cfg, svcs, c.Bool("allow-no-auth"), c.Bool("allow-plaintext")); err != nil {
		return err
	}
	svcs = withInternalFrontend(cfg, svcs)
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	logger.Info("Starting Temporal with the DSQL persistence plugin.",
		tag.String("server-version", headers.ServerVersion),
		tag.String("dsql-schema-version", dsql.SchemaVersion),
		tag.String("services", strings.Join(svcs, ",")))

	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("creating the authorizer: %w", err)
	}
	if authorization.IsNoopAuthorizer(authorizer) {
		logger.Warn("No authorizer configured: every caller of the frontend is allowed everything (" + envAllowNoAuth + "=true).")
	}
	if fetcher != nil {
		refresh, _ := tlsRefresh(os.Getenv) // validated by prepareTLS
		rctx, stopRefresh := context.WithCancel(context.Background())
		defer stopRefresh()
		go fetcher.refreshLoop(rctx, refresh, func(err error) {
			logger.Error("Refreshing the TLS certificates from Secrets Manager failed; the current files stay in use.", tag.Error(err))
		})
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return fmt.Errorf("creating the claim mapper: %w", err)
	}
	if claimMapper, err = withTokenPolicy(claimMapper, cfg.Global.Authorization, os.Getenv); err != nil {
		return err
	}
	audienceMapper, err := authorization.GetAudienceMapperFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return fmt.Errorf("creating the audience mapper: %w", err)
	}
	// The DSQL limit guard wraps every execution store upstream builds (dsql/guard.go).
	s, err := temporal.NewServerFx(fx.Options(temporal.TopLevelModule, fx.Decorate(dsql.DecorateFactoryProvider)),
		temporal.ForServices(svcs),
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.InterruptOn(temporal.InterruptCh()),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithAudienceGetter(func(*config.Config) authorization.JWTAudienceMapper { return audienceMapper }),
	)
	if err != nil {
		return fmt.Errorf("creating the server: %w", err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	logger.Info("All services are stopped.")
	return nil
}

// withInternalFrontend adds internal-frontend to svcs when they include the frontend and the
// config defines an internal-frontend service: with that section, upstream points the system
// worker and every internal caller at internal-frontend (found through membership), so the
// frontend's process must bring it (docs/server-container.md, "Internal frontend").
func withInternalFrontend(cfg *config.Config, svcs []string) []string {
	ife := string(primitives.InternalFrontendService)
	if _, ok := cfg.Services[ife]; !ok {
		return svcs
	}
	hasFrontend := false
	for _, s := range svcs {
		if s == ife {
			return svcs
		}
		hasFrontend = hasFrontend || s == string(primitives.FrontendService)
	}
	if hasFrontend {
		return append(svcs, ife)
	}
	return svcs
}
