/**
 * A loopback HTTP proxy that forwards every request to a real server and records the method, path
 * and headers it saw. Used to check that the handler's requests are SigV4-signed: the local
 * OpenSearch node behind it ignores signatures, so only the proxy can tell.
 */
import { createServer, request as httpRequest, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** One request as the proxy received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Set when the proxy answered with an injected fault instead of forwarding. */
  readonly injectedStatus?: number;
  /** The upstream's HTTP status, once it answered. */
  status?: number;
}

/** A running proxy. */
export interface RecordingProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Requests seen so far, in order. */
  readonly requests: RecordedRequest[];
  /** Queue statuses to answer the next requests with, one per request. */
  injectFaults(statuses: number[]): void;
  /** Drop queued faults. */
  clearFaults(): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 and a free port, forwarding to `target` (e.g. `http://127.0.0.1:41234`).
 * `proxy.injectFaults([429, 503])` makes the next requests fail with those statuses (one each, in
 * order) without reaching the server: the transient errors a managed domain returns under load.
 * `opts.authorization` replaces the Authorization header of forwarded requests (the SigV4 one stays in
 * `requests`), so a signed client can act as an internal user of a node with the security plugin.
 */
export async function startRecordingProxy(target: string, opts: { authorization?: string } = {}): Promise<RecordingProxy> {
  const t = new URL(target);
  const requests: RecordedRequest[] = [];
  const faults: number[] = [];
  const server: Server = createServer((req, res) => {
    const fault = faults.shift();
    const record: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, injectedStatus: fault };
    requests.push(record);
    if (fault !== undefined) {
      req.resume();
      res.writeHead(fault, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'injected_fault', reason: `injected HTTP ${fault}` }, status: fault }));
      return;
    }
    const upstream = httpRequest(
      {
        host: t.hostname, port: t.port, method: req.method, path: req.url,
        // A secured node cannot check SigV4: the proxy swaps in the stand-in's basic credentials (recorded as sent).
        headers: opts.authorization ? { ...req.headers, authorization: opts.authorization } : req.headers,
      },
      (up) => {
        record.status = up.statusCode;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${e.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    injectFaults: (statuses) => faults.push(...statuses),
    clearFaults: () => faults.splice(0),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
