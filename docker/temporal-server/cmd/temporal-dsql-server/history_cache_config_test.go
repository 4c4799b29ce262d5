package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/service/history/configs"
)

// historyConfigFrom loads dynamic config YAML the way the server does (upstream's file-based
// client and collection) and returns what the history service reads from it (upstream's
// configs.NewConfig, which the host-level mutable-state cache takes its limits from).
func historyConfigFrom(t *testing.T, yaml string) *configs.Config {
	t.Helper()
	f := filepath.Join(t.TempDir(), "dc.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan any)
	t.Cleanup(func() { close(done) })
	client, err := dynamicconfig.NewFileBasedClient(&dynamicconfig.FileBasedClientConfig{Filepath: f, PollInterval: time.Minute}, log.NewNoopLogger(), done)
	if err != nil {
		t.Fatal(err)
	}
	res := dynamicconfig.LoadYamlFile([]byte(yaml))
	if len(res.Errors) > 0 || len(res.Warnings) > 0 {
		t.Fatalf("errors %v warnings %v", res.Errors, res.Warnings)
	}
	return configs.NewConfig(dynamicconfig.NewCollection(client, log.NewNoopLogger()), 4)
}

// TestHistoryCacheDynamicConfig: the shipped default bounds history's host-level mutable-state
// cache by bytes (512 MiB), expires idle entries after 5 minutes and evicts them in the background,
// as read by upstream's history config; a byte cap above 2^31 (the large preset's 2 GiB, as the CDK
// app renders it) is read as is. Every value differs from upstream's default, so a misspelt key or
// field (which upstream ignores) fails here.
func TestHistoryCacheDynamicConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "dynamicconfig", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := dynamicconfig.CacheBackgroundEvictSettings{Enabled: true, LoopInterval: time.Minute, MaxEntryPerCall: 1024}
	for _, tc := range []struct {
		name  string
		yaml  string
		bytes int
	}{
		{"default.yaml", string(b), 512 << 20},
		{"large preset byte cap", strings.Replace(string(b), "value: 536870912", "value: 2147483648", 1), 2048 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := historyConfigFrom(t, tc.yaml)
			if !c.HistoryCacheLimitSizeBased {
				t.Error("history.cacheSizeBasedLimit: want true")
			}
			if got := c.HistoryHostLevelCacheMaxSizeBytes(); got != tc.bytes {
				t.Errorf("history.hostLevelCacheMaxSizeBytes: got %d, want %d", got, tc.bytes)
			}
			if got := c.HistoryCacheTTL(); got != 5*time.Minute {
				t.Errorf("history.cacheTTL: got %v, want 5m", got)
			}
			if got := c.HistoryCacheBackgroundEvict(); got != want {
				t.Errorf("history.cacheBackgroundEvict: got %+v, want %+v", got, want)
			}
		})
	}
}
