#!/usr/bin/env bash
# Local stack (issue 7): what `npm run local`, the samples, test/e2e and bench/ need beyond the
# common setup. Idempotent; takes well under a second when everything is in place.
#   - Chromium from Debian (chromium, chromium-driver) for headless UI screenshots. playwright-core
#     drives it; no tool may download a browser of its own.
#   - The Temporal UI server (local/ui-server, Go module importing github.com/temporalio/ui-server/v2
#     with the UI embedded) built into .cache/bin/temporal-ui-server, rebuilt when its sources change.
#   - Our Temporal DSQL server (docker/temporal-server) built into .cache/bin/temporal-dsql-server,
#     the binary the local stack runs, so that its first build (minutes on 2 cores) happens here and
#     not inside a test's time limit. The stack rebuilds it incrementally when the sources change.
#   - The same server built against the previous upstream pin (docker/temporal-server/upgrade/
#     <version>.mod, `go build -modfile`) into .cache/bin/temporal-dsql-server-<version>: the old
#     binary of the upgrade rehearsal (test/upgrade). Same path and flags as local/build.ts
#     buildPreviousTemporalServer().
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
  (cd local/ui-server && go mod download && go build -o "../../$bin" .)
  echo "$hash" > "$stamp"
fi

# Our server: same path and flags as local/build.ts buildTemporalServer().
bin=.cache/bin/temporal-dsql-server
stamp=.cache/bin/.temporal-dsql-server.hash
hash=$(find docker/temporal-server -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
if [ ! -x "$bin" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  log "go build docker/temporal-server/cmd/temporal-dsql-server -> $bin"
  (cd docker/temporal-server && go build -o "../../$bin" ./cmd/temporal-dsql-server)
  echo "$hash" > "$stamp"
fi

# The previous upstream pin's build (upgrade rehearsal): one .mod/.sum pair in docker/temporal-server/upgrade.
for mod in docker/temporal-server/upgrade/*.mod; do
  [ -f "$mod" ] || continue
  version=$(basename "$mod" .mod)
  bin=.cache/bin/temporal-dsql-server-$version
  stamp=.cache/bin/.temporal-dsql-server-$version.hash
  hash=$( (find docker/temporal-server -name '*.go' | LC_ALL=C sort | xargs cat; cat "$mod" "${mod%.mod}.sum") | sha256sum | cut -d' ' -f1)
  if [ ! -x "$bin" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
    # Build tag upstream_v<major>_<minor> selects the few files that differ between upstream
    # versions (e.g. dsql/currentcheck_first_run_v131.go); local/build.ts sets the same tag.
    tag=$(echo "$version" | sed -E 's/^v([0-9]+)\.([0-9]+)\..*/upstream_v\1_\2/')
    log "go build -modfile=upgrade/$version.mod -tags $tag docker/temporal-server/cmd/temporal-dsql-server -> $bin"
    (cd docker/temporal-server && go build -modfile="upgrade/$version.mod" -tags "$tag" -o "../../$bin" ./cmd/temporal-dsql-server)
    echo "$hash" > "$stamp"
  fi
done
