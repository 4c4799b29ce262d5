#!/usr/bin/env bash
# Installs what the main job needs on a fresh machine: Node.js 24 (scripts/setup-node.sh) and the npm
# packages. That is all `cdk synth` and `cdk deploy` use. Idempotent, and quick when already installed.
# The test tools (PostgreSQL, OpenSearch, Chromium, Prometheus, the Go builds, the Python tools) are
# installed by the test command itself (scripts/setup-tests.sh, run by `npm test`).
#
# Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

bash scripts/setup-node.sh
hash -r

# --- npm ---------------------------------------------------------------------------------------
# Reinstalled when the lock file or Node's major version changes (native add-ons follow the ABI).
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node --version | cut -d. -f1)"
if [ ! -f node_modules/.setup-lock-hash ] || [ "$(cat node_modules/.setup-lock-hash)" != "$lock_hash" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.setup-lock-hash
fi
log "done"
