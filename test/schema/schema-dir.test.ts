/**
 * Reading versioned schema directories: statement splitting, classification, refusals and
 * manifest validation, each error naming the file, the field or line, and what is allowed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { classifyStatement, compareVersions, hashDirectory, loadVersionedSchema, splitStatements } from '../../lambda/dsql/schema/schema-dir';
import { FIXTURES_DIR } from './helpers';

function tempSchema(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-dir-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
const manifest = (v: string, files = ['s.sql'], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ CurrVersion: v, MinCompatibleVersion: '1.0', Description: 'd', SchemaUpdateCqlFiles: files, ...extra });

test('fixtures load: versions sorted, statements classified, index names and tables parsed', () => {
  const s = loadVersionedSchema(FIXTURES_DIR);
  expect(s.versions.map((v) => v.version)).toEqual(['1.0', '1.1', '1.2']);
  expect(s.latestVersion).toBe('1.2');
  expect(s.versions[0].statements.map((x) => x.kind)).toEqual(['ddl', 'async-index', 'ddl', 'dml', 'ddl', 'async-index']);
  expect(s.versions[0].statements[1]).toMatchObject({ indexName: 'namespaces_name_idx', tableName: 'namespaces', file: 'schema.sql', line: 11 });
  expect(s.versions[1].statements.map((x) => x.file)).toEqual(['add_columns.sql', 'task_queues.sql', 'task_queues.sql', 'task_queues.sql', 'task_queues.sql']);
  expect(s.contentHash).toBe(hashDirectory(FIXTURES_DIR));
  expect(s.contentHash).toMatch(/^[0-9a-f]{64}$/);
});

test('versions compare numerically', () => {
  expect(compareVersions('1.10', '1.9')).toBeGreaterThan(0);
  expect(compareVersions('2.0', '10.0')).toBeLessThan(0);
  expect(compareVersions('1.2', '1.2')).toBe(0);
  expect(() => compareVersions('1', '1.0')).toThrow('version must look like "<major>.<minor>" (for example "1.0"), got "1"');
});

test('statements end at ";" at the end of a line; comments and blank lines are skipped', () => {
  expect(splitStatements('-- c\nCREATE TABLE a (\n  x INT -- note; not an end\n);\n\nINSERT INTO a VALUES (1);\n', 'f.sql'))
    .toEqual([{ sql: 'CREATE TABLE a (\n  x INT -- note; not an end\n)', line: 2 }, { sql: 'INSERT INTO a VALUES (1)', line: 6 }]);
  expect(() => splitStatements('CREATE TABLE a (x INT);\nCREATE TABLE b (x INT)\n', 'f.sql')).toThrow('f.sql:2: statement does not end with ";" at the end of a line');
});

test.each([
  ['DROP TABLE executions', /destructive statements \(DROP, TRUNCATE\) are not allowed/],
  ['TRUNCATE tasks', /destructive statements/],
  ['ALTER TABLE tasks DROP COLUMN data', /destructive statements/],
  ['CREATE INDEX i ON t (a)', /DSQL refuses synchronous CREATE INDEX; write CREATE \[UNIQUE\] INDEX ASYNC IF NOT EXISTS/],
  ['CREATE UNIQUE INDEX ASYNC i ON t (a)', /CREATE INDEX ASYNC must say IF NOT EXISTS/],
  // upstream main's step that widens workflow_id: DSQL cannot change a column's type.
  ['ALTER TABLE executions ALTER COLUMN workflow_id TYPE VARCHAR(1000)', /DSQL refuses ALTER COLUMN \.\.\. TYPE \(a column's type cannot change\); add a new column or table and move the data: see docs\/upgrades\.md/],
  ['ALTER TABLE executions ALTER workflow_id SET DATA TYPE TEXT', /DSQL refuses ALTER COLUMN \.\.\. TYPE/],
])('refused: %s', (sql, message) => {
  expect(() => classifyStatement(sql, 'v1.0/s.sql:3')).toThrow(message);
  expect(() => classifyStatement(sql, 'v1.0/s.sql:3')).toThrow(/^v1\.0\/s\.sql:3: /);
});

test('classification of accepted statements', () => {
  expect(classifyStatement('CREATE UNIQUE INDEX ASYNC IF NOT EXISTS "Idx" ON public.tasks (a) INCLUDE (b)', 'x')).toEqual({ kind: 'async-index', indexName: 'Idx', tableName: 'tasks' });
  expect(classifyStatement('INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING', 'x')).toEqual({ kind: 'dml' });
  expect(classifyStatement('ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT', 'x')).toEqual({ kind: 'ddl' });
});

test.each([
  ['v1.0/manifest.json missing', { 'v1.0/s.sql': 'SELECT 1;\n' }, /v1\.0\/manifest\.json: missing/],
  ['bad JSON', { 'v1.0/manifest.json': '{', 'v1.0/s.sql': '' }, /manifest\.json: not valid JSON/],
  ['CurrVersion differs from the directory', { 'v1.0/manifest.json': manifest('1.1'), 'v1.0/s.sql': '' }, /field CurrVersion must be "1\.0" \(the directory name without "v"\), got "1\.1"/],
  ['MinCompatibleVersion above CurrVersion', { 'v1.0/manifest.json': manifest('1.0', ['s.sql'], { MinCompatibleVersion: '2.0' }), 'v1.0/s.sql': '' }, /field MinCompatibleVersion must be a "<major>\.<minor>" string not above CurrVersion, got "2\.0"/],
  ['file outside the version', { 'v1.0/manifest.json': manifest('1.0', ['../x.sql']) }, /field SchemaUpdateCqlFiles must be a non-empty list of file names inside the version directory/],
  ['listed file missing', { 'v1.0/manifest.json': manifest('1.0', ['nope.sql']) }, /SchemaUpdateCqlFiles lists "nope\.sql", which does not exist/],
  ['bad directory name', { 'version1/manifest.json': manifest('1.0') }, /must be named v<major>\.<minor>/],
  ['no version at all', { 'README.md': 'x' }, /holds no v<major>\.<minor> version directory/],
])('bad directory: %s', (_name, files, message) => {
  const dir = tempSchema(files as Record<string, string>);
  try {
    expect(() => loadVersionedSchema(dir)).toThrow(message);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the content hash ignores location and timestamps but not content', () => {
  const a = tempSchema({ 'v1.0/manifest.json': manifest('1.0'), 'v1.0/s.sql': 'CREATE TABLE a (x INT PRIMARY KEY);\n' });
  const b = tempSchema({ 'v1.0/manifest.json': manifest('1.0'), 'v1.0/s.sql': 'CREATE TABLE a (x INT PRIMARY KEY);\n' });
  try {
    fs.utimesSync(path.join(b, 'v1.0', 's.sql'), new Date(0), new Date(0));
    expect(hashDirectory(a)).toBe(hashDirectory(b));
    fs.appendFileSync(path.join(b, 'v1.0', 's.sql'), '\n');
    expect(hashDirectory(a)).not.toBe(hashDirectory(b));
  } finally {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  }
});
