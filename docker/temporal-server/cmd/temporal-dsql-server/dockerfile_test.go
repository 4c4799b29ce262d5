package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDockerfileLint runs hadolint (installed into .venv by scripts/setup.d/40-temporal-server.sh)
// on the image's Dockerfile; any finding fails the test.
func TestDockerfileLint(t *testing.T) {
	bin := filepath.Join("..", "..", "..", "..", ".venv", "bin", "hadolint")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("hadolint not installed at %s: run bash scripts/setup.sh", bin)
	}
	out, err := exec.Command(bin, "--no-color", filepath.Join("..", "..", "Dockerfile")).CombinedOutput()
	if err != nil {
		t.Fatalf("hadolint: %v\n%s", err, out)
	}
}
