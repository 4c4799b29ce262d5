/**
 * What the custom-resource handlers bundled with `NodejsFunction` share: a deterministic asset hash
 * and the esbuild options (local esbuild, never Docker; everything bundled, the AWS SDK included,
 * so the code that runs is the code tested).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { hashDirectory } from '../lambda/dsql/schema/schema-dir';
import { REPO_ROOT } from './repo-root';

let lockFile: Buffer | undefined;

/**
 * SHA-256 over `<name>/1\0`, the handler directory's sources (file contents and relative paths) and
 * package-lock.json (which pins the handler's dependencies and esbuild). Same inputs, same hash, on
 * any machine. The lock file is read once per process.
 * @param name the handler's name, e.g. `temporal-namespaces-handler` (part of the hash)
 * @param handlerDir absolute path of the handler's source directory
 */
export function handlerAssetHash(name: string, handlerDir: string): string {
  lockFile ??= readFileSync(join(REPO_ROOT, 'package-lock.json'));
  return createHash('sha256').update(`${name}/1\0`).update(hashDirectory(handlerDir)).update(lockFile).digest('hex');
}

/**
 * esbuild options of a handler: CommonJS for Node 24, minified, with source maps (without sources)
 * for `--enable-source-maps`, nothing external.
 * @param assetHash the bundle's asset hash ({@link handlerAssetHash})
 */
export function handlerBundling(assetHash: string): BundlingOptions {
  return {
    forceDockerBundling: false,
    format: OutputFormat.CJS,
    target: 'node24',
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    externalModules: [],
    assetHash,
  };
}
