/**
 * The failover's client endpoint switch in Route 53: UPSERT of one CNAME record to the new
 * Region's NLB, read first so a second run answers 'already'.
 *
 * Why not @aws-sdk/client-route53: the npm registry this project installs from does not serve it
 * (any version, checked 2026-12-05), and aws-sdk v2 is past its end of support. Route 53's API is
 * two documented REST-XML calls here, so they are made with the SDK's own parts: requests signed by
 * @smithy/signature-v4 (service `route53`, signed for us-east-1: Route 53 is a global service
 * whose endpoint is route53.amazonaws.com), credentials from the SDK's default chain, XML built and
 * parsed with fast-xml-parser. API reference: "ChangeResourceRecordSets" and
 * "ListResourceRecordSets", Amazon Route 53 API Reference, API version 2013-04-01.
 */
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

const API = '2013-04-01';
const XMLNS = `https://route53.amazonaws.com/doc/${API}/`;

/** Options of {@link Route53Record}. */
export interface Route53RecordOptions {
  /** Hosted zone id, e.g. `Z0123456789ABC` (with or without `/hostedzone/`). */
  readonly zoneId: string;
  /** The DNS name clients use, e.g. `temporal.example.com` (a trailing dot is added). */
  readonly name: string;
  /** TTL of the record, seconds. @default 60 */
  readonly ttl?: number;
  /** API endpoint. @default https://route53.amazonaws.com (tests: moto) */
  readonly endpoint?: string;
  /** Static credentials or a provider. @default the AWS SDK default credential chain */
  readonly credentials?: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  /** Bound of each call, ms. @default 30000 */
  readonly timeoutMs?: number;
}

/** An error answer of the Route 53 API: its code (e.g. NoSuchHostedZone), message and HTTP status. */
export class Route53Error extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(`Route 53 ${code} (HTTP ${status}): ${message}`);
    this.name = 'Route53Error';
  }
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);

/** One CNAME record in one hosted zone. */
export class Route53Record {
  private readonly endpoint: URL;
  private readonly signer: SignatureV4;
  private readonly zone: string;
  private readonly parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (n) => ['ResourceRecordSet', 'ResourceRecord'].includes(n) });

  constructor(private readonly o: Route53RecordOptions) {
    this.zone = o.zoneId.replace(/^\/?hostedzone\//, '');
    if (!/^[A-Z0-9]{1,32}$/.test(this.zone)) throw new Error(`route53 zoneId = ${JSON.stringify(o.zoneId)}; allowed: a hosted zone id such as Z0123456789ABC`);
    if (!/^[a-z0-9*]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+\.?$/i.test(o.name)) {
      throw new Error(`route53 record name = ${JSON.stringify(o.name)}; allowed: a DNS name such as temporal.example.com`);
    }
    this.endpoint = new URL(o.endpoint ?? 'https://route53.amazonaws.com');
    this.signer = new SignatureV4({ service: 'route53', region: 'us-east-1', sha256: Hash.bind(null, 'sha256'), credentials: o.credentials ?? fromNodeProviderChain() });
  }

  /** The record's current CNAME target (without the trailing dot), or undefined when there is none. */
  async current(): Promise<string | undefined> {
    const name = fqdn(this.o.name);
    const body = await this.call('GET', `/${API}/hostedzone/${this.zone}/rrset`, { name, type: 'CNAME', maxitems: '1' });
    const sets = body?.ListResourceRecordSetsResponse?.ResourceRecordSets?.ResourceRecordSet ?? [];
    const set = sets.find((s: { Name?: string; Type?: string }) => s.Name?.toLowerCase() === name.toLowerCase() && s.Type === 'CNAME');
    const value: string | undefined = set?.ResourceRecords?.ResourceRecord?.[0]?.Value;
    return value?.replace(/\.$/, '');
  }

  /** Points the record at `target` (a host name). Resolves with 'already' when it did; else the change id. */
  async upsert(target: string, comment: string): Promise<{ status: 'already' } | { status: 'done'; changeId: string }> {
    if ((await this.current())?.toLowerCase() === target.replace(/\.$/, '').toLowerCase()) return { status: 'already' };
    const xml = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: true }).build({
      '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
      ChangeResourceRecordSetsRequest: {
        '@_xmlns': XMLNS,
        ChangeBatch: {
          Comment: comment,
          Changes: { Change: { Action: 'UPSERT', ResourceRecordSet: { Name: fqdn(this.o.name), Type: 'CNAME', TTL: this.o.ttl ?? 60, ResourceRecords: { ResourceRecord: { Value: target } } } } },
        },
      },
    });
    const body = await this.call('POST', `/${API}/hostedzone/${this.zone}/rrset/`, {}, xml);
    return { status: 'done', changeId: String(body?.ChangeResourceRecordSetsResponse?.ChangeInfo?.Id ?? '') };
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async call(method: 'GET' | 'POST', path: string, query: Record<string, string>, body?: string): Promise<any> {
    const headers: Record<string, string> = { host: this.endpoint.host };
    if (body !== undefined) headers['content-type'] = 'text/xml';
    const signed = await this.signer.sign({
      method, protocol: this.endpoint.protocol, hostname: this.endpoint.hostname, port: this.endpoint.port ? Number(this.endpoint.port) : undefined,
      path, query, headers, body,
    });
    const url = new URL(path, this.endpoint);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const res = await fetch(url, { method, headers: signed.headers, body, signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000) });
    const text = await res.text();
    const parsed = text ? this.parser.parse(text) : undefined;
    if (!res.ok) {
      const e = parsed?.ErrorResponse?.Error ?? parsed?.Error ?? {};
      throw new Route53Error(String(e.Code ?? 'Unknown'), String(e.Message ?? text.slice(0, 200)), res.status);
    }
    return parsed;
  }
}
