/**
 * Where the tasks pull the images they do not build: the Temporal UI (Docker Hub `temporalio/ui`)
 * and the metrics collector (ECR Public `aws-observability/aws-otel-collector`).
 *
 * - `public`: each task pulls from the upstream registry through the NAT gateways (development:
 *   Docker Hub allows anonymous pulls at a low hourly rate per address).
 * - `pullThroughCache`: the stack creates ECR pull-through cache rules and every task pulls
 *   `<account>.dkr.ecr.<region>.amazonaws.com/<env>/<registry>/<repository>:<tag>` (or `@<digest>`)
 *   from the account's own ECR, through the ecr.api/ecr.dkr endpoints and the S3 gateway; on the
 *   first pull of an image ECR fetches it from the upstream registry itself and creates the
 *   repository. Docker Hub needs a credential (a Secrets Manager secret whose name starts with
 *   `ecr-pullthroughcache/`); ECR Public needs none. Source: Amazon ECR User Guide, "Sync an
 *   upstream registry with an Amazon ECR private registry", "Creating a pull through cache rule" and
 *   "IAM permissions required to sync an upstream registry" (ecr:BatchImportUpstreamImage and
 *   ecr:CreateRepository for the puller on the first pull).
 *
 * Production always uses `pullThroughCache` (synth refuses `public`), so no task start depends on a
 * public registry's availability or rate limit.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { checkKeys, ConfigError, oneOf, optObject, regionOfArn } from '../config-checks';

/** A sha256 image digest as registries print it. */
export const IMAGE_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** The registries an image reference can name. */
export type ImageRegistry = 'docker-hub' | 'ecr-public' | 'ecr-private' | 'other';

/** An image reference split into registry, repository, tag and digest. */
export interface ImageRef {
  /** Which registry serves it. */
  readonly registry: ImageRegistry;
  /** Host name as written (`docker.io` for a reference without one). */
  readonly host: string;
  /** Repository path in that registry (Docker Hub official images get their `library/` prefix). */
  readonly repository: string;
  /** Tag, when given. */
  readonly tag?: string;
  /** `sha256:<hex>` digest, when given. */
  readonly digest?: string;
}

/**
 * Splits an image reference (`[host/]repo[:tag][@sha256:...]`). A first path part with a dot, a
 * colon or `localhost` is a host (Docker's rule); without one the image is on Docker Hub.
 * @throws Error when the reference has no repository
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const parts = rest.split('/');
  let host = 'docker.io';
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost')) host = parts.shift()!;
  let last = parts.pop() ?? '';
  let tag: string | undefined;
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    last = last.slice(0, colon);
  }
  parts.push(last);
  let repository = parts.join('/');
  if (!last) throw new Error(`image reference ${JSON.stringify(ref)} has no repository`);
  let registry: ImageRegistry = 'other';
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) {
    registry = 'docker-hub';
    if (!repository.includes('/')) repository = `library/${repository}`;
  } else if (host === 'public.ecr.aws') {
    registry = 'ecr-public';
  } else if (/^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(host)) {
    registry = 'ecr-private';
  }
  return { registry, host, repository, tag, digest };
}

/** The `images` section of an environment. */
export interface ImagesInput {
  /**
   * Where the UI and collector images come from: `public` (their upstream registries, through the
   * NAT gateways) or `pullThroughCache` (ECR pull-through cache rules in this account; lib/services/images.ts).
   * An environment marked `production` must use `pullThroughCache`.
   * @default - 'pullThroughCache' in production, 'public' otherwise
   */
  readonly source?: 'public' | 'pullThroughCache';
  /**
   * Secrets Manager secret ARN (name starting with `ecr-pullthroughcache/`, same account and Region
   * as the stack) holding a Docker Hub user name and access token: ECR's Docker Hub pull-through
   * rule requires one. Needed with `pullThroughCache` while the UI image is on Docker Hub.
   * @default - none
   */
  readonly dockerHubCredentialArn?: string;
  /** Digest the UI image is pinned to, `sha256:<64 hex>` (with `uiVersion`; `uiImage` carries its own). @default - the tag only */
  readonly uiDigest?: string;
  /** Digest the collector image is pinned to, `sha256:<64 hex>`. @default - the tag only */
  readonly collectorDigest?: string;
}

/** The resolved image sources. */
export interface ImagesConfig {
  readonly source: 'public' | 'pullThroughCache';
  readonly dockerHubCredentialArn?: string;
  /** The UI reference as pulled upstream (tag and, when pinned, digest). */
  readonly uiImage: string;
  /** The collector reference as pulled upstream. */
  readonly collectorImage: string;
}

const CREDENTIAL_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:ecr-pullthroughcache\/[A-Za-z0-9/_+=.@-]+$/;

function withDigest(p: (f: string) => string, field: string, imageField: string, image: string, digest: unknown): string {
  if (digest === undefined) return image;
  if (typeof digest !== 'string' || !IMAGE_DIGEST.test(digest)) {
    throw new ConfigError(p(field), digest, 'an image digest sha256:<64 lowercase hex digits> (e.g. from `docker buildx imagetools inspect <image>:<tag>`)');
  }
  if (parseImageRef(image).digest !== undefined) {
    throw new ConfigError(p(field), digest, `unset while ${imageField} carries a digest of its own (${image})`);
  }
  return `${image}@${digest}`;
}

/**
 * Resolves the `images` section: the source, the Docker Hub credential and the digests, applied to
 * the UI and collector references resolved elsewhere.
 * @param refs the resolved `uiImage`, `observability.collectorImage` and `serverImage`, and whether the collector runs
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveImageSources(p: (f: string) => string, input: unknown, refs: {
  readonly uiImage: string; readonly collectorImage: string; readonly collectorUsed: boolean; readonly serverImage?: string;
  readonly production: boolean; readonly region?: string;
}): ImagesConfig {
  const i = optObject(p('images'), input);
  checkKeys(p('images'), i, ['source', 'dockerHubCredentialArn', 'uiDigest', 'collectorDigest']);
  const source = oneOf(p('images.source'), i.source, ['public', 'pullThroughCache'] as const, refs.production ? 'pullThroughCache' : 'public');
  if (refs.production && source === 'public') {
    throw new ConfigError(p('images.source'), source,
      "'pullThroughCache' in an environment marked production (tasks must not depend on a public registry's availability or rate limit at start)");
  }
  const uiImage = withDigest(p, 'images.uiDigest', 'uiImage', refs.uiImage, i.uiDigest);
  const collectorImage = withDigest(p, 'images.collectorDigest', 'observability.collectorImage', refs.collectorImage, i.collectorDigest);
  const cred = i.dockerHubCredentialArn;
  if (cred !== undefined) {
    if (typeof cred !== 'string' || !CREDENTIAL_ARN.test(cred)) {
      throw new ConfigError(p('images.dockerHubCredentialArn'), cred,
        'a Secrets Manager secret ARN arn:aws:secretsmanager:<region>:<account>:secret:ecr-pullthroughcache/<name> (ECR only accepts secrets with that name prefix)');
    }
    if (refs.region && regionOfArn(cred) !== refs.region) {
      throw new ConfigError(p('images.dockerHubCredentialArn'), cred, `a secret in the stack's Region ${refs.region} (a pull-through rule reads its secret in its own Region)`);
    }
    if (source === 'public') throw new ConfigError(p('images.dockerHubCredentialArn'), cred, "unset while images.source is 'public' (only pull-through rules use it)");
  }
  if (source === 'pullThroughCache') {
    const used: Array<[string, string]> = [['uiImage', uiImage]];
    if (refs.collectorUsed) used.push(['observability.collectorImage', collectorImage]);
    for (const [field, ref] of used) {
      const r = parseImageRef(ref);
      if (r.registry === 'other') {
        throw new ConfigError(p(field), ref, "an image on Docker Hub, ECR Public or this account's ECR while images.source is 'pullThroughCache' (the registries this stack creates pull-through rules for)");
      }
      if (r.registry === 'docker-hub' && cred === undefined) {
        throw new ConfigError(p('images.dockerHubCredentialArn'), cred,
          `a Secrets Manager secret ARN (name ecr-pullthroughcache/...) with a Docker Hub access token: ${field} ${ref} is on Docker Hub, and ECR's Docker Hub pull-through rule requires a credential`);
      }
    }
    if (refs.production && refs.serverImage !== undefined && parseImageRef(refs.serverImage).registry !== 'ecr-private') {
      throw new ConfigError(p('serverImage'), refs.serverImage,
        "an ECR image (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>) or no serverImage (built into the CDK asset repository) in an environment marked production (no public registry at task start)");
    }
  }
  return { source, ...(cred !== undefined ? { dockerHubCredentialArn: cred as string } : {}), uiImage, collectorImage };
}

/** The ECR repository prefix of the pull-through rule of `registry` for environment `envName`. */
export function pullThroughPrefix(envName: string, registry: 'docker-hub' | 'ecr-public'): string {
  return `${envName}/${registry}`;
}

/** ECR's pattern of a repository prefix (CreatePullThroughCacheRule API reference). */
const PREFIX_PATTERN = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Properties of {@link TemporalImageSource}. */
export interface TemporalImageSourceProps {
  /** Environment name: the repository prefix of the cached images (`<env>/docker-hub`, `<env>/ecr-public`). */
  readonly envName: string;
  /** The resolved `images` section. */
  readonly config: ImagesConfig;
}

/**
 * Turns image references into container images according to `images.source`, creating the ECR
 * pull-through cache rules the references need (one per upstream registry, only when used).
 *
 * A cached image's container grants its task's execution role, on that one repository only,
 * the pull actions and, for the first pull, `ecr:BatchImportUpstreamImage` and `ecr:CreateRepository`
 * (plus `ecr:GetAuthorizationToken`, which has no resource); and the task definition depends on
 * the rule, so no task starts before the rule exists.
 */
export class TemporalImageSource extends Construct {
  /** The pull-through cache rules created, by upstream registry. */
  public readonly rules: Partial<Record<'docker-hub' | 'ecr-public', ecr.CfnPullThroughCacheRule>> = {};
  private readonly envName: string;
  private readonly config: ImagesConfig;
  private imported = 0;

  constructor(scope: Construct, id: string, props: TemporalImageSourceProps) {
    super(scope, id);
    this.envName = props.envName;
    this.config = props.config;
    for (const registry of ['docker-hub', 'ecr-public'] as const) {
      const prefix = pullThroughPrefix(props.envName, registry);
      if (!PREFIX_PATTERN.test(prefix) || prefix.length > 30) {
        throw new Error(`environment name ${JSON.stringify(props.envName)} gives the ECR repository prefix ${JSON.stringify(prefix)}, which ECR refuses (2-30 characters, lowercase letters and digits separated by single '.', '_', '-' or '/')`);
      }
    }
  }

  /**
   * The container image for `ref`: pulled from its registry with `source: 'public'` (or when it
   * already is an ECR URI), else through this account's pull-through cache.
   * @throws Error for a reference the cache does not serve (resolveImageSources refuses those first)
   */
  public containerImage(ref: string): ecs.ContainerImage {
    const r = parseImageRef(ref);
    if (r.registry === 'ecr-private') {
      // Already in ECR: pulled from there, with pull permissions on that repository only.
      const [account, , , region] = r.host.split('.');
      const repository = ecr.Repository.fromRepositoryAttributes(this, `Repository${++this.imported}`, {
        repositoryName: r.repository,
        repositoryArn: `arn:${r.host.endsWith('.cn') ? 'aws-cn' : 'aws'}:ecr:${region}:${account}:repository/${r.repository}`,
      });
      return ecs.ContainerImage.fromEcrRepository(repository, r.digest ?? r.tag);
    }
    if (this.config.source === 'public') return ecs.ContainerImage.fromRegistry(ref);
    if (r.registry === 'other') throw new Error(`${ref}: no pull-through cache rule serves ${r.host}`);
    return new PullThroughCacheImage(this.rule(r.registry), `${pullThroughPrefix(this.envName, r.registry)}/${r.repository}`, r.digest ?? r.tag ?? 'latest');
  }

  private rule(registry: 'docker-hub' | 'ecr-public'): ecr.CfnPullThroughCacheRule {
    const existing = this.rules[registry];
    if (existing) return existing;
    const rule = new ecr.CfnPullThroughCacheRule(this, registry === 'docker-hub' ? 'DockerHubRule' : 'EcrPublicRule', {
      ecrRepositoryPrefix: pullThroughPrefix(this.envName, registry),
      upstreamRegistry: registry,
      upstreamRegistryUrl: registry === 'docker-hub' ? 'registry-1.docker.io' : 'public.ecr.aws',
      ...(registry === 'docker-hub' ? { credentialArn: this.config.dockerHubCredentialArn } : {}),
    });
    this.rules[registry] = rule;
    return rule;
  }
}

/** An image in a pull-through cache repository of this account (see {@link TemporalImageSource}). */
class PullThroughCacheImage extends ecs.ContainerImage {
  constructor(private readonly rule: ecr.CfnPullThroughCacheRule, private readonly repositoryName: string, private readonly tagOrDigest: string) {
    super();
  }

  public bind(scope: Construct, containerDefinition: ecs.ContainerDefinition): ecs.ContainerImageConfig {
    const stack = Stack.of(scope);
    const repositoryArn = stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: this.repositoryName });
    const role = containerDefinition.taskDefinition.obtainExecutionRole();
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'],
      resources: [repositoryArn],
    }));
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken (pulling from the ECR pull-through cache) has no resource-level permissions; the pull and import actions are scoped to the one repository.',
    });
    containerDefinition.taskDefinition.node.addDependency(this.rule);
    const sep = this.tagOrDigest.startsWith('sha256:') ? '@' : ':';
    return { imageName: `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${this.repositoryName}${sep}${this.tagOrDigest}` };
  }
}
