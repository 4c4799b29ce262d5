/**
 * Shared helpers of the CDK tests: the app built exactly as bin/app.ts builds it (same cdk.json
 * context and feature flags), with a temporary numHistoryShards lock directory and an explicit
 * registry image so that the tests do not depend on docker/temporal-server/Dockerfile.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { PlatformConfigInput } from '../../lib/config';
import { createPlatformApp, PlatformApp } from '../../lib/app';

export const REPO = path.resolve(__dirname, '..', '..');

/** Image used by the tests instead of the project's image asset. */
export const TEST_SERVER_IMAGE = '000000000000.dkr.ecr.us-east-1.amazonaws.com/temporal-dsql:1.31.2';

/**
 * The `context` of cdk.json (feature flags), without `env`; version reporting off for stable
 * templates. `quick` also turns off aws-cdk-lib's built-in template validation (about 6 s per
 * synth) and Lambda bundling, for the auxiliary synths whose templates the full prod/dev synths
 * (bundled and validated) already cover.
 */
export function cdkJsonContext(options: { quick?: boolean } = {}): Record<string, unknown> {
  const ctx = { ...JSON.parse(fs.readFileSync(path.join(REPO, 'cdk.json'), 'utf8')).context };
  delete ctx.env;
  ctx['aws:cdk:version-reporting'] = false;
  if (options.quick) {
    ctx['@aws-cdk/core:validateAgainstDefaultRules'] = false;
    // No esbuild bundling of the five Lambda handlers (a second or two per synth): the asset
    // hashes are computed from the sources either way, so the templates are the same.
    ctx['aws:cdk:bundling-stacks'] = [];
  }
  return ctx;
}

/** A fresh temporary directory (removed by the OS; tests clean up what they can). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `temporal-cdk-${prefix}-`));
}

/**
 * Builds the app of one environment as bin/app.ts does (cdk-nag not registered unless asked),
 * with the environment's `serverImage` set to {@link TEST_SERVER_IMAGE} and a fresh lock directory.
 */
export function buildApp(envName: string, environments: Record<string, PlatformConfigInput>, options: {
  nag?: boolean; outdir?: string; quick?: boolean;
} = {}): PlatformApp {
  return createPlatformApp({
    environments: { ...environments, [envName]: { ...environments[envName], serverImage: TEST_SERVER_IMAGE } },
    envName,
    lockDir: tempDir('lock'),
    nag: options.nag ?? false,
    appProps: { context: cdkJsonContext({ quick: options.quick }), outdir: options.outdir ?? tempDir('out') },
  });
}

const ASSET_HASH = /[a-f0-9]{64}/g;

/**
 * Replaces the hashes of bundled assets (Lambda code zips under `S3Key`, container images in the
 * CDK container-assets repository) with a fixed marker: they change with the bundler's output,
 * the aws-cdk-lib version and the machine. Every other hash stays, in particular the schema
 * resource's and the visibility index's `ContentHash` (SHA-256 of the schema SQL and of the index
 * template, computed from file contents and relative paths only), so that a schema or template
 * edit shows in the snapshot diff.
 */
export function redactAssetHashes<T>(template: T): T {
  const redact = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') {
      if (key === 'S3Key' || value.includes('container-assets')) return value.replace(ASSET_HASH, 'REDACTED_ASSET_HASH');
      return value;
    }
    if (Array.isArray(value)) return value.map((v) => redact(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
    }
    return value;
  };
  return redact(template) as T;
}

/**
 * Synthesizes the prod app through the real CDK CLI exactly as the README's main job runs it
 * (cdk.json, bin/app.ts, cdk-nag registered), with {@link TEST_SERVER_IMAGE} so that no Dockerfile
 * is built, into `outdir`; returns the paths of the `*.template.json` files written there.
 * Throws (with the CLI's output) when synth fails. Shared by the cfn-lint and checkov suites.
 */
export function synthProdWithCli(outdir: string): string[] {
  const cdk = path.join(REPO, 'node_modules', '.bin', 'cdk');
  execFileSync(cdk, ['synth', '-c', 'env=prod', '-c', `serverImage=${TEST_SERVER_IMAGE}`, '-o', outdir, '--quiet'], {
    cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
  });
  return templatesIn(outdir);
}

/** The `*.template.json` files directly in `dir` (absolute paths). */
export function templatesIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(dir, f));
}
