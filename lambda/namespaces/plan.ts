/**
 * What `Custom::TemporalNamespaces` must change, worked out from the wanted configuration and what
 * the frontend reports (pure functions, no I/O). An empty plan means no call that changes anything.
 */
import type { NamespaceSpec, SearchAttributeSpec, SearchAttributeTypeName } from './properties';

/** Temporal's `ArchivalState` values (temporal.api.enums.v1). */
export const ARCHIVAL_STATE = { UNSPECIFIED: 0, DISABLED: 1, ENABLED: 2 } as const;

/** Temporal's `IndexedValueType` numbers (temporal.api.enums.v1) by the type names of the config. */
export const INDEXED_VALUE_TYPE: Readonly<Record<SearchAttributeTypeName, number>> = {
  Text: 1, Keyword: 2, Int: 3, Double: 4, Bool: 5, Datetime: 6, KeywordList: 7,
};

/** The type name of an `IndexedValueType` number, or `unknown type <n>`. */
export function typeName(n: number): string {
  const found = Object.entries(INDEXED_VALUE_TYPE).find(([, v]) => v === n);
  return found ? found[0] : `unknown type ${n}`;
}

/** A namespace as DescribeNamespace reports it (the fields this resource manages). */
export interface NamespaceState {
  readonly name: string;
  /** Retention in seconds (`config.workflowExecutionRetentionTtl`). */
  readonly retentionSeconds: number;
  readonly description: string;
  readonly ownerEmail: string;
  readonly historyArchivalState: number;
  readonly historyArchivalUri: string;
  readonly visibilityArchivalState: number;
  readonly visibilityArchivalUri: string;
}

/** Fields of an UpdateNamespace call; only what differs is set. */
export interface NamespaceUpdate {
  readonly updateInfo?: { description?: string; ownerEmail?: string };
  readonly config?: {
    workflowExecutionRetentionTtl?: { seconds: number };
    historyArchivalState?: number;
    historyArchivalUri?: string;
    visibilityArchivalState?: number;
    visibilityArchivalUri?: string;
  };
  /** One line per changed field, `retention 7 d -> 3 d`. */
  readonly changes: string[];
}

const DAY_SECONDS = 86_400;

function days(seconds: number): string {
  const d = seconds / DAY_SECONDS;
  return Number.isInteger(d) ? `${d} d` : `${d.toFixed(3)} d`;
}

/**
 * The UpdateNamespace a namespace needs to match its spec, or undefined when it already does.
 * Archival on sets both history and visibility archival to ENABLED at `archivalUri`; archival off
 * leaves a never-enabled namespace alone and sets an enabled one to DISABLED (its URI stays: the
 * server never lets a namespace's archival URI change once set).
 * @param archivalUri `s3://<bucket>`; required when `spec.archival` is true
 * @throws Error when `spec.archival` is true and no archival URI is configured
 */
export function planNamespaceUpdate(spec: NamespaceSpec, live: NamespaceState, archivalUri: string | undefined): NamespaceUpdate | undefined {
  const info: { description?: string; ownerEmail?: string } = {};
  const config: NonNullable<NamespaceUpdate['config']> = {};
  const changes: string[] = [];
  const wantSeconds = spec.retentionDays * DAY_SECONDS;
  if (live.retentionSeconds !== wantSeconds) {
    config.workflowExecutionRetentionTtl = { seconds: wantSeconds };
    changes.push(`retention ${days(live.retentionSeconds)} -> ${spec.retentionDays} d`);
  }
  if (live.description !== spec.description) {
    info.description = spec.description;
    changes.push(`description ${JSON.stringify(live.description)} -> ${JSON.stringify(spec.description)}`);
  }
  if (live.ownerEmail !== spec.ownerEmail) {
    info.ownerEmail = spec.ownerEmail;
    changes.push(`owner ${JSON.stringify(live.ownerEmail)} -> ${JSON.stringify(spec.ownerEmail)}`);
  }
  if (spec.archival) {
    const uri = requireArchivalUri(spec, archivalUri);
    for (const kind of ['history', 'visibility'] as const) {
      const state = kind === 'history' ? live.historyArchivalState : live.visibilityArchivalState;
      const liveUri = kind === 'history' ? live.historyArchivalUri : live.visibilityArchivalUri;
      if (liveUri && liveUri !== uri) {
        throw new Error(
          `namespace ${spec.name} archives ${kind} to ${liveUri}, the stack's archival bucket is ${uri}: Temporal never lets a namespace's archival URI change. ` +
            `Keep archival off for ${spec.name} or archive to ${liveUri}.`,
        );
      }
      if (state !== ARCHIVAL_STATE.ENABLED || liveUri !== uri) {
        if (kind === 'history') Object.assign(config, { historyArchivalState: ARCHIVAL_STATE.ENABLED, historyArchivalUri: uri });
        else Object.assign(config, { visibilityArchivalState: ARCHIVAL_STATE.ENABLED, visibilityArchivalUri: uri });
        changes.push(`${kind} archival on (${uri})`);
      }
    }
  } else {
    if (live.historyArchivalState === ARCHIVAL_STATE.ENABLED) {
      config.historyArchivalState = ARCHIVAL_STATE.DISABLED;
      changes.push('history archival off');
    }
    if (live.visibilityArchivalState === ARCHIVAL_STATE.ENABLED) {
      config.visibilityArchivalState = ARCHIVAL_STATE.DISABLED;
      changes.push('visibility archival off');
    }
  }
  if (changes.length === 0) return undefined;
  return {
    ...(Object.keys(info).length ? { updateInfo: info } : {}),
    ...(Object.keys(config).length ? { config } : {}),
    changes,
  };
}

/** The RegisterNamespace request of a new namespace (archival set explicitly, either way). */
export function registerRequest(spec: NamespaceSpec, archivalUri: string | undefined) {
  const archival = spec.archival
    ? { state: ARCHIVAL_STATE.ENABLED, uri: requireArchivalUri(spec, archivalUri) }
    : { state: ARCHIVAL_STATE.DISABLED, uri: '' };
  return {
    namespace: spec.name,
    description: spec.description,
    ownerEmail: spec.ownerEmail,
    workflowExecutionRetentionPeriod: { seconds: spec.retentionDays * DAY_SECONDS },
    historyArchivalState: archival.state,
    historyArchivalUri: archival.uri,
    visibilityArchivalState: archival.state,
    visibilityArchivalUri: archival.uri,
  };
}

function requireArchivalUri(spec: NamespaceSpec, archivalUri: string | undefined): string {
  if (!archivalUri) {
    throw new Error(`namespace ${spec.name} has archival on, but the resource has no ArchivalUri (the stack's archival bucket): turn archival on for the stack or off for ${spec.name}`);
  }
  return archivalUri;
}

/** A search attribute whose type differs from the wanted one. */
export interface TypeConflict {
  readonly name: string;
  readonly namespace: string;
  readonly current: string;
  readonly requested: SearchAttributeTypeName;
}

/**
 * Splits the wanted search attributes of one namespace into those to add and those whose existing
 * type differs.
 * @param live the namespace's custom search attributes (`ListSearchAttributes.customAttributes`), name -> IndexedValueType
 */
export function planSearchAttributes(
  namespace: string,
  wanted: readonly SearchAttributeSpec[],
  live: Readonly<Record<string, number>>,
): { add: Record<string, number>; conflicts: TypeConflict[] } {
  const add: Record<string, number> = {};
  const conflicts: TypeConflict[] = [];
  for (const a of wanted) {
    if (a.namespace !== namespace) continue;
    const current = live[a.name];
    if (current === undefined) add[a.name] = INDEXED_VALUE_TYPE[a.type];
    else if (current !== INDEXED_VALUE_TYPE[a.type]) conflicts.push({ name: a.name, namespace, current: typeName(current), requested: a.type });
  }
  return { add, conflicts };
}

/** The refusal of type changes, in operator words. */
export function typeConflictMessage(conflicts: readonly TypeConflict[]): string {
  const each = conflicts.map((c) => `search attribute ${c.name} (namespace ${c.namespace}) exists as ${c.current}, the configuration asks for ${c.requested}`);
  return `${each.join('; ')}. Temporal cannot change the type of a search attribute: put the existing type back in the configuration, or add an attribute with a new name. No search attribute was added.`;
}

/** Names in `before` that are not in `after` (what the configuration no longer lists). */
export function removedNames(before: readonly string[], after: readonly string[]): string[] {
  return before.filter((n) => !after.includes(n));
}
