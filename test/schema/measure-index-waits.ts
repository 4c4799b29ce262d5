/**
 * Measures the wall time of a full schema apply on dsql-local with a simulated index build time,
 * each on a fresh endpoint, in the same run: (1) independent builds submitted together and awaited
 * concurrently (the runner's default), (2) submitted together but awaited by one connection one
 * after the other, (3) sequential: each build awaited right after its submission (the baseline).
 * Not a test: it asserts nothing, it reports.
 *
 *   npx tsx test/schema/measure-index-waits.ts [--schema-dir DIR] [--build-ms 10000] [--concurrency 8]
 *
 * Default schema: schema/dsql/temporal/versioned when it exists, else the test fixtures.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { SchemaRunner } from '../../lambda/dsql/schema/runner';
import { loadVersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { adminConnection, FIXTURES_DIR, startDsql } from './helpers';

async function applyOnce(schemaDir: string, buildMs: number, concurrency: number, batch: boolean): Promise<{ ms: number; indexes: number; statements: number }> {
  const schema = loadVersionedSchema(schemaDir);
  const dsql = await startDsql({ indexBuildDelayMs: buildMs });
  try {
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema, indexWaitConcurrency: concurrency, batchIndexBuilds: batch });
    const t0 = Date.now();
    const r = await runner.apply({ deadline: Date.now() + 3_600_000 });
    const ms = Date.now() - t0;
    if (r.outcome !== 'applied') throw new Error(`apply ended ${r.outcome}`);
    const all = schema.versions.flatMap((v) => v.statements);
    return { ms, indexes: all.filter((s) => s.kind === 'async-index').length, statements: all.length };
  } finally {
    await dsql.stop();
  }
}

async function measure(): Promise<void> {
  const { values } = parseArgs({ options: { 'schema-dir': { type: 'string' }, 'build-ms': { type: 'string' }, 'concurrency': { type: 'string' } } });
  const real = path.join(__dirname, '..', '..', 'schema', 'dsql', 'temporal', 'versioned');
  const dir = values['schema-dir'] ?? (fs.existsSync(real) ? real : FIXTURES_DIR);
  const buildMs = Number(values['build-ms'] ?? 10_000);
  const concurrency = Number(values.concurrency ?? 8);
  const together = await applyOnce(dir, buildMs, concurrency, true);
  const togetherOneWaiter = await applyOnce(dir, buildMs, 1, true);
  const oneByOne = await applyOnce(dir, buildMs, 1, false);
  console.log(JSON.stringify({
    schemaDir: path.relative(process.cwd(), dir), statements: together.statements, asyncIndexes: together.indexes, simulatedBuildMs: buildMs,
    concurrentMs: together.ms, concurrency,
    submittedTogetherOneWaiterMs: togetherOneWaiter.ms,
    sequentialMs: oneByOne.ms,
    speedup: Number((oneByOne.ms / together.ms).toFixed(2)),
  }));
}

measure().catch((e) => { console.error(e); process.exitCode = 1; });
