#!/usr/bin/env bash
# `npm run test:quick`: the checks a CDK-only change needs, in about two minutes: the type check, the
# layering rules, and the CDK suites (template assertions, snapshots, cdk-nag, cfn-lint, config errors).
# Servers, end-to-end suites and Go tests run only in `npm test`. Extra arguments go to jest.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
[ -x .venv/bin/cfn-lint ] || bash scripts/setup-tests.sh || exit 1
echo "== tsc --noEmit"; npx tsc --noEmit -p tsconfig.json || status=1
echo "== dependency rules"; npx depcruise --config .dependency-cruiser.js lib lambda local bench bin config test samples || status=1
echo "== jest test/cdk test/certificates"; npx jest --ci test/cdk test/certificates "$@" || status=1
exit $status
