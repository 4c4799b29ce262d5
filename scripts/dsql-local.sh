#!/usr/bin/env bash
# dsql-local for humans: a local endpoint that behaves like an Aurora DSQL cluster.
#
#   bash scripts/dsql-local.sh build            # build .cache/bin/dsql-local (incremental)
#   bash scripts/dsql-local.sh start [flags]    # start in the background; prints endpoint, CA, credentials
#   bash scripts/dsql-local.sh status           # prints the same again, if running
#   bash scripts/dsql-local.sh stop             # stops it and its PostgreSQL
#   bash scripts/dsql-local.sh token [user] [principal]   # prints a fresh IAM token (default admin)
#   bash scripts/dsql-local.sh psql [user] [principal]    # opens psql on the running endpoint
#
# State lives in .local/dsql-local/ (PostgreSQL data kept across restarts; delete the directory
# for a fresh cluster). Extra flags go to the binary (see `.cache/bin/dsql-local --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.cache/bin/dsql-local"
STATE="$ROOT/.local/dsql-local"

build() {
  mkdir -p "$ROOT/.cache/bin"
  (cd "$ROOT/dsql-local" && flock "$ROOT/.cache/dsql-local-build.lock" go build -o "$BIN" .)
}

running() { [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }

show() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`endpoint:     ${r.host}:${r.port}  (TLS server name / token host: ${r.hostname}, region ${r.region})`);
    console.log(`CA file:      ${r.caFile}`);
    console.log(`control API:  ${r.controlUrl}`);
    console.log(`PostgreSQL:   ${r.pgData}`);
    console.log("test credentials (fake; sign DSQL tokens with them):");
    for (const c of r.credentials) console.log(`  ${c.principalArn}${c.admin ? " (DbConnectAdmin)" : ""}\n    AWS_ACCESS_KEY_ID=${c.accessKeyId} AWS_SECRET_ACCESS_KEY=${c.secretAccessKey}`);
    console.log("\npsql:  bash scripts/dsql-local.sh psql [user] [principal]");
    console.log(`  (= PGPASSWORD="$(bash scripts/dsql-local.sh token)" psql "host=${r.hostname} hostaddr=${r.host} port=${r.port} user=admin dbname=postgres sslmode=verify-full sslrootcert=${r.caFile}")`);
  ' "$STATE/ready.json"
}

token() {
  node -e '
    const { DsqlSigner } = require("@aws-sdk/dsql-signer");
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const user = process.argv[2] || "admin";
    const want = process.argv[3] || (user === "admin" ? "admin" : "temporal-server");
    const c = r.credentials.find((x) => x.principalArn === want || x.principalArn.endsWith(":role/" + want));
    if (!c) { console.error("unknown principal " + want); process.exit(2); }
    const s = new DsqlSigner({ hostname: r.hostname, region: r.region, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } });
    (user === "admin" ? s.getDbConnectAdminAuthToken() : s.getDbConnectAuthToken()).then((t) => console.log(t));
  ' "$STATE/ready.json" "${1:-admin}" "${2:-}"
}

case "${1:-}" in
  build) build ;;
  start)
    shift
    if running; then echo "dsql-local is already running (pid $(cat "$STATE/pid"))"; show; exit 0; fi
    build
    mkdir -p "$STATE"
    rm -f "$STATE/ready.json"
    nohup "$BIN" --pg-data "$STATE/pgdata" --cert-dir "$STATE/certs" "$@" > "$STATE/ready.json.tmp" 2> "$STATE/dsql-local.log" < /dev/null &
    echo $! > "$STATE/pid"
    for _ in $(seq 1 900); do
      if [ -s "$STATE/ready.json.tmp" ]; then head -n1 "$STATE/ready.json.tmp" > "$STATE/ready.json"; break; fi
      if ! running; then echo "dsql-local failed to start:" >&2; cat "$STATE/dsql-local.log" >&2; exit 1; fi
      sleep 0.1
    done
    [ -s "$STATE/ready.json" ] || { echo "dsql-local did not become ready in 90 s" >&2; exit 1; }
    show ;;
  status)
    if running; then echo "dsql-local is running (pid $(cat "$STATE/pid"))"; show; else echo "dsql-local is not running"; exit 3; fi ;;
  stop)
    if running; then
      pid=$(cat "$STATE/pid"); kill -TERM "$pid"
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "dsql-local stopped"
    else echo "dsql-local is not running"; fi
    rm -f "$STATE/pid" ;;
  token)
    running || { echo "dsql-local is not running" >&2; exit 3; }
    token "${2:-admin}" "${3:-}" ;;
  psql)
    running || { echo "dsql-local is not running" >&2; exit 3; }
    user="${2:-admin}"
    conn=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      console.log(`host=${r.hostname} hostaddr=${r.host} port=${r.port} dbname=postgres sslmode=verify-full sslrootcert=${r.caFile}`)' "$STATE/ready.json")
    PGPASSWORD="$(token "$user" "${3:-}")" exec psql "$conn user=$user" ;;
  *) echo "usage: bash scripts/dsql-local.sh build|start [flags]|status|stop|token [user] [principal]|psql [user] [principal]" >&2; exit 2 ;;
esac
