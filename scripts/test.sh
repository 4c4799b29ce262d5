#!/usr/bin/env bash
# The project's test command (`npm test`). Runs every suite, even after a failure, and ends
# with one summary line "tests: N passed, N failed, N skipped".
#   - TypeScript type check of the whole repository;
#   - jest (test/**): CDK assertions, snapshots, cdk-nag, cfn-lint, dsql-local conformance,
#     schema migrations and visibility index tests (suites start the servers they need);
#   - go test for each Go module listed in GO_MODULES below.
# Extra arguments are passed to jest (e.g. `npm test -- test/cdk`); with arguments, Go is skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/test
passed=0; failed=0; skipped=0; status=0

echo "== tsc --noEmit"
if ! npx tsc --noEmit -p tsconfig.json; then
  echo "type check failed"; failed=$((failed + 1)); status=1
fi

echo "== jest"
npx jest --ci --json --outputFile=.cache/test/jest.json "$@"
[ $? -ne 0 ] && status=1
if [ -f .cache/test/jest.json ]; then
  read -r p f s < <(node -e '
    const r = require("./.cache/test/jest.json");
    console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites || 0), r.numPendingTests + (r.numTodoTests || 0));')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
else
  failed=$((failed + 1))
fi

# Go modules with tests (directories holding a go.mod).
GO_MODULES=()
for m in docker/temporal-server dsql-local; do
  [ -f "$m/go.mod" ] && GO_MODULES+=("$m")
done
if [ $# -eq 0 ]; then
  for m in "${GO_MODULES[@]}"; do
    echo "== go test ($m)"
    out="$PWD/.cache/test/go-$(echo "$m" | tr '/' '-').log"
    (cd "$m" && go test -count=1 -timeout 30m -v ./... > "$out" 2>&1); rc=$?
    grep -E '^\s*--- (FAIL|SKIP)|^(ok|FAIL|panic)' "$out" || true
    [ $rc -ne 0 ] && status=1
    # Count top-level and sub-tests alike: every "--- PASS/FAIL/SKIP" line is one case.
    p=$(grep -cE '^\s*--- PASS' "$out"); f=$(grep -cE '^\s*--- FAIL' "$out"); s=$(grep -cE '^\s*--- SKIP' "$out")
    if grep -qE '^(FAIL|panic:)' "$out" && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  done
fi

[ "$failed" -gt 0 ] && status=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
