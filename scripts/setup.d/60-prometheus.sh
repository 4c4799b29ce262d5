#!/usr/bin/env bash
# Prometheus from Debian (issue 13): test/e2e/metrics.test.ts scrapes the local stack's server with a
# real Prometheus and checks every metric name and PromQL expression the platform ships
# (collector config, Temporal-metric alarms and widgets, docs/grafana/temporal-dsql.json).
# Idempotent; a no-op when the package is installed. Debian's package also installs a systemd
# service; the test runs its own instance on a loopback port and does not use that service.
set -euo pipefail
log() { printf '[setup:prometheus] %s\n' "$*"; }

if [ "${SETUP_SKIP_APT:-0}" = 1 ]; then exit 0; fi
if dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed'; then exit 0; fi
log 'apt-get install prometheus'
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
# policy-rc.d-free containers: the package's postinst may try to start the service; that failing is harmless.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v prometheus >/dev/null || { log 'prometheus not on PATH after install'; exit 1; }
