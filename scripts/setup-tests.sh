#!/usr/bin/env bash
# Installs what the tests need beyond the main job's setup (scripts/setup.sh): Debian packages
# (PostgreSQL 15 behind dsql-local, openssl, python3-venv), the Python test tools (.venv, and .venv-checkov for checkov), and each
# component's own installer in scripts/setup.d/ (dsql-local, OpenSearch from Maven Central, the Go
# builds of our server and the UI server, Chromium, Prometheus, the test collector). Run by
# `npm test` (scripts/test.sh) before the suites; idempotent, and quick when already installed.
#
# Usage: bash scripts/setup-tests.sh            # everything
#        SETUP_SKIP_APT=1 bash scripts/setup-tests.sh   # skip apt-get (machines without root)
set -euo pipefail
cd "$(dirname "$0")/.."
# docker/temporal-server/go.mod needs a newer Go than the machine's (its go line): let the go
# command fetch that toolchain from the Go module proxy (the machine's go env says local).
export GOTOOLCHAIN=auto
ROOT=$(pwd)

log() { printf '[setup] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
# postgresql-15: the real database behind dsql-local. postgresql-contrib: pg_stat_statements
# for the benchmarks. openssl: dsql-local's self-signed certificates. bubblewrap: the read-only
# sandbox of test/e2e/read-only.test.ts (local/read-only.ts).
APT_PACKAGES=(postgresql-15 postgresql-contrib openssl python3-venv bubblewrap)
if [ "${SETUP_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# --- Python tools (cfn-lint, moto, checkov) --------------------------------------------------------------------
req_hash=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -f .venv/.setup-req-hash ] || [ "$(cat .venv/.setup-req-hash)" != "$req_hash" ]; then
  log "pip install -r requirements-dev.txt into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$req_hash" > .venv/.setup-req-hash
fi
# checkov in a venv of its own (its pinned boto3/packaging would downgrade moto's; see the file).
ckv_hash=$(sha256sum requirements-checkov.txt | cut -d' ' -f1)
if [ ! -f .venv-checkov/.setup-req-hash ] || [ "$(cat .venv-checkov/.setup-req-hash)" != "$ckv_hash" ]; then
  log "pip install -r requirements-checkov.txt into .venv-checkov"
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
  echo "$ckv_hash" > .venv-checkov/.setup-req-hash
fi

# --- Per-component installers (Maven artifacts, Go modules, ...) --------------------------------
# Each component that needs more than the above ships scripts/setup.d/<name>.sh, run in order.
if [ -d scripts/setup.d ]; then
  for f in scripts/setup.d/*.sh; do
    [ -e "$f" ] || continue
    log "$(basename "$f")"
    bash "$f"
  done
fi
log "test tools ready"
