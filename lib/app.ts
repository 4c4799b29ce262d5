import * as path from 'path';
import { App, AppProps, Stack, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, PlatformConfig, PlatformConfigInput, resolveConfig } from './config';
import { REPO_ROOT, TemporalPlatformStack } from './platform-stack';
import { checkShardLock, ShardLockResult } from './dsql/shard-lock';
import { TemporalClusterOnlyStack } from './multi-region/cluster-stack';
import { MultiRegionConfig, resolveMultiRegion } from './multi-region/config';
import { standbyConfig } from './multi-region/standby';

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
  return buildPlatformApp(options, selectEnvironment(options));
}

type Selected = { app: App; envName: string; input: PlatformConfigInput };

function buildPlatformApp(options: PlatformAppOptions, { app, envName, input }: Selected): PlatformApp {
  if (input.multiRegion !== undefined) {
    throw new ConfigError(`${envName}.multiRegion`, input.multiRegion, 'nothing for createPlatformApp (one stack); build a multi-Region environment with createApp or createMultiRegionApp');
  }
  const config = resolveConfig(envName, input);
  if (app.node.tryGetContext('multiRegionPhase') !== undefined) {
    throw new ConfigError('context multiRegionPhase', app.node.tryGetContext('multiRegionPhase'), `nothing: environment ${envName} has no multiRegion section`);
  }
  const lock = checkShardLock(options.lockDir ?? path.join(REPO_ROOT, 'config'), envName, config.numHistoryShards);
  const stack = new TemporalPlatformStack(app, `Temporal-${envName}`, { config, serverImage: options.serverImage });
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, stack, config, lock };
}

/** The App, the environment's name and its input (`-c serverImage=<uri>` applied: e.g. a tag built by CI). */
function selectEnvironment(options: PlatformAppOptions): Selected {
  const app = new App(options.appProps);
  const envName: string = options.envName ?? app.node.tryGetContext('env') ?? 'dev';
  const input = options.environments[envName];
  if (input === undefined) {
    throw new ConfigError('env', envName, `one of ${Object.keys(options.environments).join(', ')} (config/<name>.ts, listed in config/index.ts)`);
  }
  const imageOverride: unknown = app.node.tryGetContext('serverImage');
  return { app, envName, input: imageOverride === undefined ? input : { ...input, serverImage: imageOverride as string } };
}

/** One Region's stack of a multi-Region app. */
export interface RegionStack {
  readonly region: string;
  readonly role: 'active' | 'standby';
  /** The Region's resolved configuration (the standby's with its services at 0, lib/multi-region/standby.ts). */
  readonly config: PlatformConfig;
  /** `Temporal-<env>-<region>`: the cluster-only stack in phases `witness` and `peer`, the platform in phase `platform`. */
  readonly stack: TemporalPlatformStack | TemporalClusterOnlyStack;
}

/** What {@link createMultiRegionApp} built. */
export interface MultiRegionApp {
  readonly app: App;
  readonly multiRegion: MultiRegionConfig;
  /** `[active, standby]`. */
  readonly regions: readonly RegionStack[];
  /** The active Region's configuration (numHistoryShards, envName: the same in both). */
  readonly config: PlatformConfig;
  readonly lock: ShardLockResult;
}

/**
 * Builds the app of a multi-Region environment (`multiRegion` set): one stack per Region,
 * `Temporal-<env>-<region>`, in the deploy phase given by `-c multiRegionPhase` (lib/multi-region/config.ts):
 * cluster-only stacks in `witness` and `peer`, the platform in `platform` (the default), the standby
 * stack then depending on the active one so that `cdk deploy --all` runs the active Region's schema
 * job first. Each Region's input is resolved and checked on its own (`resolveConfig`).
 *
 * @throws ConfigError for an unknown environment, invalid configuration or a phase the configuration does not allow
 * @throws Error when numHistoryShards differs from the lock, or the server image is missing
 */
export function createMultiRegionApp(options: PlatformAppOptions): MultiRegionApp {
  return buildMultiRegionApp(options, selectEnvironment(options));
}

function buildMultiRegionApp(options: PlatformAppOptions, { app, envName, input }: Selected): MultiRegionApp {
  const p = (f: string) => `${envName}.${f}`;
  if (input.multiRegion === undefined) throw new ConfigError(p('multiRegion'), undefined, 'a multiRegion section for createMultiRegionApp');
  const { multiRegion, regions: plans } = resolveMultiRegion(p, input, app.node.tryGetContext('multiRegionPhase'));
  const regions: RegionStack[] = plans.map((plan) => {
    const resolved = resolveConfig(envName, plan.input);
    const config = plan.role === 'standby' ? standbyConfig(resolved, multiRegion.standbyUiDesiredCount) : resolved;
    const peerRegion = plan.role === 'active' ? multiRegion.standby : multiRegion.active;
    const stackProps = {
      config,
      multiRegion: {
        role: plan.role, peerRegion, witnessRegion: multiRegion.witnessRegion,
        clusterArns: multiRegion.clusterArns && [multiRegion.clusterArns[multiRegion.active], multiRegion.clusterArns[multiRegion.standby]],
      },
    };
    const id = `Temporal-${envName}-${plan.region}`;
    const stack = multiRegion.phase === 'platform'
      ? new TemporalPlatformStack(app, id, { ...stackProps, serverImage: options.serverImage })
      : new TemporalClusterOnlyStack(app, id, stackProps);
    return { region: plan.region, role: plan.role, config, stack };
  });
  // Deploy order only (no cross-Region reference): the standby's schema job after the active's.
  if (multiRegion.phase === 'platform') regions[1].stack.addStackDependency(regions[0].stack, 'the active Region deploys first');
  const config = regions[0].config;
  const lock = checkShardLock(options.lockDir ?? path.join(REPO_ROOT, 'config'), envName, config.numHistoryShards);
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, multiRegion, regions, config, lock };
}

/**
 * The app of the environment `-c env=<name>` selects, single- or multi-Region (bin/app.ts).
 * @returns the app, the (active Region's) configuration, the shard lock result and every stack
 */
export function createApp(options: PlatformAppOptions): { app: App; config: PlatformConfig; lock: ShardLockResult; stacks: Stack[] } {
  const selected = selectEnvironment(options);
  if (selected.input.multiRegion !== undefined) {
    const mr = buildMultiRegionApp(options, selected);
    return { app: mr.app, config: mr.config, lock: mr.lock, stacks: mr.regions.map((r) => r.stack) };
  }
  const single = buildPlatformApp(options, selected);
  return { app: single.app, config: single.config, lock: single.lock, stacks: [single.stack] };
}
