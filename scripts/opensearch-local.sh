#!/usr/bin/env bash
# A real OpenSearch 2.19 node on 127.0.0.1 for local work (tests start their own node through
# test/support/opensearch-local.ts instead).
#
#   bash scripts/opensearch-local.sh start   # prints the URL; data in .local/opensearch/
#   bash scripts/opensearch-local.sh status
#   bash scripts/opensearch-local.sh stop    # stops the node; data is kept (rm -rf .local/opensearch to reset)
#
# Environment: OPENSEARCH_PORT (default 0 = a free port chosen by the OS), OPENSEARCH_HEAP_MB (512).
# Build first: bash scripts/setup.d/30-opensearch.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=opensearch-local
HOME_DIR=.local/opensearch
PID_FILE=$HOME_DIR/node.pid

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then
      echo "already running: http://127.0.0.1:$(cat "$HOME_DIR/http.port") (pid $(cat "$PID_FILE"))"
      exit 0
    fi
    if [ ! -f "$DIR/target/classpath.txt" ]; then
      echo "$DIR is not built: run bash scripts/setup.d/30-opensearch.sh" >&2
      exit 1
    fi
    mkdir -p "$HOME_DIR"
    rm -f "$HOME_DIR/http.port"
    heap=${OPENSEARCH_HEAP_MB:-512}
    started=$(date +%s%N)
    nohup java "-Xms${heap}m" "-Xmx${heap}m" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dopensearch.local.ignoreStdin=true \
      -cp "$DIR/target/classes:$(cat "$DIR/target/classpath.txt")" \
      org.opensearch.node.LocalOpenSearchNode "$PWD/$HOME_DIR" "${OPENSEARCH_PORT:-0}" \
      > "$HOME_DIR/node.log" 2>&1 < /dev/null &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 360); do
      if [ -f "$HOME_DIR/http.port" ]; then
        echo "http://127.0.0.1:$(cat "$HOME_DIR/http.port") (pid $(cat "$PID_FILE"), started in $(( ($(date +%s%N) - started) / 1000000 )) ms, log $HOME_DIR/node.log)"
        exit 0
      fi
      if ! running; then
        echo "OpenSearch exited; last log lines:" >&2
        tail -n 30 "$HOME_DIR/node.log" >&2
        exit 1
      fi
      sleep 0.25
    done
    echo "OpenSearch did not start within 90 s; see $HOME_DIR/node.log" >&2
    exit 1
    ;;
  stop)
    if running; then
      pid=$(cat "$PID_FILE")
      kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      echo "stopped (pid $pid)"
    else
      echo "not running"
    fi
    rm -f "$PID_FILE" "$HOME_DIR/http.port"
    ;;
  status)
    if running; then echo "running: http://127.0.0.1:$(cat "$HOME_DIR/http.port") (pid $(cat "$PID_FILE"))"; else echo "not running"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
