package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
)

type mapEnv map[string]string

func (m mapEnv) Getenv(k string) string   { return m[k] }
func (m mapEnv) Setenv(k, v string) error { m[k] = v; return nil }

// ecsMetadata stands in for the ECS task metadata v4 endpoint, which exists only inside
// an ECS task (an AWS control-plane service that cannot run here).
func ecsMetadata(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v4/abc"
}

func baseEnv(t *testing.T) mapEnv {
	dir := t.TempDir()
	return mapEnv{
		envDynamicConfigFile:  filepath.Join(dir, "dc", "dynamic.yaml"),
		envDefaultDynamicFile: filepath.Join("..", "..", "config", "dynamicconfig", "default.yaml"),
	}
}

func TestBootstrapECS(t *testing.T) {
	e := baseEnv(t)
	e[envECSMetadata] = ecsMetadata(t, 200, `{"Containers":[{"Name":"server","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.3.17"]}]}]}`)
	if err := bootstrap(context.Background(), e, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if e[envBroadcast] != "10.0.3.17" || e[envBindOnIP] != "0.0.0.0" {
		t.Fatalf("broadcast %q bind %q", e[envBroadcast], e[envBindOnIP])
	}
}

func TestBootstrapECSFailsLoudly(t *testing.T) {
	for name, srv := range map[string]func(t *testing.T) string{
		"5xx":        func(t *testing.T) string { return ecsMetadata(t, 500, "oops") },
		"no address": func(t *testing.T) string { return ecsMetadata(t, 200, `{"Containers":[{"Networks":[]}]}`) },
		"loopback only": func(t *testing.T) string {
			return ecsMetadata(t, 200, `{"Containers":[{"Networks":[{"IPv4Addresses":["127.0.0.1"]}]}]}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := baseEnv(t)
			e[envECSMetadata] = srv(t)
			err := bootstrap(context.Background(), e, http.DefaultClient)
			if err == nil || !strings.Contains(err.Error(), "refusing to broadcast 127.0.0.1") {
				t.Fatalf("want a loud failure, got %v (broadcast %q)", err, e[envBroadcast])
			}
		})
	}
}

func TestBootstrapOverrideAndLocal(t *testing.T) {
	e := baseEnv(t)
	e[envBroadcast] = "192.0.2.10"
	if err := bootstrap(context.Background(), e, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if e[envBindOnIP] != "0.0.0.0" {
		t.Fatalf("bind %q", e[envBindOnIP])
	}
	local := baseEnv(t)
	if err := bootstrap(context.Background(), local, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if local[envBroadcast] != "" || local[envBindOnIP] != "" {
		t.Fatalf("local run changed broadcast/bind: %v", local)
	}
	bad := baseEnv(t)
	bad[envBroadcast] = "not-an-ip"
	if err := bootstrap(context.Background(), bad, http.DefaultClient); err == nil || !strings.Contains(err.Error(), "not-an-ip") {
		t.Fatalf("want an error naming the value, got %v", err)
	}
}

func TestBootstrapDynamicConfig(t *testing.T) {
	e := baseEnv(t)
	if err := bootstrap(context.Background(), e, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(e[envDynamicConfigFile])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "limit.maxIDLength") {
		t.Fatalf("default dynamic config not written: %s", got)
	}
	e[envDynamicConfig] = "frontend.enableUpdateWorkflowExecution:\n  - value: true\n"
	if err := bootstrap(context.Background(), e, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(e[envDynamicConfigFile])
	if string(got) != e[envDynamicConfig] {
		t.Fatalf("TEMPORAL_DYNAMIC_CONFIG not written verbatim: %q", got)
	}
	e[envDynamicConfig] = "limit.maxIDLength: [not: [valid"
	if err := bootstrap(context.Background(), e, http.DefaultClient); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("want an invalid-config error, got %v", err)
	}
}

// TestDefaultDynamicConfig: the shipped default loads without errors or warnings and caps
// ids so that keys stay under DSQL's 1 KiB.
func TestDefaultDynamicConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "dynamicconfig", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res := dynamicconfig.LoadYamlFile(b)
	if len(res.Errors) > 0 || len(res.Warnings) > 0 {
		t.Fatalf("errors %v warnings %v", res.Errors, res.Warnings)
	}
}

// TestConfigTemplate renders the image's config template with Temporal's own loader.
func TestConfigTemplate(t *testing.T) {
	for k, v := range map[string]string{
		"DSQL_ENDPOINT": "abc.dsql.us-east-1.on.aws", "DSQL_REGION": "us-east-1", "DSQL_DATABASE_ROLE": "temporal_server",
		"DSQL_MAX_CONNS": "30", "OPENSEARCH_ENDPOINT": "https://vpc-x.us-east-1.es.amazonaws.com",
		"OPENSEARCH_VISIBILITY_INDEX": "temporal_visibility_v1_prod", "OPENSEARCH_AWS_SIGNING": "true",
		"NUM_HISTORY_SHARDS": "1024", "TEMPORAL_BROADCAST_ADDRESS": "10.0.0.9", "BIND_ON_IP": "0.0.0.0",
		"TEMPORAL_DYNAMIC_CONFIG_FILE": "/tmp/x.yaml", "LOG_LEVEL": "warn", "DSQL_PORT": "",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(config.WithConfigFile(filepath.Join("..", "..", "config", "config_template.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	sql := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL
	if sql == nil || sql.PluginName != "dsql" || sql.ConnectAddr != "abc.dsql.us-east-1.on.aws:5432" || sql.User != "temporal_server" ||
		sql.MaxConns != 30 || sql.MaxIdleConns != 30 || sql.ConnectAttributes["region"] != "us-east-1" || sql.TLS == nil || sql.TLS.ServerName != "abc.dsql.us-east-1.on.aws" {
		t.Fatalf("sql store: %+v", sql)
	}
	es := cfg.Persistence.DataStores[cfg.Persistence.VisibilityStore].Elasticsearch
	if es == nil || es.URL.Scheme != "https" || es.URL.Host != "vpc-x.us-east-1.es.amazonaws.com:443" || !es.AWSRequestSigning.Enabled ||
		es.AWSRequestSigning.Region != "us-east-1" || es.Indices["visibility"] != "temporal_visibility_v1_prod" {
		t.Fatalf("visibility store: %+v", es)
	}
	if cfg.Persistence.NumHistoryShards != 1024 || cfg.Global.Membership.BroadcastAddress != "10.0.0.9" ||
		cfg.Services["history"].RPC.BindOnIP != "0.0.0.0" || cfg.Global.Metrics.Prometheus.ListenAddress != "0.0.0.0:9090" ||
		cfg.DynamicConfigClient.Filepath != "/tmp/x.yaml" {
		t.Fatalf("config: shards %d broadcast %q", cfg.Persistence.NumHistoryShards, cfg.Global.Membership.BroadcastAddress)
	}
	if _, set := sql.ConnectAttributes["pipeline"]; set {
		t.Fatalf("pipeline set without DSQL_PIPELINE: %v", sql.ConnectAttributes)
	}
	if _, set := sql.ConnectAttributes["deferFence"]; set {
		t.Fatalf("deferFence set without DSQL_DEFER_FENCE: %v", sql.ConnectAttributes)
	}
	if _, set := sql.ConnectAttributes["deferExecutionCheck"]; set {
		t.Fatalf("deferExecutionCheck set without DSQL_DEFER_EXECUTION_CHECK: %v", sql.ConnectAttributes)
	}
	t.Setenv("DSQL_PIPELINE", "off")
	t.Setenv("DSQL_DEFER_FENCE", "off")
	t.Setenv("DSQL_DEFER_EXECUTION_CHECK", "off")
	cfg, err = config.Load(config.WithConfigFile(filepath.Join("..", "..", "config", "config_template.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL.ConnectAttributes["pipeline"]; got != "off" {
		t.Fatalf("DSQL_PIPELINE=off gave connectAttributes.pipeline %q", got)
	}
	if got := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL.ConnectAttributes["deferFence"]; got != "off" {
		t.Fatalf("DSQL_DEFER_FENCE=off gave connectAttributes.deferFence %q", got)
	}
	if got := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL.ConnectAttributes["deferExecutionCheck"]; got != "off" {
		t.Fatalf("DSQL_DEFER_EXECUTION_CHECK=off gave connectAttributes.deferExecutionCheck %q", got)
	}
	t.Setenv("DSQL_ENDPOINT", "")
	if _, err := config.Load(config.WithConfigFile(filepath.Join("..", "..", "config", "config_template.yaml"))); err == nil || !strings.Contains(err.Error(), "DSQL_ENDPOINT is required") {
		t.Fatalf("want a DSQL_ENDPOINT error, got %v", err)
	}
}
