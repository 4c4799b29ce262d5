/**
 * Custom resource handler (onEvent of the CDK Provider framework) for `Custom::TemporalNamespaces`:
 * applies the configured Temporal namespaces and custom search attributes through the frontend's
 * gRPC API (@temporalio/client), reaching it through the internal NLB.
 *
 * Create and Update, in this order, every step re-reading the state first (a rerun after a crash or
 * timeout resumes where it stopped, and an unchanged configuration makes no call that changes
 * anything):
 *   1. DescribeNamespace for every configured namespace;
 *   2. ListSearchAttributes for every namespace that has configured attributes; any attribute that
 *      exists with another type refuses the whole request before anything is changed;
 *   3. RegisterNamespace for missing namespaces (ALREADY_EXISTS, from a retried call that did land,
 *      counts as registered), UpdateNamespace with only the differing fields for the others;
 *   4. AddSearchAttributes with only the missing attributes of each namespace (type conflicts
 *      checked again for namespaces registered in step 3);
 *   5. verifies: every namespace and attribute reads back as configured (a namespace with archival
 *      on, on a server without archival configured, fails here: the server ignores the request).
 * Namespaces or attributes the configuration no longer lists are never deleted: they are named in
 * the log and in the response (`NamespacesLeft`, `SearchAttributesLeft`). Delete changes nothing.
 *
 * DSQL: each call is one server transaction of a few rows (a namespace row and the namespace
 * metadata version row; the cluster metadata row for search attributes), far below 3,000. Calls are
 * made one at a time, so this handler never conflicts with itself; a write that loses a
 * first-committer-wins race with another writer comes back as UNAVAILABLE and is retried after the
 * state is read again.
 *
 * Failures are thrown as an Error of at most 900 characters without stack frames (CloudFormation's
 * reason field). Logs: one JSON line per step.
 */
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { Connection, ConnectionOptions } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { fetchAccessToken, readClientCredentials } from './auth';
import {
  NamespaceState, planNamespaceUpdate, planSearchAttributes, registerRequest, removedNames, TypeConflict, typeConflictMessage, typeName,
} from './plan';
import { namespaceNames, NamespacesProperties, parseProperties, searchAttributeKeys } from './properties';
import { shortError } from '../shared/custom-resource';

/** What the handler returns to the Provider framework (Data values are strings: CloudFormation GetAtt). */
export interface HandlerResponse {
  readonly PhysicalResourceId: string;
  readonly Data: {
    /** Number of calls that changed something (0 on an unchanged configuration). */
    readonly Changes: string;
    /** What changed, `; `-separated (trimmed to 1,000 characters), or `none`. */
    readonly ChangeLog: string;
    /** Namespaces the configuration no longer lists, left on the cluster, `,`-separated. */
    readonly NamespacesLeft: string;
    /** `namespace/name` of search attributes no longer listed, left on the cluster. */
    readonly SearchAttributesLeft: string;
  };
}

/** Options of {@link applyEvent} (tests and the local stack). */
export interface ApplyOptions {
  /**
   * Connection options used instead of those built from the properties (address, TLS, token):
   * the local stack's `clientOptions`. @default - from the FrontendAddress, Tls and Auth properties
   */
  readonly connection?: ConnectionOptions;
  /** Epoch milliseconds after which transient errors are no longer retried. @default - 120 s from now */
  readonly deadline?: number;
  /** One call per step. @default - a JSON line on stdout */
  readonly log?: Log;
}

export { MAX_REASON_CHARS } from '../shared/custom-resource';
const DEADLINE_MARGIN_MS = 15_000;
const DEFAULT_BUDGET_MS = 120_000;
/** gRPC status codes. */
const GRPC = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, RESOURCE_EXHAUSTED: 8, ABORTED: 10, UNAVAILABLE: 14, UNAUTHENTICATED: 16, PERMISSION_DENIED: 7 };
const TRANSIENT = new Set([GRPC.DEADLINE_EXCEEDED, GRPC.RESOURCE_EXHAUSTED, GRPC.ABORTED, GRPC.UNAVAILABLE]);

type Log = (msg: string, fields?: Record<string, unknown>) => void;
const stdoutLog: Log = (msg, fields) => console.log(JSON.stringify({ msg, ...fields }));

/**
 * Lambda entry point.
 * @param event a CloudFormation custom resource event
 * @param context the Lambda context; its remaining time sets the retry deadline
 * @throws Error with a short message (at most MAX_REASON_CHARS) on failure
 */
export async function handler(event: CloudFormationCustomResourceEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<HandlerResponse> {
  const deadline = Date.now() + (context ? context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS : DEFAULT_BUDGET_MS);
  try {
    return await applyEvent(event, { deadline });
  } catch (e) {
    console.error(JSON.stringify({ msg: 'failed', requestType: event.RequestType, error: String(e), stack: (e as Error)?.stack }));
    throw shortError(e);
  }
}

export { shortError };

/**
 * Handles one CloudFormation event (the handler without the Lambda wrapping).
 * @throws Error in operator words: unreachable frontend, refused token, type change, verification failure
 */
export async function applyEvent(event: CloudFormationCustomResourceEvent, options: ApplyOptions = {}): Promise<HandlerResponse> {
  const log = options.log ?? stdoutLog;
  const deadline = options.deadline ?? Date.now() + DEFAULT_BUDGET_MS;
  const raw = event.ResourceProperties as Record<string, unknown>;
  log('event', { requestType: event.RequestType, logicalResourceId: event.LogicalResourceId });
  if (event.RequestType === 'Delete') {
    // Never deletes a namespace: needs neither valid properties nor the frontend.
    const left = namespaceNames(raw);
    log('delete: namespaces and search attributes left on the cluster', { namespaces: left, searchAttributes: searchAttributeKeys(raw) });
    return response(event.PhysicalResourceId, [], left, searchAttributeKeys(raw));
  }
  const props = parseProperties(raw);
  const old = event.RequestType === 'Update' ? (event.OldResourceProperties as Record<string, unknown>) : undefined;
  const namespacesLeft = removedNames(namespaceNames(old), props.namespaces.map((n) => n.name));
  const attributesLeft = removedNames(searchAttributeKeys(old), searchAttributeKeys(raw));
  if (namespacesLeft.length || attributesLeft.length) {
    log('no longer configured, left on the cluster (never deleted)', { namespaces: namespacesLeft, searchAttributes: attributesLeft });
  }
  const started = Date.now();
  const connection = await connect(props, options.connection, deadline, log);
  try {
    const changes = await reconcile(connection, props, deadline, log);
    log('done', { requestType: event.RequestType, changes: changes.length, elapsedMs: Date.now() - started });
    const physicalId = event.RequestType === 'Create' ? `temporal-namespaces@${props.frontendAddress}` : event.PhysicalResourceId;
    return response(physicalId, changes, namespacesLeft, attributesLeft);
  } finally {
    await connection.close();
  }
}

function response(physicalId: string, changes: string[], namespacesLeft: string[], attributesLeft: string[]): HandlerResponse {
  const changeLog = changes.length ? changes.join('; ') : 'none';
  return {
    PhysicalResourceId: physicalId,
    Data: {
      Changes: String(changes.length),
      ChangeLog: changeLog.length > 1000 ? `${changeLog.slice(0, 997)}...` : changeLog,
      NamespacesLeft: namespacesLeft.join(','),
      SearchAttributesLeft: attributesLeft.join(','),
    },
  };
}

function codeOf(e: unknown): number | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

/**
 * Runs `fn`, retrying transient gRPC errors with backoff until the deadline. With `notFoundIsTransient`
 * NOT_FOUND is retried too: a namespace registered moments ago is known to DescribeNamespace (it reads
 * the database) before it is in the frontend's namespace cache (refreshed every 10 s), which answers
 * the other namespace-scoped calls.
 */
async function retry<T>(what: string, deadline: number, log: Log, fn: () => Promise<T>, notFoundIsTransient = false): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const code = codeOf(e);
      if (code === GRPC.UNAUTHENTICATED || code === GRPC.PERMISSION_DENIED) {
        throw new Error(`${what}: the frontend refused the namespace admin's credentials (${(e as Error).message}); the token's principal needs the admin role of the cluster (temporal-system:admin)`);
      }
      const transient = code === undefined || TRANSIENT.has(code) || (notFoundIsTransient && code === GRPC.NOT_FOUND);
      const delay = Math.min(5_000, 250 * 2 ** (attempt - 1));
      if (!transient || Date.now() + delay > deadline) throw new Error(`${what}: ${(e as Error).message}`);
      log('retry', { step: what, attempt, delayMs: delay, code, error: (e as Error).message });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Connection options from the properties: address, TLS, and a fresh admin token when Auth is set. */
export async function connectionOptionsFrom(props: NamespacesProperties): Promise<ConnectionOptions> {
  const metadata: Record<string, string> = {};
  if (props.auth) {
    const creds = await readClientCredentials(props.auth.clientSecretArn);
    metadata.authorization = `Bearer ${await fetchAccessToken(props.auth, creds)}`;
  }
  return {
    address: props.frontendAddress,
    ...(props.tls ? {
      tls: {
        ...(props.tls.caCertificatePem ? { serverRootCACertificate: Buffer.from(props.tls.caCertificatePem) } : {}),
        ...(props.tls.serverNameOverride ? { serverNameOverride: props.tls.serverNameOverride } : {}),
      },
    } : {}),
    ...(Object.keys(metadata).length ? { metadata } : {}),
  };
}

async function connect(props: NamespacesProperties, given: ConnectionOptions | undefined, deadline: number, log: Log): Promise<Connection> {
  const options = given ?? (await connectionOptionsFrom(props));
  return retry(`cannot reach the Temporal frontend at ${options.address ?? props.frontendAddress}`, deadline, log, () =>
    Connection.connect({ ...options, connectTimeout: '10s' }),
  );
}

/** A protobuf int64 (a Long object or a number) as a number; 0 when absent. */
function toNumber(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'object' && typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** The managed fields of DescribeNamespace's answer, or undefined when the namespace does not exist. */
async function describe(connection: Connection, name: string, deadline: number, log: Log): Promise<NamespaceState | undefined> {
  return retry(`describe namespace ${name}`, deadline, log, async () => {
    try {
      const r = await connection.workflowService.describeNamespace({ namespace: name });
      const ttl = r.config?.workflowExecutionRetentionTtl;
      return {
        name,
        retentionSeconds: toNumber(ttl?.seconds) + toNumber(ttl?.nanos) / 1e9,
        description: r.namespaceInfo?.description ?? '',
        ownerEmail: r.namespaceInfo?.ownerEmail ?? '',
        historyArchivalState: r.config?.historyArchivalState ?? 0,
        historyArchivalUri: r.config?.historyArchivalUri ?? '',
        visibilityArchivalState: r.config?.visibilityArchivalState ?? 0,
        visibilityArchivalUri: r.config?.visibilityArchivalUri ?? '',
      };
    } catch (e) {
      if (codeOf(e) === GRPC.NOT_FOUND) return undefined;
      throw e;
    }
  });
}

/** Custom search attributes seen by `namespace` (name -> IndexedValueType). */
async function listAttributes(connection: Connection, namespace: string, deadline: number, log: Log): Promise<Record<string, number>> {
  return retry(`list search attributes of ${namespace}`, deadline, log, async () => {
    const r = await connection.operatorService.listSearchAttributes({ namespace });
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.customAttributes ?? {})) out[k] = Number(v);
    return out;
  }, true);
}

async function reconcile(connection: Connection, props: NamespacesProperties, deadline: number, log: Log): Promise<string[]> {
  const changes: string[] = [];
  const saNamespaces = [...new Set(props.searchAttributes.map((a) => a.namespace))];

  // 1 + 2: read everything, refuse type changes before any write.
  const live = new Map<string, NamespaceState | undefined>();
  for (const ns of props.namespaces) live.set(ns.name, await describe(connection, ns.name, deadline, log));
  const checkConflicts = async (namespaces: string[]) => {
    const conflicts: TypeConflict[] = [];
    const missing = new Map<string, Record<string, number>>();
    for (const ns of namespaces) {
      const plan = planSearchAttributes(ns, props.searchAttributes, await listAttributes(connection, ns, deadline, log));
      conflicts.push(...plan.conflicts);
      if (Object.keys(plan.add).length) missing.set(ns, plan.add);
    }
    if (conflicts.length) throw new Error(typeConflictMessage(conflicts));
    return missing;
  };
  for (const ns of saNamespaces.filter((n) => !live.has(n))) {
    // A namespace the attributes name but the configuration does not manage (`default`): it must exist.
    if (!(await describe(connection, ns, deadline, log))) {
      throw new Error(`search attributes are configured for namespace ${ns}, which does not exist on the cluster and is not in the configured namespaces: add ${ns} to namespaces`);
    }
  }
  const exists = (ns: string) => !live.has(ns) || live.get(ns) !== undefined;
  await checkConflicts(saNamespaces.filter(exists));

  // 3: namespaces.
  for (const spec of props.namespaces) {
    const state = live.get(spec.name);
    if (!state) {
      const req = registerRequest(spec, props.archivalUri);
      const registered = await retry(`register namespace ${spec.name}`, deadline, log, async () => {
        try {
          await connection.workflowService.registerNamespace({
            ...req,
            workflowExecutionRetentionPeriod: msToTs(req.workflowExecutionRetentionPeriod.seconds * 1000),
          });
          return true;
        } catch (e) {
          if (codeOf(e) === GRPC.ALREADY_EXISTS) return false;
          throw e;
        }
      });
      if (registered) {
        changes.push(`registered namespace ${spec.name} (retention ${spec.retentionDays} d${spec.archival ? ', archival on' : ''})`);
        log('registered namespace', { namespace: spec.name, retentionDays: spec.retentionDays, archival: spec.archival });
      }
      // Registered now or by an earlier, interrupted run: bring it to the spec like any other.
      const now = await describe(connection, spec.name, deadline, log);
      if (!now) throw new Error(`namespace ${spec.name} was registered but DescribeNamespace does not find it`);
      live.set(spec.name, now);
    }
    const update = planNamespaceUpdate(spec, live.get(spec.name)!, props.archivalUri);
    if (update) {
      await retry(`update namespace ${spec.name}`, deadline, log, () =>
        connection.workflowService.updateNamespace({
          namespace: spec.name,
          updateInfo: update.updateInfo,
          config: update.config && {
            ...update.config,
            workflowExecutionRetentionTtl: update.config.workflowExecutionRetentionTtl && msToTs(update.config.workflowExecutionRetentionTtl.seconds * 1000),
          },
        }),
      );
      changes.push(`namespace ${spec.name}: ${update.changes.join(', ')}`);
      log('updated namespace', { namespace: spec.name, changes: update.changes });
    }
  }

  // 4: search attributes (conflicts checked again: namespaces registered above were not listed before).
  const missing = await checkConflicts(saNamespaces);
  for (const [ns, add] of missing) {
    await retry(`add search attributes to ${ns}`, deadline, log, () =>
      connection.operatorService.addSearchAttributes({ namespace: ns, searchAttributes: add }),
    true);
    const names = Object.entries(add).map(([n, t]) => `${n} (${typeName(t)})`);
    changes.push(`namespace ${ns}: added search attributes ${names.join(', ')}`);
    log('added search attributes', { namespace: ns, attributes: names });
  }

  // 5: verify (nothing to verify when nothing changed: the state read above matched).
  if (changes.length === 0) {
    log('verified', { namespaces: props.namespaces.map((n) => n.name), searchAttributes: props.searchAttributes.length, unchanged: true });
    return changes;
  }
  for (const spec of props.namespaces) {
    const state = await describe(connection, spec.name, deadline, log);
    if (!state) throw new Error(`namespace ${spec.name} is missing after it was applied`);
    const left = planNamespaceUpdate(spec, state, props.archivalUri);
    if (left) {
      const archivalHint = left.changes.some((c) => c.includes('archival on'))
        ? ' (the server ignores archival requests when archival is not configured on it: check the server\'s archival settings)'
        : '';
      throw new Error(`namespace ${spec.name} still differs from the configuration after UpdateNamespace: ${left.changes.join(', ')}${archivalHint}`);
    }
  }
  const stillMissing = await checkConflicts(saNamespaces);
  if (stillMissing.size) {
    const list = [...stillMissing].map(([ns, add]) => `${ns}: ${Object.keys(add).join(', ')}`).join('; ');
    throw new Error(`search attributes still missing after AddSearchAttributes: ${list}`);
  }
  log('verified', { namespaces: props.namespaces.map((n) => n.name), searchAttributes: props.searchAttributes.length });
  return changes;
}
