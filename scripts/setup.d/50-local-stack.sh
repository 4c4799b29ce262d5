#!/usr/bin/env bash
# Local stack (issue 7): what `npm run local`, the samples, test/e2e and bench/ need beyond the
# common setup. Idempotent; takes well under a second when everything is in place.
#   - Chromium from Debian (chromium, chromium-driver) for headless UI screenshots. playwright-core
#     drives it; no tool may download a browser of its own.
#   - The Temporal UI server (local/ui-server, Go module importing github.com/temporalio/ui-server/v2
#     with the UI embedded) built into .cache/bin/temporal-ui-server, rebuilt when its sources change.
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { printf '[setup:local-stack] %s\n' "$*"; }

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ "${SETUP_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# UI server: rebuild only when go.mod, go.sum or the Go sources changed.
bin=.cache/bin/temporal-ui-server
stamp=.cache/bin/.temporal-ui-server.hash
hash=$(cat local/ui-server/go.mod local/ui-server/go.sum local/ui-server/*.go | sha256sum | cut -d' ' -f1)
if [ ! -x "$bin" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  log "go build local/ui-server -> $bin"
  mkdir -p .cache/bin
  (cd local/ui-server && go mod download && go build -trimpath -o "../../$bin" .)
  echo "$hash" > "$stamp"
fi
