#!/usr/bin/env bash
# The project's test command (`npm test`). Runs every suite, even after a failure, and ends
# with one summary line
#   tests: N passed, N failed, N skipped (jest N, go N of which upstream suites N)
#   - first, the test tools (scripts/setup-tests.sh; a failure there stops the run);
#   - TypeScript type check of the whole repository (a failure counts as one failed case);
#   - the layering rules of .dependency-cruiser.js: no import cycles, lambda/ imports nothing from lib/,
#     local/, bench/; lib/ nothing from local/, bench/, bin/; local/ nothing from bench/ (one case);
#   - jest (test/**): CDK assertions, snapshots, cdk-nag, cfn-lint, dsql-local conformance,
#     schema migrations and visibility index tests (suites start the servers they need);
#   - go test for each Go module listed in GO_MODULES below.
# Extra arguments are passed to jest (e.g. `npm test -- test/cdk`); with arguments, Go is skipped.
#
# What is counted: leaf cases only.
#   - jest: test cases (numPassedTests, numFailedTests, numPendingTests + numTodoTests), plus
#     one failure per suite that failed to run; the report is deleted before the run, so a
#     missing report (jest died) is a failure and never the previous run's numbers.
#   - go: `go test -json`, tests and subtests without subtests of their own (a parent that has
#     subtests is not a case; a parent that fails while all its subtests pass counts as one
#     failure; a package failing outside any test counts as one). scripts/go-test-summary.js.
#   - "upstream suites": the leaves under the top-level tests in UPSTREAM_SUITES, which run
#     Temporal's own exported persistence suites (go.temporal.io/server/common/persistence/
#     tests, persistence-tests, sql/sqlplugin/tests) on our plugin, on PostgreSQL and on
#     dsql-local (docker/temporal-server/persistencetest/suites_test.go and testbase_test.go).
#     They are identified by top-level test name within that package; a listed name that does
#     not run counts as a failure, so renaming one without updating this list is noticed.
#   - the parenthesis gives the cases run (passed + failed + skipped) per runner.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/test
# docker/temporal-server/go.mod needs a newer Go than the machine's (its go line): let the go
# command fetch that toolchain from the Go module proxy (the machine's go env says local).
export GOTOOLCHAIN=auto
t_start=$(date +%s)

# The test tools (PostgreSQL, OpenSearch, Chromium, Prometheus, Go builds, Python tools): installed
# here, not by scripts/setup.sh, so the main job (cdk synth/deploy) does not wait for them.
echo "== setup of the test tools (scripts/setup-tests.sh)"
if ! bash scripts/setup-tests.sh; then
  echo "setup of the test tools failed"; exit 1
fi
passed=0; failed=0; skipped=0; status=0; jest_n=0; go_n=0; upstream_n=0
UPSTREAM_SUITES='persistencetest:TestStoreSuites,TestPluginSuites,TestPersistenceTestsSuites'

echo "== tsc --noEmit"
if ! npx tsc --noEmit -p tsconfig.json; then
  echo "type check failed"; failed=$((failed + 1)); status=1
fi

echo "== dependency rules (dependency-cruiser, .dependency-cruiser.js)"
if ! npx depcruise --config .dependency-cruiser.js lib lambda local bench bin config test samples; then
  echo "dependency rules failed"; failed=$((failed + 1)); status=1
fi

# Go modules with tests (directories holding a go.mod). They run in the background while jest
# runs: most of both phases is waiting on servers (Temporal timers, dsql-local's latency model), the
# Go server e2e used ~105 s of CPU in 230 s of wall time, so running them one after the other left a
# core idle for ~200 s. Each module writes its exit code to .cache/test/<name>.rc; a missing one is
# a failure.
GO_MODULES=()
for m in docker/temporal-server docker/temporal-server/imagetest dsql-local; do
  [ -f "$m/go.mod" ] && GO_MODULES+=("$m")
done
go_pid=
if [ $# -eq 0 ]; then
  echo "== go test (${GO_MODULES[*]}) started in the background"
  (
    for m in "${GO_MODULES[@]}"; do
      name="go-$(echo "$m" | tr '/' '-')"
      json="$PWD/.cache/test/$name.json"
      rm -f "$json" "$PWD/.cache/test/$name.log" "$PWD/.cache/test/$name.rc"
      (cd "$m" && go test -count=1 -timeout 30m -json ./... > "$json" 2>&1)
      echo $? > "$PWD/.cache/test/$name.rc"
    done
  ) &
  go_pid=$!
fi

echo "== jest"
rm -f .cache/test/jest.json
npx jest --ci --json --outputFile=.cache/test/jest.json "$@"
[ $? -ne 0 ] && status=1
if [ -f .cache/test/jest.json ] && read -r p f s < <(node -e '
    const r = require("./.cache/test/jest.json");
    console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites || 0), r.numPendingTests + (r.numTodoTests || 0));'); then
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s)); jest_n=$((p + f + s))
else
  echo "jest wrote no report (.cache/test/jest.json): counted as one failure"
  failed=$((failed + 1)); status=1
fi

if [ -n "$go_pid" ]; then
  wait "$go_pid"
  for m in "${GO_MODULES[@]}"; do
    echo "== go test ($m)"
    name="go-$(echo "$m" | tr '/' '-')"
    json="$PWD/.cache/test/$name.json"; log="$PWD/.cache/test/$name.log"
    rc=$(cat "$PWD/.cache/test/$name.rc" 2>/dev/null || echo 255)
    [ "$rc" -ne 0 ] && status=1
    p=0; f=0; s=0; u=0
    if read -r p f s u < <(node scripts/go-test-summary.js "$json" "$log" "$UPSTREAM_SUITES"); then
      passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
      go_n=$((go_n + p + f + s)); upstream_n=$((upstream_n + u))
    else
      echo "could not read $json: counted as one failure"; failed=$((failed + 1)); f=1
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi # go failed, nothing counted
    echo "   (full output: $log)"
  done
fi

node scripts/slowest-suites.js .cache/test 10 || true
echo "   (whole run: $(( $(date +%s) - t_start )) s)"
[ "$failed" -gt 0 ] && status=1
echo "tests: $passed passed, $failed failed, $skipped skipped (jest $jest_n, go $go_n of which upstream suites $upstream_n)"
exit $status
