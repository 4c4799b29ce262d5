package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/headers"
)

// defaultDynamicConfig is the dynamic config the image ships and the CDK stack and local/ build on.
var defaultDynamicConfig = filepath.Join("..", "..", "config", "dynamicconfig", "default.yaml")

// dynamicConfigProblems loads YAML with upstream's own loader (the one the server's file-based
// client uses, with every setting of this binary registered, since this package links the whole
// server) and returns its errors and warnings. An unregistered key is only a warning upstream (the
// server starts and the value is silently ignored), so a key a new version renamed or dropped
// would quietly stop applying; here it is a failure.
func dynamicConfigProblems(contents []byte) []string {
	lr := dynamicconfig.LoadYamlFile(contents)
	var out []string
	for _, e := range append(lr.Errors, lr.Warnings...) {
		out = append(out, e.Error())
	}
	return out
}

// TestDefaultDynamicConfigKeysKnownUpstream: every key in default.yaml is registered in the
// pinned go.temporal.io/server and its values load without error.
func TestDefaultDynamicConfigKeysKnownUpstream(t *testing.T) {
	src, err := os.ReadFile(defaultDynamicConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dynamicConfigProblems(src) {
		t.Errorf("%s: %s (go.temporal.io/server %s does not accept it: rename or drop the key, see the upstream release notes)", defaultDynamicConfig, p, headers.ServerVersion)
	}
}

// TestDynamicConfigCheckNamesAnUnknownKey: a made-up key is reported by name.
func TestDynamicConfigCheckNamesAnUnknownKey(t *testing.T) {
	got := dynamicConfigProblems([]byte("history.noSuchSetting:\n  - value: 1\n"))
	if len(got) != 1 || !strings.Contains(got[0], `"history.nosuchsetting"`) {
		t.Fatalf("want the made-up key reported, got %q", got)
	}
	t.Log(got[0])
}
