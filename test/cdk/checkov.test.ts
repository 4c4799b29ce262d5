/**
 * checkov (PyPI, pinned in requirements-checkov.txt, installed into .venv-checkov by
 * scripts/setup-tests.sh) over the synthesized prod template (through the real CLI, as the README's
 * main job) and the dev template (in-process, as bin/app.ts builds it). Every failed check must be
 * listed with its reason in test/cdk/checkov-suppressions.yaml (`accepted`: reviewed, with why it
 * does not apply or is accepted) or `pending` (real findings of issue 24 not fixed yet); an entry
 * that matches nothing is an error too, so the file cannot go stale.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { ENVIRONMENTS } from '../../config';
import { buildApp, REPO, synthProdWithCli, tempDir, templatesIn } from './helpers';

const CHECKOV = path.join(REPO, '.venv-checkov', 'bin', 'checkov');
const SUPPRESSIONS = path.join(__dirname, 'checkov-suppressions.yaml');

/**
 * One entry of the suppression file: a check id, the logical ids it covers (or `*`), optionally the
 * templates (`Temporal-prod`, `Temporal-dev`; default both), and why.
 */
interface Suppression { check: string; resources: string[] | '*'; templates?: string[]; reason: string }

/** A failed check: `CKV_AWS_158 Temporal-prod NetworkFlowLogs2BEC3212`. */
interface Finding { check: string; template: string; resource: string }

/** Runs checkov on `templates` (CloudFormation framework only, no network) and returns its JSON reports. */
export function runCheckov(templates: string[]): { status: number | null; reports: any[]; stderr: string } {
  const args = ['--framework', 'cloudformation', '--output', 'json', '--quiet', '--compact', '--skip-download'];
  for (const t of templates) args.push('--file', t);
  const r = spawnSync(CHECKOV, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } });
  const parsed = JSON.parse(r.stdout);
  return { status: r.status, reports: Array.isArray(parsed) ? parsed : [parsed], stderr: r.stderr };
}

function findings(reports: any[]): Finding[] {
  return reports.flatMap((rep) => (rep.results?.failed_checks ?? []).map((f: any) => ({
    check: f.check_id as string,
    template: path.basename(f.file_path as string, '.template.json'),
    resource: (f.resource as string).split('.').slice(1).join('.'),
  })));
}

function loadSuppressions(): { accepted: Suppression[]; pending: Suppression[] } {
  const doc = YAML.parse(fs.readFileSync(SUPPRESSIONS, 'utf8'));
  for (const list of ['accepted', 'pending']) {
    for (const s of doc[list] as Suppression[]) {
      if (!/^CKV2?_AWS_\d+$/.test(s.check) || !(s.resources === '*' || Array.isArray(s.resources)) || !(s.reason?.trim().length > 20)) {
        throw new Error(`${SUPPRESSIONS}: ${list} entry ${JSON.stringify(s)} needs check (CKV_AWS_n), resources (list of logical ids or '*') and a reason`);
      }
    }
  }
  return doc;
}

const inTemplates = (s: Suppression, f: Finding) => !s.templates || s.templates.includes(f.template);
const covers = (s: Suppression, f: Finding) => s.check === f.check && inTemplates(s, f) && (s.resources === '*' || s.resources.includes(f.resource));
const line = (f: Finding) => `${f.check} ${f.template} ${f.resource}`;

describe('checkov', () => {
  let all: Finding[];
  let summaries: any[];
  const dirs: string[] = [];

  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  beforeAll(() => {
    expect(fs.existsSync(CHECKOV)).toBe(true); // run scripts/setup-tests.sh first
    const prodDir = tempDir('ckv-prod');
    const devDir = tempDir('ckv-dev');
    dirs.push(prodDir, devDir);
    const templates = synthProdWithCli(prodDir);
    buildApp('dev', { ...ENVIRONMENTS }, { nag: true, outdir: devDir }).app.synth();
    templates.push(...templatesIn(devDir));
    const { reports, stderr } = runCheckov(templates);
    summaries = reports.map((r) => r.summary);
    all = findings(reports);
    expect({ stderr: summaries.length ? '' : stderr }).toEqual({ stderr: '' });
  });

  test('the pinned checkov (3.3.30) scanned both templates', () => {
    expect(summaries.map((s) => s.checkov_version)).toEqual(['3.3.30']);
    expect(summaries[0].parsing_errors).toBe(0);
    expect(new Set(all.map((f) => f.template))).toEqual(new Set(['Temporal-prod', 'Temporal-dev']));
  });

  test('every failed check is listed with a reason (no unexplained finding)', () => {
    const { accepted, pending } = loadSuppressions();
    const unexplained = all.filter((f) => ![...accepted, ...pending].some((s) => covers(s, f))).map(line);
    expect(unexplained).toEqual([]);
  });

  test('every entry of the suppression file still matches a finding (none stale)', () => {
    const { accepted, pending } = loadSuppressions();
    const stale = [...accepted, ...pending].flatMap((s) => (s.resources === '*' ? ['*'] : s.resources)
      .filter((r) => !all.some((f) => f.check === s.check && inTemplates(s, f) && (r === '*' || f.resource === r)))
      .map((r) => `${s.check} ${r}`));
    expect(stale).toEqual([]);
  });
});
