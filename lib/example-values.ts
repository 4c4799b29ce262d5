/**
 * Example values that must never reach a deploy.
 *
 * The shipped `config/prod.ts` is a worked example: it synthesizes (the README's main command), but
 * its certificate, secrets, identity provider and alarm address belong to documentation. A team that
 * forgets to replace one of them gets a first deploy that fails late, after the DSQL cluster and
 * the OpenSearch domain were created. {@link findExampleValues} finds such values in a resolved
 * configuration; the stack turns each into a CloudFormation Rule assertion that cannot hold, so
 * CloudFormation refuses the change set before it creates any resource, naming every field.
 */

/** One configuration value that belongs to an example. */
export interface ExampleValue {
  /** Dotted path of the field in the environment's configuration, e.g. `ui.oidc.clientSecretArn`. */
  readonly field: string;
  /** The value as configured. */
  readonly value: string;
  /** Why it is an example (which documentation it belongs to). */
  readonly reason: string;
}

/**
 * The account IDs AWS's documentation uses in its examples (ARNs and policies in the IAM, KMS, ACM
 * and Secrets Manager guides). None of them is a real customer account.
 */
export const AWS_EXAMPLE_ACCOUNTS: readonly string[] = ['111122223333', '123456789012', '444455556666', '555555555555', '777788889999', '999999999999'];

const PATTERNS: ReadonlyArray<{ re: RegExp; reason: (m: string) => string }> = [
  { re: new RegExp(`(?<![0-9])(${AWS_EXAMPLE_ACCOUNTS.join('|')})(?![0-9])`), reason: (m) => `account ${m} is one of AWS's documentation example accounts` },
  // RFC 2606 reserves these second-level domains for documentation.
  { re: /(^|[.@/])example\.(com|net|org)(?![a-z0-9-])/i, reason: (m) => `${m.replace(/^[.@/]/, '')} is a domain reserved for documentation (RFC 2606)` },
  // AWS's documentation marks example identifiers with EXAMPLE (AKIAIOSFODNN7EXAMPLE, us-east-1_EXAMPLE11,
  // 1example23456789 as a Cognito app client id); so does our own example config.
  { re: /example/i, reason: () => 'it contains "example", which marks an example value in AWS\'s documentation and config/prod.ts' },
];

/**
 * Fields whose example values do no harm in a deploy: free text that only people read (a deploy
 * with an example description or owner e-mail works as intended), so they are not checked.
 */
const FREE_TEXT = [/^namespaces\[\d+\]\.(description|ownerEmail)$/, /^tags\./];

/**
 * Walks a configuration (a plain object of objects, arrays, strings, numbers and booleans) and
 * returns every string field that holds an example value, in the order of the fields.
 *
 * @param config the resolved environment configuration (or any plain object)
 * @param prefix path prefix of the fields (for nested use). @default ''
 * @returns one entry per example value; empty when the configuration has none
 */
export function findExampleValues(config: unknown, prefix = ''): ExampleValue[] {
  const found: ExampleValue[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (FREE_TEXT.some((re) => re.test(path))) return;
      for (const { re, reason } of PATTERNS) {
        const m = re.exec(v);
        if (m) {
          found.push({ field: path, value: v, reason: reason(m[0]) });
          return;
        }
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    }
  };
  walk(config, prefix);
  return found;
}

/**
 * The sentence CloudFormation shows when it refuses a deploy with an example value (and `cdk synth`
 * prints as a warning).
 *
 * @param e the example value
 * @param envName the environment whose config file holds it (`config/<envName>.ts`)
 */
export function exampleValueMessage(e: ExampleValue, envName: string): string {
  return `${e.field} is an example value (${JSON.stringify(e.value)}: ${e.reason}); replace it in config/${envName}.ts before deploying`;
}
