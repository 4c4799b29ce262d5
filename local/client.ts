/**
 * How an SDK client reaches a local stack's frontend, and the `default` namespace every stack creates.
 */
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { waitFor } from './process';

/**
 * How an SDK client reaches the local stack's frontend: the address and, when the stack runs with
 * TLS or frontend authorization, the TLS settings and the request metadata (`authorization:
 * Bearer <token>`). Assignable to both `Connection.connect` (@temporalio/client) and
 * `NativeConnection.connect` (@temporalio/worker) options.
 */
export interface LocalClientOptions {
  /** Frontend gRPC address, `127.0.0.1:<port>`. */
  readonly address: string;
  /** TLS settings (server CA, optional client certificate pair); absent when the frontend is plain gRPC. */
  readonly tls?: {
    readonly serverNameOverride?: string;
    readonly serverRootCACertificate?: Buffer;
    readonly clientCertPair?: { readonly crt: Buffer; readonly key: Buffer };
  };
  /** gRPC metadata sent with every call (the bearer token when authorization is on). */
  readonly metadata?: Record<string, string>;
}

/**
 * Registers `namespace` (retention 1 day) unless it exists, and waits until the frontend serves it.
 * @throws Error when the frontend does not accept it within `timeoutMs`
 */
export async function ensureNamespace(
  target: string | LocalClientOptions,
  namespace: string,
  timeoutMs = 60_000,
): Promise<void> {
  const options: LocalClientOptions = typeof target === 'string' ? { address: target } : target;
  const address = options.address;
  const connection = await Connection.connect(options);
  try {
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs('1 day'),
        description: 'Created by the local stack',
      });
    } catch (e) {
      // 6 = ALREADY_EXISTS
      if ((e as { code?: number }).code !== 6) throw e;
    }
    await waitFor(
      `namespace ${namespace} on ${address}`,
      async () => {
        await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
        return true;
      },
      { timeoutMs, intervalMs: 500 },
    );
  } finally {
    await connection.close();
  }
}

