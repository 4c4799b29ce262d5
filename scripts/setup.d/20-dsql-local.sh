#!/usr/bin/env bash
# dsql-local (the local Aurora DSQL endpoint): downloads its Go modules and builds the binary into
# .cache/bin/dsql-local. Idempotent; fast when already done (go's module and build caches).
# Needs: go (>= 1.26), a C compiler (pg_query_go uses cgo), postgresql-15 (apt, in setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v go >/dev/null; then
  echo "[setup] 20-dsql-local: go is not installed; install Go 1.26+ first" >&2
  exit 1
fi
# pg_query_go (PostgreSQL's parser) is compiled with cgo.
if ! command -v gcc >/dev/null && [ "${SETUP_SKIP_APT:-0}" != 1 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  echo "[setup] 20-dsql-local: PostgreSQL 15 binaries missing (/usr/lib/postgresql/15/bin); install postgresql-15" >&2
  exit 1
fi
(cd dsql-local && go mod download)
bash scripts/dsql-local.sh build
