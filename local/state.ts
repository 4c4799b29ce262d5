/**
 * The CLI stack's state file (`<dir>/stack.json`) and the process tree it records, shared by the
 * dsql-local mode (local/cli.ts) and the real-cluster mode (local/real-cluster.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Contents of <dir>/stack.json while a CLI stack runs. */
export interface StackState {
  /** Pid of the orchestrator (the `npm run local` Node process). */
  readonly pid: number;
  readonly startedAt: string;
  readonly temporalAddress: string;
  readonly uiUrl?: string;
  readonly openSearchUrl: string;
  readonly visibilityIndex: string;
  readonly dsqlEndpoint: string;
  /** Direct children of the orchestrator (dsql-local, OpenSearch JVM, server, UI) at start-up. */
  readonly children: ReadonlyArray<{ readonly pid: number; readonly command: string }>;
  /**
   * Authenticated mode: the SDK environment configuration a client needs (TEMPORAL_TLS_SERVER_CA_CERT_PATH,
   * TEMPORAL_TLS_SERVER_NAME) and the file holding an admin token for TEMPORAL_API_KEY (0600).
   */
  readonly clientEnv?: Readonly<Record<string, string>>;
  readonly tokenFile?: string;
}

/** Direct children of `pid` with their command lines (Linux /proc). */
export function childrenOf(pid: number): Array<{ pid: number; command: string }> {
  const out: Array<{ pid: number; command: string }> = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let list = '';
    try {
      list = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of list.split(/\s+/).filter(Boolean)) {
      let command = '';
      try {
        command = readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
      } catch {
        continue;
      }
      out.push({ pid: Number(c), command });
    }
  }
  return out;
}

export function readState(dir: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

