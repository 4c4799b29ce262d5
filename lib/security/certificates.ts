import { CfnElement, CustomResource, Duration, Lazy, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import * as path from 'path';
import { handlerAssetHash } from '../handler-bundle';
import { REPO_ROOT } from '../repo-root';

const HANDLER_DIR = path.join(REPO_ROOT, 'lambda', 'security', 'certificates');

/** DNS SAN of the internode certificate; every role verifies its peers with this server name (docs/server-container.md). */
export const INTERNODE_DNS_NAME = 'internode.temporal.internal';
/** DNS SAN every frontend certificate carries besides the names clients use (docs/server-container.md). */
export const FRONTEND_DNS_NAME = 'frontend.temporal.internal';

/** AWS Private CA templates the handler issues with (acm-pca:TemplateArn in its IAM condition). */
const PCA_TEMPLATES = ['EndEntityCertificate/V1', 'EndEntityServerAuthCertificate/V1'];

/** Properties of {@link TemporalCertificates}. */
export interface TemporalCertificatesProps {
  /**
   * DNS names clients use to reach the frontend (the NLB's DNS name, a Cloud Map or Route 53 name);
   * the frontend certificate carries these and {@link FRONTEND_DNS_NAME}. Tokens are fine. More can be
   * added after construction with {@link TemporalCertificates.addFrontendDnsName}. At most 19 names.
   * @default - none besides frontend.temporal.internal
   */
  readonly frontendDnsNames?: string[];
  /**
   * AWS Private CA that issues both certificates (`arn:<partition>:acm-pca:<region>:<account>:certificate-authority/<uuid>`;
   * it must be ACTIVE and its chain is the published bundle).
   * @default - a CA the stack creates, kept in its own Secrets Manager secret
   */
  readonly privateCaArn?: string;
  /** KMS key of the three secrets (CA, internode, frontend). @default - Secrets Manager's AWS managed key */
  readonly encryptionKey?: kms.IKey;
  /** Subject CN of the stack's CA; ` G<generation>` is appended. At most 56 characters (with ` G<generation>` it stays within the 64 of a CN). @default `Temporal <stack name> CA`, cut to 56 */
  readonly caCommonName?: string;
  /**
   * Validity of a stack CA, whole days, longer than `leafValidity`. Ten years: a CA change needs
   * every client to trust the new bundle first (docs/certificates.md), so it should be rare.
   * @default Duration.days(3650)
   */
  readonly caValidity?: Duration;
  /**
   * Validity of the internode and frontend certificates, whole days from 2 to 825 (the longest
   * validity browsers ever accepted). 90 days: short enough that a leaked key soon stops working,
   * long enough that two failed renewals in a row still leave weeks to react.
   * @default Duration.days(90)
   */
  readonly leafValidity?: Duration;
  /**
   * A certificate with this little validity left is replaced: by the rotation schedule, which runs
   * every `leafValidity - renewBefore` days, and by any deploy. Whole days, less than `leafValidity`.
   * 30 days: the renewed files reach every task within `TEMPORAL_TLS_REFRESH` (1 hour) and
   * Secrets Manager retries a failed rotation, so a month leaves ample time to notice and fix one.
   * @default Duration.days(30)
   */
  readonly renewBefore?: Duration;
  /**
   * Generation of the stack CA that signs the certificates (a positive integer; raise by one to
   * switch to the next CA, after a deploy with `caTrustNext`). Ignored with `privateCaArn`.
   * @default 1
   */
  readonly caGeneration?: number;
  /** Create generation `caGeneration + 1` and add it to every bundle before it signs anything. @default false */
  readonly caTrustNext?: boolean;
  /** Retention of the handler and framework log groups. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of those log groups. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

function wholeDays(name: string, d: Duration, min: number, max: number): number {
  const days = d.toDays({ integral: false });
  if (!Number.isInteger(days) || days < min || days > max) {
    throw new Error(`${name} must be a whole number of days from ${min} to ${max}, got ${d.toHumanString()}`);
  }
  return days;
}

/**
 * TLS certificates of the Temporal roles (`Custom::TemporalCertificates`), per the server
 * container's contract (docs/server-container.md): an internode certificate (serverAuth and
 * clientAuth, SAN internode.temporal.internal) for mutual TLS between roles, and a frontend
 * certificate (serverAuth; SANs frontend.temporal.internal and `frontendDnsNames`) for clients.
 * Each lives in its own Secrets Manager secret (SecretString `{certificate, privateKey, caBundle}`),
 * created here with an initial value that the handler replaces, so IAM names exact ARNs.
 *
 * Issued by an AWS Private CA (`privateCaArn`) or by a CA the stack creates: an ECDSA P-256 key and
 * self-signed certificate kept in the CA secret, never in the template, a log or a response.
 * Renewal: a Secrets Manager rotation schedule per certificate runs the same function's rotation
 * steps every `leafValidity - renewBefore` days; any deploy also replaces a certificate that is
 * near expiry, has other SANs or another issuer. A deploy with nothing changed writes nothing.
 *
 * Removal: all three secrets are RETAINED when the resource or the stack is deleted (the handler's
 * Delete does nothing), so the CA and the certificates in use survive a mistaken delete.
 * Facts: rotation protocol, https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html;
 * Private CA templates, https://docs.aws.amazon.com/privateca/latest/userguide/UsingTemplates.html.
 *
 * @throws Error at synth for a duration that is not whole days or out of range, `caGeneration` not
 *   a positive integer, a CN over 56 characters or more than 19 frontend names
 */
export class TemporalCertificates extends Construct {
  /** Internode certificate (mutual TLS between roles). */
  public readonly internodeSecret: secretsmanager.ISecret;
  /** Frontend server certificate (TLS for clients). */
  public readonly frontendSecret: secretsmanager.ISecret;
  /** The stack CA's secret (key and certificate of every generation); `undefined` with a Private CA. Grant it to nobody. */
  public readonly caSecret?: secretsmanager.ISecret;
  /** PEM bundle of the CA certificate(s) clients and roles trust: the `CaBundle` attribute (a token). */
  public readonly caBundle: string;
  /** The custom resource. */
  public readonly resource: CustomResource;
  /** Custom-resource handler and rotation function. */
  public readonly handler: lambda.IFunction;
  /** Days between two scheduled rotations of each certificate (`leafValidity - renewBefore`). */
  public readonly rotationDays: number;

  private readonly frontendNames: string[];

  constructor(scope: Construct, id: string, props: TemporalCertificatesProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    const leafDays = wholeDays('leafValidity', props.leafValidity ?? Duration.days(90), 2, 825);
    const renewDays = wholeDays('renewBefore', props.renewBefore ?? Duration.days(30), 1, leafDays - 1);
    const caDays = wholeDays('caValidity', props.caValidity ?? Duration.days(3650), leafDays + 1, 36500);
    this.rotationDays = leafDays - renewDays;
    const caGeneration = props.caGeneration ?? 1;
    if (!Number.isInteger(caGeneration) || caGeneration < 1 || caGeneration > 1000) {
      throw new Error(`caGeneration must be an integer from 1 to 1000, got ${caGeneration}`);
    }
    const caCommonName = props.caCommonName ?? `Temporal ${stack.stackName} CA`.slice(0, 56);
    if (caCommonName.length === 0 || caCommonName.length > 56) {
      throw new Error(`caCommonName must have 1 to 56 characters, got ${JSON.stringify(caCommonName)}`);
    }
    this.frontendNames = [];
    for (const n of props.frontendDnsNames ?? []) this.addFrontendDnsName(n);
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const logRemoval = props.logRemovalPolicy ?? RemovalPolicy.DESTROY;

    const secret = (sid: string, description: string) => new secretsmanager.Secret(this, sid, {
      description,
      encryptionKey: props.encryptionKey,
      // Filled by the handler; the random value CloudFormation generates at creation is never used. Kept when the
      // stack goes, deleted when a first deploy rolls back (nothing can depend on it yet).
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    const internode = secret('InternodeSecret', `Temporal ${stack.stackName}: internode TLS certificate (${INTERNODE_DNS_NAME}), key and CA bundle`);
    const frontend = secret('FrontendSecret', `Temporal ${stack.stackName}: frontend TLS certificate, key and CA bundle`);
    const ca = props.privateCaArn ? undefined
      : secret('CaSecret', `Temporal ${stack.stackName}: the stack's TLS CA (private keys). Retained; read only by the certificates function`);
    this.internodeSecret = internode;
    this.frontendSecret = frontend;
    this.caSecret = ca;

    const config = {
      caSecretArn: ca?.secretArn,
      privateCaArn: props.privateCaArn,
      caCommonName,
      caValidityDays: caDays,
      caGeneration,
      caTrustNext: props.caTrustNext ?? false,
      leafValidityDays: leafDays,
      renewBeforeDays: renewDays,
      leaves: [
        { name: 'internode', secretArn: internode.secretArn, dnsNames: [INTERNODE_DNS_NAME], usage: 'server+client' },
        { name: 'frontend', secretArn: frontend.secretArn, dnsNames: Lazy.list({ produce: () => [FRONTEND_DNS_NAME, ...this.frontendNames] }), usage: 'server' },
      ],
    };
    const configJson = Lazy.string({ produce: () => stack.toJsonString(config) });

    const role = new iam.Role(this, 'HandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Temporal certificates: issues and rotates the internode and frontend certificates',
    });
    const logGroup = new logs.LogGroup(this, 'HandlerLogs', { retention, removalPolicy: logRemoval });
    logGroup.grantWrite(role);

    const fn = new nodejs.NodejsFunction(this, 'Handler', {
      entry: path.join(HANDLER_DIR, 'handler.ts'),
      handler: 'handler',
      description: 'Temporal certificates: custom resource (onEvent) and Secrets Manager rotation of the TLS certificates',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      // Private CA issuance is asynchronous: up to 2 minutes of waiting per certificate.
      timeout: Duration.minutes(5),
      role,
      logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      environment: { CERTIFICATES_CONFIG: configJson, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        forceDockerBundling: false,
        externalModules: [],
        bundleAwsSDK: true,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node24',
        assetHash: certificatesHandlerAssetHash(),
      },
    });
    this.handler = fn;

    if (ca) {
      // Read and put values; nothing else on the CA secret (no UpdateSecret, no version stages).
      ca.grantRead(role);
      iam.Grant.addToPrincipal({ grantee: role, actions: ['secretsmanager:PutSecretValue'], resourceArns: [ca.secretArn] });
      props.encryptionKey?.grant(role, 'kms:GenerateDataKey', 'kms:Encrypt');
      // Only the certificates function reads the CA (its key mints internode certificates, which
      // internal-frontend treats as admin); the account root stays as break-glass. A Deny in the
      // secret's resource policy overrides any identity policy of the account (IAM User Guide,
      // "Policy evaluation logic"), so broad secretsmanager:GetSecretValue grants do not reach it.
      ca.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'OnlyTheCertificatesFunctionReadsTheCa',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['*'],
        conditions: { StringNotEquals: { 'aws:PrincipalArn': [role.roleArn, `arn:${stack.partition}:iam::${stack.account}:root`] } },
      }));
    }
    if (props.privateCaArn) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['acm-pca:DescribeCertificateAuthority', 'acm-pca:GetCertificateAuthorityCertificate', 'acm-pca:GetCertificate'],
        resources: [props.privateCaArn],
      }));
      const partition = props.privateCaArn.split(':')[1];
      role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['acm-pca:IssueCertificate'],
        resources: [props.privateCaArn],
        conditions: { StringEquals: { 'acm-pca:TemplateArn': PCA_TEMPLATES.map((t) => `arn:${partition}:acm-pca:::template/${t}`) } },
      }));
    }

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: fn,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention, removalPolicy: logRemoval }),
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::TemporalCertificates',
      properties: { Config: configJson },
    });
    this.caBundle = this.resource.getAttString('CaBundle');

    // Rotation: grants the function DescribeSecret/GetSecretValue/PutSecretValue/UpdateSecretVersionStage
    // on exactly that secret (and the KMS key through Secrets Manager). Created after the first
    // issuance, and not rotated at creation, so a rotation never finds an empty secret.
    for (const s of [internode, frontend]) {
      const rotation = s.addRotationSchedule('Rotation', {
        rotationLambda: fn,
        automaticallyAfter: Duration.days(this.rotationDays),
        rotateImmediatelyOnUpdate: false,
      });
      rotation.node.addDependency(this.resource);
    }
    // aws-cdk-lib's RotationSchedule lets secretsmanager.amazonaws.com invoke the function from any
    // account (a confused deputy). Only this account's Secrets Manager may: the Secrets Manager user
    // guide ("Lambda rotation function permissions", confused-deputy prevention) names
    // SourceAccount for this permission; one permission serves both secrets, so no SourceArn.
    for (const child of fn.node.children) {
      if (child instanceof lambda.CfnPermission && child.principal === 'secretsmanager.amazonaws.com') child.sourceAccount = stack.account;
    }

    if (ca) {
      Validations.of(ca).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The CA is rotated by the two-step procedure in docs/certificates.md (trust the next CA everywhere, then switch), never on a schedule',
      });
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'secretsmanager:GetRandomPassword, added by aws-cdk-lib RotationSchedule, supports no resource-level scoping (the function never calls it)',
    });
    const fnArn = `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*]`;
    Validations.of(provider).acknowledge(
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', reason: 'CDK Provider framework function (aws-cdk-lib internal) uses AWSLambdaBasicExecutionRole' },
      { id: fnArn, reason: 'CDK Provider framework (aws-cdk-lib internal) may invoke any version (:*) of this construct\'s handler only' },
    );
  }

  /** Adds a DNS name clients use for the frontend (e.g. `frontendLoadBalancer.loadBalancerDnsName`) to the frontend certificate. */
  public addFrontendDnsName(name: string): void {
    if (this.frontendNames.length >= 19) throw new Error(`the frontend certificate takes at most 19 names besides ${FRONTEND_DNS_NAME}, got one more: ${name}`);
    this.frontendNames.push(name);
  }

  /**
   * Lets `grantee` read both certificate secrets (GetSecretValue, DescribeSecret; kms:Decrypt
   * through Secrets Manager when a key is set): what every server task role needs. Never the CA.
   */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.internodeSecret.grantRead(grantee).combine(this.frontendSecret.grantRead(grantee));
  }
}

/**
 * Deterministic asset hash of the handler bundle: SHA-256 over the handler sources and the lock
 * file (which pins the AWS SDK clients, @peculiar/x509 and esbuild).
 */
export function certificatesHandlerAssetHash(): string {
  return handlerAssetHash('temporal-certificates-handler', HANDLER_DIR);
}
