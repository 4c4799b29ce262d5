/**
 * Pins Temporal's visibility template schema v14 (server v1.31.x) as shipped in
 * schema/visibility/v14/index_template.json: every field name and type, the settings, and the
 * template identity. A change to the template must change this table on purpose.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadVisibilityTemplate,
  VISIBILITY_TEMPLATE_NAME,
  VISIBILITY_TEMPLATE_VERSION,
  VISIBILITY_TEMPLATE_VERSIONS,
} from '../../lib/visibility/visibility-index';
import { templateContentHash } from '../../lambda/visibility/index/properties';

/** Temporal template schema v14, field by field. */
const V14_FIELDS: Record<string, string> = {
  // keyword (30)
  NamespaceId: 'keyword',
  TemporalNamespaceDivision: 'keyword',
  WorkflowId: 'keyword',
  RunId: 'keyword',
  WorkflowType: 'keyword',
  ExecutionStatus: 'keyword',
  TaskQueue: 'keyword',
  TemporalChangeVersion: 'keyword',
  BatcherNamespace: 'keyword',
  BatcherUser: 'keyword',
  BinaryChecksums: 'keyword',
  TemporalScheduledById: 'keyword',
  BuildIds: 'keyword',
  ParentWorkflowId: 'keyword',
  ParentRunId: 'keyword',
  RootWorkflowId: 'keyword',
  RootRunId: 'keyword',
  TemporalPauseInfo: 'keyword',
  TemporalWorkerDeploymentVersion: 'keyword',
  TemporalWorkflowVersioningBehavior: 'keyword',
  TemporalWorkerDeployment: 'keyword',
  TemporalReportedProblems: 'keyword',
  TemporalUsedWorkerDeploymentVersions: 'keyword',
  TemporalKeyword01: 'keyword',
  TemporalKeyword02: 'keyword',
  TemporalKeyword03: 'keyword',
  TemporalKeyword04: 'keyword',
  TemporalLowCardinalityKeyword01: 'keyword',
  TemporalKeywordList01: 'keyword',
  TemporalKeywordList02: 'keyword',
  // long (8)
  ExecutionDuration: 'long',
  HistoryLength: 'long',
  StateTransitionCount: 'long',
  HistorySizeBytes: 'long',
  TemporalExternalPayloadSizeBytes: 'long',
  TemporalExternalPayloadCount: 'long',
  TemporalInt01: 'long',
  TemporalInt02: 'long',
  // date_nanos (6)
  StartTime: 'date_nanos',
  ExecutionTime: 'date_nanos',
  CloseTime: 'date_nanos',
  TemporalScheduledStartTime: 'date_nanos',
  TemporalDatetime01: 'date_nanos',
  TemporalDatetime02: 'date_nanos',
  // boolean (3)
  TemporalSchedulePaused: 'boolean',
  TemporalBool01: 'boolean',
  TemporalBool02: 'boolean',
  // scaled_float, scaling_factor 10000 (2)
  TemporalDouble01: 'scaled_float',
  TemporalDouble02: 'scaled_float',
};

const file = join(__dirname, '..', '..', 'schema', 'visibility', 'v14', 'index_template.json');
const raw = JSON.parse(readFileSync(file, 'utf8'));

test('v14 is the default version and belongs to Temporal server 1.31.x', () => {
  expect(VISIBILITY_TEMPLATE_VERSION).toBe('v14');
  expect(VISIBILITY_TEMPLATE_VERSIONS.v14).toBe('1.31.x');
  expect(raw.mappings._meta).toEqual({ temporal_visibility_template_version: 'v14', temporal_server_versions: '1.31.x' });
  const note = readFileSync(join(__dirname, '..', '..', 'schema', 'visibility', 'README.md'), 'utf8');
  expect(note).toMatch(/`v14\/` \| v14 \| \*\*v1\.31\.x\*\*/);
});

test('every field name and type is pinned (49 fields)', () => {
  const actual = Object.fromEntries(Object.entries(raw.mappings.properties as Record<string, { type: string }>).map(([k, v]) => [k, v.type]));
  expect(actual).toEqual(V14_FIELDS);
  expect(Object.keys(actual)).toHaveLength(49);
  const counts: Record<string, number> = {};
  for (const t of Object.values(actual)) counts[t] = (counts[t] ?? 0) + 1;
  expect(counts).toEqual({ keyword: 30, long: 8, date_nanos: 6, boolean: 3, scaled_float: 2 });
});

test('field options: scaled_float has scaling_factor 10000, other fields only a type', () => {
  for (const [name, mapping] of Object.entries(raw.mappings.properties as Record<string, Record<string, unknown>>)) {
    if (mapping.type === 'scaled_float') expect(mapping).toEqual({ type: 'scaled_float', scaling_factor: 10000 });
    else expect(Object.keys(mapping)).toEqual(['type']);
    expect(name).toMatch(/^[A-Z][A-Za-z0-9]+$/);
  }
});

test('pattern, dynamic false, shards and the index sort', () => {
  expect(raw.index_patterns).toEqual(['temporal_visibility_v1*']);
  expect(raw.order).toBe(0);
  expect(raw.mappings.dynamic).toBe('false');
  expect(raw.aliases).toEqual({});
  expect(raw.settings).toEqual({
    index: {
      number_of_shards: '1',
      number_of_replicas: '0',
      auto_expand_replicas: '0-2',
      'search.idle.after': '365d',
      'sort.field': ['CloseTime', 'StartTime', 'RunId'],
      'sort.order': ['desc', 'desc', 'desc'],
      'sort.missing': ['_first', '_first', '_first'],
    },
  });
  // Sort fields must be mapped, with sortable types.
  for (const f of raw.settings.index['sort.field']) expect(['date_nanos', 'keyword']).toContain(V14_FIELDS[f]);
});

test('loadVisibilityTemplate gives the minified body and its hash', () => {
  const t = loadVisibilityTemplate('v14');
  expect(t.name).toBe(VISIBILITY_TEMPLATE_NAME);
  expect(t.name).toBe('temporal_visibility_v1_template');
  expect(JSON.parse(t.body)).toEqual(raw);
  expect(t.body).not.toMatch(/\n/);
  expect(t.contentHash).toBe(templateContentHash(t.body));
  expect(t.contentHash).toMatch(/^[0-9a-f]{64}$/);
});

test('an unknown version is refused with the allowed ones', () => {
  expect(() => loadVisibilityTemplate('v13')).toThrow('templateVersion must be one of v14 (schema/visibility/), got "v13"');
});
