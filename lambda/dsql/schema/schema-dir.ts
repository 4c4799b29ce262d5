/**
 * Reading a versioned DSQL schema directory in Temporal's layout:
 *
 *   <dir>/v1.0/manifest.json  {"CurrVersion": "1.0", "MinCompatibleVersion": "1.0",
 *                              "Description": "...", "SchemaUpdateCqlFiles": ["schema.sql"]}
 *   <dir>/v1.0/schema.sql
 *   <dir>/v1.1/manifest.json ...
 *
 * SQL files follow Temporal's own rule (tools/common/schema, `ParseFile`): a statement ends with `;`
 * at the end of a line, `--` starts a comment line, and no `;` appears inside a literal.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** A `major.minor` version as written in a manifest (`"1.10"`). */
export type SchemaVersionString = string;

/** Kind of one statement, which decides how the runner executes it. */
export type StatementKind = 'ddl' | 'dml' | 'async-index';

/** One statement of a version, in file order. */
export interface SchemaStatement {
  /** 0-based position in the version (across all its files, in manifest order). */
  readonly index: number;
  /** File the statement comes from, relative to the version directory. */
  readonly file: string;
  /** 1-based line of the statement's first line in that file. */
  readonly line: number;
  /** Statement text without the trailing `;`. */
  readonly sql: string;
  /** SHA-256 (hex) of `sql`; recorded with progress so that an edited statement is noticed. */
  readonly sha256: string;
  readonly kind: StatementKind;
  /** For `async-index`: the index name (required, DSQL cannot qualify it with a schema). */
  readonly indexName?: string;
  /** For `async-index`: the table the index is built on (lower-case, unquoted). */
  readonly tableName?: string;
}

/** One `vX.Y` directory. */
export interface SchemaVersionDir {
  readonly version: SchemaVersionString;
  readonly minCompatibleVersion: SchemaVersionString;
  readonly description: string;
  /** MD5 (hex) of manifest.json, stored in `schema_update_history.manifest_md5` like Temporal's tool. */
  readonly manifestMd5: string;
  readonly statements: readonly SchemaStatement[];
}

/** A whole versioned schema directory, versions sorted ascending. */
export interface VersionedSchema {
  readonly dir: string;
  readonly versions: readonly SchemaVersionDir[];
  /** Highest version in the directory. */
  readonly latestVersion: SchemaVersionString;
  /** SHA-256 (hex) over every file's relative path and bytes, sorted by path. */
  readonly contentHash: string;
}

/** Thrown for a malformed schema directory; the message names the file, the field and what is allowed. */
export class SchemaDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaDirError';
  }
}

const VERSION_RE = /^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$/;

/** Parses `"1.10"` into `[1, 10]`; throws {@link SchemaDirError} naming `what` otherwise. */
export function parseVersion(value: string, what = 'version'): [number, number] {
  const m = VERSION_RE.exec(value);
  if (!m) {
    throw new SchemaDirError(`${what} must look like "<major>.<minor>" (for example "1.0"), got ${JSON.stringify(value)}`);
  }
  return [Number(m[1]), Number(m[2])];
}

/** Numeric comparison of two `major.minor` versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const [am, an] = parseVersion(a);
  const [bm, bn] = parseVersion(b);
  return am !== bm ? am - bm : an - bn;
}

/** Lists every regular file under `dir` (relative POSIX paths, sorted). */
function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(dir, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

/**
 * SHA-256 (hex) of a directory's content: every file's relative path and bytes, in sorted order.
 * Independent of timestamps, permissions and the absolute location, so it is the same on every machine.
 */
export function hashDirectory(dir: string): string {
  const h = createHash('sha256');
  for (const rel of listFiles(dir)) {
    h.update(rel).update('\0').update(fs.readFileSync(path.join(dir, rel))).update('\0');
  }
  return h.digest('hex');
}

const DESTRUCTIVE_RE = /^\s*(DROP|TRUNCATE)\b|\bDROP\s+(COLUMN|CONSTRAINT|INDEX|TABLE|SCHEMA|VIEW|SEQUENCE)\b/i;
const ASYNC_INDEX_RE =
  /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+ASYNC\s+(?:IF\s+NOT\s+EXISTS\s+)?("?[A-Za-z_][\w$]*"?)\s+ON\s+(?:ONLY\s+)?((?:"?[A-Za-z_][\w$]*"?\.)?"?[A-Za-z_][\w$]*"?)/i;
const SYNC_INDEX_RE = /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b(?!\s+ASYNC\b)/i;
// ALTER TABLE t ALTER [COLUMN] c [SET DATA] TYPE ...: DSQL has no column type change (upstream
// widens workflow_id this way); refused here, before any statement of the version runs.
const ALTER_TYPE_RE = /\bALTER\s+(?:COLUMN\s+)?"?[A-Za-z_][\w$]*"?\s+(?:SET\s+DATA\s+)?TYPE\b/i;
const DML_RE = /^\s*(INSERT|UPDATE|DELETE|UPSERT|WITH|SELECT)\b/i;

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1) : ident.toLowerCase();
}

/**
 * Splits one SQL file into statements with Temporal's rule (`;` at the end of a line ends a
 * statement; lines starting with `--` are comments). Returns text and 1-based start line.
 * @throws SchemaDirError when text is left after the last `;`.
 */
export function splitStatements(text: string, file: string): Array<{ sql: string; line: number }> {
  const out: Array<{ sql: string; line: number }> = [];
  let buf: string[] = [];
  let start = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.trim() === '' || line.trim().startsWith('--')) return;
    if (buf.length === 0) start = i + 1;
    buf.push(line);
    if (line.endsWith(';')) {
      const sql = buf.join('\n').replace(/;$/, '').trim();
      if (sql !== '') out.push({ sql, line: start });
      buf = [];
    }
  });
  if (buf.length > 0) {
    throw new SchemaDirError(`${file}:${start}: statement does not end with ";" at the end of a line: ${buf.join(' ').slice(0, 120)}`);
  }
  return out;
}

/** Classifies one statement; refuses what the runner must never apply (DROP, TRUNCATE, synchronous CREATE INDEX, ALTER COLUMN TYPE). */
export function classifyStatement(sql: string, where: string): Pick<SchemaStatement, 'kind' | 'indexName' | 'tableName'> {
  if (DESTRUCTIVE_RE.test(sql)) {
    throw new SchemaDirError(`${where}: destructive statements (DROP, TRUNCATE) are not allowed in a schema version; the runner never removes data: ${sql.slice(0, 120)}`);
  }
  if (/^\s*ALTER\s+TABLE\b/i.test(sql) && ALTER_TYPE_RE.test(sql)) {
    throw new SchemaDirError(`${where}: DSQL refuses ALTER COLUMN ... TYPE (a column's type cannot change); add a new column or table and move the data: see docs/upgrades.md: ${sql.slice(0, 120)}`);
  }
  const idx = ASYNC_INDEX_RE.exec(sql);
  if (idx) {
    if (!/\bIF\s+NOT\s+EXISTS\b/i.test(sql.slice(0, idx[0].length))) {
      throw new SchemaDirError(`${where}: CREATE INDEX ASYNC must say IF NOT EXISTS so that a resumed run converges: ${sql.slice(0, 120)}`);
    }
    const table = idx[2].split('.').pop() as string;
    return { kind: 'async-index', indexName: unquote(idx[1]), tableName: unquote(table) };
  }
  if (SYNC_INDEX_RE.test(sql)) {
    throw new SchemaDirError(`${where}: DSQL refuses synchronous CREATE INDEX; write CREATE [UNIQUE] INDEX ASYNC IF NOT EXISTS <name> ON <table> (...): ${sql.slice(0, 120)}`);
  }
  return { kind: DML_RE.test(sql) ? 'dml' : 'ddl' };
}

interface Manifest {
  CurrVersion: string;
  MinCompatibleVersion: string;
  Description: string;
  SchemaUpdateCqlFiles: string[];
}

function readManifest(file: string, dirName: string): { manifest: Manifest; md5: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new SchemaDirError(`${file}: missing; every version directory needs a manifest.json`);
  }
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new SchemaDirError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const need = (field: keyof Manifest, ok: boolean, allowed: string) => {
    if (!ok) throw new SchemaDirError(`${file}: field ${field} must be ${allowed}, got ${JSON.stringify(m[field])}`);
  };
  need('CurrVersion', typeof m.CurrVersion === 'string' && VERSION_RE.test(m.CurrVersion), 'a "<major>.<minor>" string');
  need('CurrVersion', `v${m.CurrVersion}` === dirName, `"${dirName.slice(1)}" (the directory name without "v")`);
  need('MinCompatibleVersion', typeof m.MinCompatibleVersion === 'string' && VERSION_RE.test(m.MinCompatibleVersion)
    && compareVersions(m.MinCompatibleVersion, m.CurrVersion as string) <= 0, 'a "<major>.<minor>" string not above CurrVersion');
  need('Description', typeof m.Description === 'string', 'a string');
  need('SchemaUpdateCqlFiles', Array.isArray(m.SchemaUpdateCqlFiles) && m.SchemaUpdateCqlFiles.length > 0
    && m.SchemaUpdateCqlFiles.every((f) => typeof f === 'string' && f !== '' && !f.includes('..') && !path.isAbsolute(f)),
    'a non-empty list of file names inside the version directory');
  return { manifest: m as Manifest, md5: createHash('md5').update(text).digest('hex') };
}

/**
 * Loads and validates a versioned schema directory.
 * @param dir path of the `versioned` directory (its children are `vX.Y` directories)
 * @throws SchemaDirError for a missing directory, a bad manifest, a file that cannot be parsed, or
 *   a refused statement; the message names the file and line.
 */
export function loadVersionedSchema(dir: string): VersionedSchema {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new SchemaDirError(`schema directory ${dir} does not exist or is not a directory`);
  }
  const versions: SchemaVersionDir[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    if (!/^v\d+\.\d+$/.test(entry.name)) {
      throw new SchemaDirError(`${path.join(dir, entry.name)}: version directories must be named v<major>.<minor> (for example v1.0)`);
    }
    const vdir = path.join(dir, entry.name);
    const { manifest, md5 } = readManifest(path.join(vdir, 'manifest.json'), entry.name);
    const statements: SchemaStatement[] = [];
    for (const file of manifest.SchemaUpdateCqlFiles) {
      const full = path.join(vdir, file);
      if (!fs.existsSync(full)) {
        throw new SchemaDirError(`${path.join(vdir, 'manifest.json')}: SchemaUpdateCqlFiles lists ${JSON.stringify(file)}, which does not exist`);
      }
      for (const s of splitStatements(fs.readFileSync(full, 'utf8'), `${entry.name}/${file}`)) {
        const where = `${entry.name}/${file}:${s.line}`;
        statements.push({
          index: statements.length,
          file,
          line: s.line,
          sql: s.sql,
          sha256: createHash('sha256').update(s.sql).digest('hex'),
          ...classifyStatement(s.sql, where),
        });
      }
    }
    versions.push({
      version: manifest.CurrVersion,
      minCompatibleVersion: manifest.MinCompatibleVersion,
      description: manifest.Description,
      manifestMd5: md5,
      statements,
    });
  }
  if (versions.length === 0) {
    throw new SchemaDirError(`schema directory ${dir} holds no v<major>.<minor> version directory`);
  }
  versions.sort((a, b) => compareVersions(a.version, b.version));
  return { dir, versions, latestVersion: versions[versions.length - 1].version, contentHash: hashDirectory(dir) };
}
