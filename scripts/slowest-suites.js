// Prints the slowest test suites of the last `npm test`: jest suites from .cache/test/jest.json and
// Go packages from .cache/test/go-*.json (`go test -json`), by wall time.
// usage: node scripts/slowest-suites.js <dir> [N]
const fs = require('fs');
const path = require('path');
const [dir, nArg] = process.argv.slice(2);
const n = Number(nArg || 10);
const rows = [];
try {
  const r = JSON.parse(fs.readFileSync(path.join(dir, 'jest.json'), 'utf8'));
  for (const t of r.testResults || []) {
    const s = (t.endTime - t.startTime) / 1000;
    if (Number.isFinite(s)) rows.push([s, `jest ${path.relative(process.cwd(), t.name)}`]);
  }
} catch { /* no jest report */ }
for (const f of fs.readdirSync(dir).filter((f) => /^go-.*\.json$/.test(f))) {
  for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let e;
    try { e = JSON.parse(line); } catch { continue; }
    if (!e.Test && (e.Action === 'pass' || e.Action === 'fail') && typeof e.Elapsed === 'number') rows.push([e.Elapsed, `go   ${e.Package}`]);
  }
}
rows.sort((a, b) => b[0] - a[0]);
console.log(`== slowest suites (wall time; jest runs suites in parallel)`);
for (const [s, name] of rows.slice(0, n)) console.log(`${s.toFixed(1).padStart(8)} s  ${name}`);
