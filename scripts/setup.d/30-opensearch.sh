#!/usr/bin/env bash
# Builds opensearch-local/ (a real OpenSearch 2.19 node for tests, from Maven Central artifacts):
# fetches the jars with Maven into ~/.m2, unpacks the security plugin's release zip into
# target/security-plugin (test/support/opensearch-secured.ts) and compiles the launcher. Idempotent; a no-op (well under
# a second) when the pom and sources are unchanged and every jar on the classpath is present.
# Needs Java 17 and Maven; installs them from Debian when missing (skip with SETUP_SKIP_APT=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=opensearch-local
log() { printf '[setup:opensearch] %s\n' "$*"; }

if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  if [ "${SETUP_SKIP_APT:-0}" = 1 ]; then
    echo "java and mvn are required for $DIR (apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
  log "apt-get install openjdk-17-jdk-headless maven"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless maven >/dev/null
fi

stamp_file="$DIR/target/.setup-stamp"
stamp=$( (cat "$DIR/pom.xml"; find "$DIR/src" -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -d' ' -f1)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -f "$DIR/target/classpath.txt" ] \
  && [ -f "$DIR/target/security-plugin/plugin-descriptor.properties" ]; then
  all_present=1
  IFS=: read -r -a jars < "$DIR/target/classpath.txt" || true  # no trailing newline
  for j in "${jars[@]}"; do [ -f "$j" ] || { all_present=0; break; }; done
  if [ "$all_present" = 1 ]; then
    log "up to date"
    exit 0
  fi
fi

log "mvn package (downloads OpenSearch artifacts from Maven Central on first run)"
mvn -q -B -f "$DIR/pom.xml" package
echo "$stamp" > "$stamp_file"
log "built $DIR ($(tr ':' '\n' < "$DIR/target/classpath.txt" | wc -l) jars)"
