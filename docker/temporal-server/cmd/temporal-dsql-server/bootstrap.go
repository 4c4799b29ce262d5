package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
)

// Environment variables the bootstrap reads or sets (docs/server-container.md).
const (
	envBroadcast          = "TEMPORAL_BROADCAST_ADDRESS"
	envBindOnIP           = "BIND_ON_IP"
	envECSMetadata        = "ECS_CONTAINER_METADATA_URI_V4"
	envDynamicConfig      = "TEMPORAL_DYNAMIC_CONFIG"
	envDynamicConfigFile  = "TEMPORAL_DYNAMIC_CONFIG_FILE"
	envDefaultDynamicFile = "TEMPORAL_DEFAULT_DYNAMIC_CONFIG_FILE"

	defaultDynamicConfigFile  = "/tmp/temporal/dynamicconfig.yaml"
	defaultDynamicConfigInput = "/etc/temporal/dynamicconfig/default.yaml"
)

// env abstracts the process environment for tests.
type env interface {
	Getenv(string) string
	Setenv(string, string) error
}

type osEnv struct{}

func (osEnv) Getenv(k string) string   { return os.Getenv(k) }
func (osEnv) Setenv(k, v string) error { return os.Setenv(k, v) }

// bootstrap prepares the environment the config template reads, before the config loads:
//
//   - broadcast address: TEMPORAL_BROADCAST_ADDRESS if set; else, on ECS
//     (ECS_CONTAINER_METADATA_URI_V4 set), the task's IPv4 address from task metadata v4,
//     failing if it cannot be read (never 127.0.0.1 on ECS); else unset (local: 127.0.0.1).
//     With a broadcast address, BIND_ON_IP defaults to 0.0.0.0.
//   - dynamic config: TEMPORAL_DYNAMIC_CONFIG (YAML) or, when empty, the image's default
//     file is validated with Temporal's loader and written to TEMPORAL_DYNAMIC_CONFIG_FILE
//     (default /tmp/temporal/dynamicconfig.yaml), which the server watches.
func bootstrap(ctx context.Context, e env, client *http.Client) error {
	if e.Getenv(envBroadcast) == "" {
		if uri := e.Getenv(envECSMetadata); uri != "" {
			ip, err := ecsTaskIPv4(ctx, client, uri)
			if err != nil {
				return fmt.Errorf("running on ECS (%s is set) but the task's IPv4 address could not be read from task metadata v4: %w; refusing to broadcast 127.0.0.1 to the cluster (set %s to override)", envECSMetadata, err, envBroadcast)
			}
			if err := e.Setenv(envBroadcast, ip); err != nil {
				return err
			}
		}
	}
	if b := e.Getenv(envBroadcast); b != "" {
		if ip := net.ParseIP(b); ip == nil || ip.To4() == nil || ip.IsLoopback() && e.Getenv(envECSMetadata) != "" {
			return fmt.Errorf("%s=%q is not a usable IPv4 address for the membership ring", envBroadcast, b)
		}
		if e.Getenv(envBindOnIP) == "" {
			if err := e.Setenv(envBindOnIP, "0.0.0.0"); err != nil {
				return err
			}
		}
	}
	return writeDynamicConfig(e)
}

func writeDynamicConfig(e env) error {
	content := []byte(e.Getenv(envDynamicConfig))
	source := envDynamicConfig
	if len(content) == 0 {
		source = e.Getenv(envDefaultDynamicFile)
		if source == "" {
			source = defaultDynamicConfigInput
		}
		var err error
		content, err = os.ReadFile(source)
		if err != nil {
			return fmt.Errorf("%s is empty and the default dynamic config %s cannot be read: %w", envDynamicConfig, source, err)
		}
	}
	if res := dynamicconfig.LoadYamlFile(content); len(res.Errors) > 0 {
		return fmt.Errorf("dynamic config from %s is invalid: %v", source, errors.Join(res.Errors...))
	}
	path := e.Getenv(envDynamicConfigFile)
	if path == "" {
		path = defaultDynamicConfigFile
		if err := e.Setenv(envDynamicConfigFile, path); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the dynamic config directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return fmt.Errorf("writing the dynamic config %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ecsTask is the part of the ECS task metadata v4 response (GET $ECS_CONTAINER_METADATA_URI_V4/task) we read.
type ecsTask struct {
	Containers []struct {
		Networks []struct {
			IPv4Addresses []string `json:"IPv4Addresses"`
		} `json:"Networks"`
	} `json:"Containers"`
}

// ecsTaskIPv4 returns the task's first IPv4 address (awsvpc: the task ENI), retrying the
// metadata endpoint briefly (it can answer 5xx right after the task starts).
func ecsTaskIPv4(ctx context.Context, client *http.Client, uri string) (string, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		ip, err := fetchTaskIPv4(ctx, client, uri+"/task")
		if err == nil {
			return ip, nil
		}
		lastErr = err
	}
	return "", lastErr
}

func fetchTaskIPv4(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	var task ecsTask
	if err := json.NewDecoder(resp.Body).Decode(&task); err != nil {
		return "", fmt.Errorf("GET %s: decoding task metadata: %w", url, err)
	}
	for _, c := range task.Containers {
		for _, n := range c.Networks {
			for _, a := range n.IPv4Addresses {
				if ip := net.ParseIP(a); ip != nil && ip.To4() != nil && !ip.IsLoopback() {
					return a, nil
				}
			}
		}
	}
	return "", fmt.Errorf("GET %s: no non-loopback IPv4 address in the task metadata", url)
}
