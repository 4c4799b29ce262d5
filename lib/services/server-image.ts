import * as fs from 'fs';
import * as path from 'path';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';

/** Files in `docker/temporal-server/` that never go into the image build context. */
export const SERVER_IMAGE_ASSET_EXCLUDES: readonly string[] = [
  '**/*_test.go',
  '**/testdata',
  '**/.cache',
  '**/.local',
  '**/*.log',
  '**/*.test',
  'bin',
  'dist',
  'coverage',
  'imagetest', // a Go module of its own that tests this Dockerfile; nothing in it is built into the image
];

const ECR_URI = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\/([a-z0-9._\-/]+)(?::([A-Za-z0-9_][A-Za-z0-9_.-]*)|@(sha256:[a-f0-9]{64}))$/;

/**
 * Chooses the Temporal server image.
 *
 * - `image` given: an ECR URI (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` or `@sha256:`)
 *   becomes `ContainerImage.fromEcrRepository`, so the execution role gets pull permissions; any
 *   other reference is pulled from its registry.
 * - no `image`: the project's own image is built from `<contextDir>/Dockerfile` as a CDK asset for
 *   `platform` (default linux/arm64; synth only hashes the directory, `cdk deploy` builds and pushes it).
 *
 * @param scope scope for the imported ECR repository
 * @param image the environment's `serverImage`, if any
 * @param contextDir the image build context (`docker/temporal-server`)
 * @param platform platform of an image built from the Dockerfile
 * @throws Error when no image is configured and `<contextDir>/Dockerfile` does not exist
 */
export function resolveServerImage(
  scope: Construct,
  image: string | undefined,
  contextDir: string,
  platform: Platform = Platform.LINUX_ARM64,
): ecs.ContainerImage {
  if (image !== undefined) {
    const m = ECR_URI.exec(image);
    if (m) {
      const [, account, region, china, repo, tag, digest] = m;
      const partition = china ? 'aws-cn' : 'aws';
      const repository = ecr.Repository.fromRepositoryAttributes(scope, 'ServerImageRepository', {
        repositoryName: repo,
        repositoryArn: `arn:${partition}:ecr:${region}:${account}:repository/${repo}`,
      });
      return ecs.ContainerImage.fromEcrRepository(repository, tag ?? digest);
    }
    return ecs.ContainerImage.fromRegistry(image);
  }
  const dockerfile = path.join(contextDir, 'Dockerfile');
  if (!fs.existsSync(dockerfile)) {
    throw new Error(
      `No Temporal server image: ${path.relative(process.cwd(), dockerfile) || dockerfile} does not exist and the environment sets no serverImage. ` +
      "Set serverImage: '<registry>/<repository>:<tag>' in config/<env>.ts (for example an ECR image built from docker/temporal-server), " +
      'or add the Dockerfile so that cdk deploy builds the image.',
    );
  }
  return ecs.ContainerImage.fromAsset(contextDir, {
    platform,
    exclude: [...SERVER_IMAGE_ASSET_EXCLUDES],
  });
}
