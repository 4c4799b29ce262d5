import * as path from 'path';
import { App, AppProps, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, PlatformConfig, PlatformConfigInput, resolveConfig } from './config';
import { REPO_ROOT, TemporalPlatformStack } from './platform-stack';
import { checkShardLock, ShardLockResult } from './dsql/shard-lock';

/** Options of {@link createPlatformApp}. */
export interface PlatformAppOptions {
  /** The selectable environments (name to input). */
  readonly environments: Readonly<Record<string, PlatformConfigInput>>;
  /** Environment to synthesize. @default - context `env`, else 'dev' */
  readonly envName?: string;
  /** Directory of the `<env>.lock.json` files. @default `<repo>/config` */
  readonly lockDir?: string;
  /** Props of the App (outdir, context). @default {} */
  readonly appProps?: AppProps;
  /** Server image, overriding the configuration (e.g. an image built elsewhere in the app). @default - from the configuration */
  readonly serverImage?: ecs.ContainerImage;
  /** Register cdk-nag's AwsSolutions checks (synth fails on unacknowledged findings). @default true */
  readonly nag?: boolean;
}

/** What {@link createPlatformApp} built. */
export interface PlatformApp {
  readonly app: App;
  readonly stack: TemporalPlatformStack;
  readonly config: PlatformConfig;
  /** Whether the numHistoryShards lock matched or was created by this synth. */
  readonly lock: ShardLockResult;
}

/**
 * Builds the CDK app of one environment: resolves and validates its configuration (context
 * `serverImage` overrides the environment's `serverImage`), checks
 * `numHistoryShards` against `<lockDir>/<env>.lock.json`, creates the stack `Temporal-<env>` and
 * registers cdk-nag's AwsSolutions checks.
 *
 * @throws ConfigError for an unknown environment or invalid configuration
 * @throws Error when numHistoryShards differs from the lock, or the server image is missing
 */
export function createPlatformApp(options: PlatformAppOptions): PlatformApp {
  const app = new App(options.appProps);
  const envName: string = options.envName ?? app.node.tryGetContext('env') ?? 'dev';
  const input = options.environments[envName];
  if (input === undefined) {
    throw new ConfigError('env', envName, `one of ${Object.keys(options.environments).join(', ')} (config/<name>.ts, listed in config/index.ts)`);
  }
  // `-c serverImage=<uri>` overrides the environment's image (e.g. a tag built by CI).
  const imageOverride: unknown = app.node.tryGetContext('serverImage');
  const config = resolveConfig(envName, imageOverride === undefined ? input : { ...input, serverImage: imageOverride as string });
  const lock = checkShardLock(options.lockDir ?? path.join(REPO_ROOT, 'config'), envName, config.numHistoryShards);
  const stack = new TemporalPlatformStack(app, `Temporal-${envName}`, { config, serverImage: options.serverImage });
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, stack, config, lock };
}
