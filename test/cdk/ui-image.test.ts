/**
 * The Temporal UI image: `uiVersion` (a tag) by default, or `uiImage` pinned by digest.
 * The digest below is a made-up fixture, not the digest of any real temporalio/ui image.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, PlatformConfigInput, resolveConfig } from '../../lib/config';
import { buildApp } from './helpers';

const FIXTURE_DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const base: PlatformConfigInput = { numHistoryShards: 16, security: { allowNoAuth: true } };

function uiImageOf(template: Template): unknown {
  const tds = Object.values(template.toJSON().Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::ECS::TaskDefinition' && r.Properties.ContainerDefinitions[0].Name === 'ui');
  expect(tds).toHaveLength(1);
  return tds[0].Properties.ContainerDefinitions[0].Image;
}

describe('uiImage', () => {
  test('default: temporalio/ui with the uiVersion tag', () => {
    expect(resolveConfig('test', base).uiImage).toBe('temporalio/ui:2.56.1');
    expect(resolveConfig('test', { ...base, uiVersion: '2.57.0' }).uiImage).toBe('temporalio/ui:2.57.0');
  });

  test.each([
    `temporalio/ui:2.56.1@${FIXTURE_DIGEST}`,
    `temporalio/ui@${FIXTURE_DIGEST}`,
    `registry.example.com/mirror/temporal-ui:2.56.1@${FIXTURE_DIGEST}`,
  ])('accepts a reference pinned by digest: %s', (ref) => {
    expect(resolveConfig('test', { ...base, uiImage: ref }).uiImage).toBe(ref);
  });

  test.each([
    ['a tag without a digest', 'temporalio/ui:2.56.1'],
    ['latest', 'temporalio/ui:latest'],
    ['a short digest', 'temporalio/ui@sha256:0123'],
    ['an upper-case digest', `temporalio/ui@sha256:${'0123456789ABCDEF'.repeat(4)}`],
  ])('refuses %s', (_what, ref) => {
    expect(() => resolveConfig('test', { ...base, uiImage: ref })).toThrow(ConfigError);
    expect(() => resolveConfig('test', { ...base, uiImage: ref })).toThrow(/test\.uiImage = .*pinned by digest/);
  });

  test('refuses uiImage together with uiVersion', () => {
    expect(() => resolveConfig('test', { ...base, uiVersion: '2.56.1', uiImage: `temporalio/ui@${FIXTURE_DIGEST}` }))
      .toThrow(/test\.uiImage = .*either uiImage or uiVersion, not both/);
  });

  test('the UI task definition runs the configured reference', () => {
    const pinned = `temporalio/ui:2.56.1@${FIXTURE_DIGEST}`;
    const { stack } = buildApp('dev', { ...ENVIRONMENTS, dev: { ...ENVIRONMENTS.dev, uiImage: pinned } }, { quick: true });
    expect(uiImageOf(Template.fromStack(stack))).toBe(pinned);
  });
});
