#!/usr/bin/env node
/**
 * Reads the `go test -json` event stream of one Go module (argument 1), writes its text output
 * (what `go test -v` would have printed) to argument 2, prints the failing and skipped cases and
 * the package results to stderr, and prints one line "passed failed skipped upstream" to stdout.
 *
 * Counting rules (scripts/test.sh documents them too):
 *   - a case is a leaf: a test or subtest that has no subtests of its own; parents are not
 *     counted, so a failing leaf three levels deep is one failure, not four;
 *   - a parent that fails although none of its subtests failed (a t.Fatal after t.Run, a
 *     cleanup) counts as one failed case, and so does a leaf that started and never finished
 *     (a panic or a timeout);
 *   - a package that fails without any failed case (build error, TestMain, panic outside a
 *     test) counts as one failed case;
 *   - "upstream" counts the leaves under the top-level tests named in argument 3
 *     ("pkgSuffix:TestA,TestB;pkgSuffix2:TestC"): Temporal's own persistence suites. A listed
 *     test that does not appear in a package that ran counts as one failed case, so that a
 *     rename cannot silently move the upstream cases into our own count.
 */
'use strict';
const fs = require('fs');

const [jsonFile, logFile, upstreamSpec = ''] = process.argv.slice(2);
const upstream = upstreamSpec.split(';').filter(Boolean).map((part) => {
  const [pkgSuffix, names] = part.split(':');
  return { pkgSuffix, names: names.split(',').filter(Boolean) };
});

const lines = fs.existsSync(jsonFile) ? fs.readFileSync(jsonFile, 'utf8').split('\n') : [];
const out = [];
/** package -> { result, tests: Map<name, 'run'|'pass'|'fail'|'skip'> } */
const pkgs = new Map();
const pkg = (name) => {
  if (!pkgs.has(name)) pkgs.set(name, { result: undefined, tests: new Map() });
  return pkgs.get(name);
};
for (const line of lines) {
  if (!line.trim()) continue;
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    out.push(line); // not an event (e.g. a message printed by the go command itself)
    continue;
  }
  if (e.Output !== undefined) out.push(e.Output.replace(/\n$/, ''));
  const name = e.Package; // build-output/build-fail events carry ImportPath only; the package's own fail event follows
  if (!name) continue;
  const p = pkg(name);
  if (!['run', 'pass', 'fail', 'skip'].includes(e.Action)) continue;
  if (e.Test === undefined) {
    if (e.Action !== 'run') p.result = e.Action;
  } else if (e.Action === 'run') {
    if (!p.tests.has(e.Test)) p.tests.set(e.Test, 'run');
  } else {
    p.tests.set(e.Test, e.Action);
  }
}
fs.writeFileSync(logFile, out.join('\n') + '\n');

let passed = 0, failed = 0, skipped = 0, up = 0;
const report = [];
for (const [name, p] of pkgs) {
  const names = [...p.tests.keys()];
  const hasChildren = (t) => names.some((n) => n.startsWith(t + '/'));
  const failingChild = (t) => names.some((n) => n.startsWith(t + '/') && p.tests.get(n) !== 'pass' && p.tests.get(n) !== 'skip');
  const spec = upstream.find((u) => name === u.pkgSuffix || name.endsWith('/' + u.pkgSuffix));
  let pkgFailed = 0;
  for (const [t, state] of p.tests) {
    const leaf = !hasChildren(t);
    if (!leaf && !(state !== 'pass' && state !== 'skip' && !failingChild(t))) continue;
    if (state === 'pass') passed++;
    else if (state === 'skip') { skipped++; report.push(`    --- SKIP: ${t} (${name})`); }
    else { failed++; pkgFailed++; report.push(`    --- FAIL: ${t} (${name})${state === 'run' ? ' (never finished)' : ''}`); }
    if (spec && spec.names.includes(t.split('/')[0])) up++;
  }
  if (spec && p.tests.size > 0) {
    for (const top of spec.names) {
      if (!p.tests.has(top)) {
        failed++; pkgFailed++;
        report.push(`    --- FAIL: upstream suite ${top} did not run in ${name}: update UPSTREAM_SUITES in scripts/test.sh`);
      }
    }
  }
  if (p.result === 'fail' && pkgFailed === 0) { failed++; report.push(`    --- FAIL: package ${name} failed outside any test (see the log)`); }
  report.push(`${p.result === 'fail' ? 'FAIL' : p.result === 'pass' ? 'ok  ' : '?   '}\t${name}`);
}
if (lines.filter((l) => l.trim()).length === 0) { failed++; report.push('FAIL\tno go test output'); }
process.stderr.write(report.join('\n') + '\n');
console.log(passed, failed, skipped, up);
