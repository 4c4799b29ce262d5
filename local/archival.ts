/**
 * Archival settings of the local stack's server: the same `archival` and `namespaceDefaults`
 * blocks that docker/temporal-server/config/config_template.yaml renders from `ARCHIVAL_S3_URI`,
 * `ARCHIVAL_S3_REGION` and `ARCHIVAL_S3_ENDPOINT` (upstream's s3store archiver), for the config
 * file the local stack writes itself (local/server-config.ts `writeServerConfig`).
 */

/** Where the local server archives closed workflows (upstream's s3store archiver). */
export interface LocalArchivalOptions {
  /**
   * Archiver URI, `s3://<bucket>[/<prefix>]`, for history and visibility and the namespaces'
   * default. The bucket must exist before the stack starts: the frontend checks it (HeadBucket)
   * whenever a namespace is registered with archival on, including the stack's `default`.
   */
  readonly uri: string;
  /** Region the S3 requests are signed for. */
  readonly region: string;
  /**
   * An S3-compatible endpoint, e.g. `http://127.0.0.1:<port>` of a moto server (tests only);
   * requests are then path-style. @default - Amazon S3's regional endpoint
   */
  readonly endpoint?: string;
}

/**
 * The server config keys for archival to `a` (history and visibility on, read back by the
 * frontend, new namespaces archiving to `a.uri` by default), shaped as upstream's
 * `config.Archival` and `config.NamespaceDefaults` YAML.
 * @throws Error when `a.uri` is not an `s3://` URI or `a.region` is empty (the template's own checks)
 */
export function archivalServerConfig(a: LocalArchivalOptions): { archival: unknown; namespaceDefaults: unknown } {
  if (!/^s3:\/\/[^/]+/.test(a.uri)) throw new Error(`archival uri '${a.uri}' must be s3://<bucket>[/<prefix>]`);
  if (!a.region) throw new Error('archival region is required: the bucket\'s Region');
  const s3store = { region: a.region, ...(a.endpoint ? { endpoint: a.endpoint, s3ForcePathStyle: true } : {}) };
  const on = { state: 'enabled', enableRead: true, provider: { s3store } };
  return {
    archival: { history: on, visibility: on },
    namespaceDefaults: { archival: { history: { state: 'enabled', URI: a.uri }, visibility: { state: 'enabled', URI: a.uri } } },
  };
}

