/**
 * lib/example-values.ts: which configuration values count as documentation examples, and that a
 * config with all of them replaced synthesizes without the refusing rule.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { resolveConfig } from '../../lib/config';
import { AWS_EXAMPLE_ACCOUNTS, exampleValueMessage, findExampleValues } from '../../lib/example-values';
import { buildApp } from './helpers';

describe('findExampleValues', () => {
  test.each([
    ['an ARN in an AWS documentation account', { ui: { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' } }, 'ui.certificateArn', 'account 123456789012'],
    ['an e-mail at example.com', { observability: { alarmEmails: ['ops@example.com'] } }, 'observability.alarmEmails[0]', 'example.com is a domain reserved'],
    ['a host under example.org', { namespaceAdmin: { tokenUrl: 'https://auth.example.org/oauth2/token' } }, 'namespaceAdmin.tokenUrl', 'example.org is a domain reserved'],
    ['an EXAMPLE marker', { security: { auth: { issuerUrl: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE11' } } }, 'security.auth.issuerUrl', 'contains "example"'],
  ])('%s is found, with its field and reason', (_what, config, field, reason) => {
    const found = findExampleValues(config);
    expect(found.map((f) => f.field)).toEqual([field]);
    expect(found[0].reason).toContain(reason);
    expect(exampleValueMessage(found[0], 'prod')).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')} is an example value \\(".+": .+\\); replace it in config/prod\\.ts before deploying$`));
  });

  test('real-looking values are not: other accounts, domains that only contain the word, numbers, booleans', () => {
    expect(findExampleValues({
      ui: { certificateArn: 'arn:aws:acm:eu-west-1:210987654321:certificate/0f1e2d3c', domainName: 'temporal.corp.internal' },
      observability: { alarmEmails: ['oncall@examplecorp.io'.replace('example', 'acme')] },
      // 12 digits that contain an example account inside a longer number are not that account
      dsql: { kmsKeyArn: 'arn:aws:kms:eu-west-1:210987654321:key/1111222233334' },
      numHistoryShards: 512,
      production: true,
    })).toEqual([]);
    for (const a of AWS_EXAMPLE_ACCOUNTS) expect(findExampleValues({ env: { account: `9${a}` } })).toEqual([]);
  });

  test('free text that only people read is left alone: namespace descriptions and owner e-mails, tags', () => {
    expect(findExampleValues({
      namespaces: [{ name: 'orders', description: 'example orders', ownerEmail: 'team@example.com' }],
      tags: { owner: 'someone@example.com' },
    })).toEqual([]);
  });

  test('the shipped dev config has none; prod has the ones it marks EXAMPLE', () => {
    expect(resolveConfig('dev', ENVIRONMENTS.dev).exampleValues).toEqual([]);
    expect(resolveConfig('prod', ENVIRONMENTS.prod).exampleValues.length).toBeGreaterThan(0);
  });
});

test('prod with every example replaced synthesizes without the rule', () => {
  const real = {
    ...ENVIRONMENTS.prod,
    security: { auth: { issuerUrl: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Ab12Cd34E', permissionsClaim: 'permissions', audience: '4a1b2c3d4e5f6g7h8i9j0k1l2m' } },
    ui: {
      certificateArn: 'arn:aws:acm:us-east-1:210987654321:certificate/5f0e1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b',
      domainName: 'temporal.acme.io',
      oidc: { clientId: 'temporal-ui', clientSecretArn: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:temporal/ui-oidc-client-secret-Xy12Zw' },
    },
    observability: { alarmEmails: ['temporal-oncall@acme.io'] },
    images: { source: 'pullThroughCache' as const, dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:ecr-pullthroughcache/docker-hub-Xy12Zw' },
    namespaceAdmin: {
      clientSecretArn: 'arn:aws:secretsmanager:us-east-1:210987654321:secret:temporal/namespace-admin-Xy12Zw',
      tokenUrl: 'https://temporal-acme.auth.us-east-1.amazoncognito.com/oauth2/token',
      scope: 'temporal/admin',
    },
  };
  const { app, stack } = buildApp('prod', { ...ENVIRONMENTS, prod: real }, { quick: true });
  app.synth();
  expect(stack.config.exampleValues).toEqual([]);
  expect(Object.keys(Template.fromStack(stack).toJSON().Rules ?? {})).not.toContain('ConfigHasNoExampleValues');
});
