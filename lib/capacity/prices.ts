/**
 * The price table of `npm run capacity`'s monthly cost estimate (lib/capacity/cost.ts): every AWS
 * price the estimate uses, each with its value, unit, Region, the page it was read from and the date
 * it was read. Prices found nowhere in the sources we could read are listed in {@link NOT_PRICED}
 * instead, and the estimate prints them as "not priced" rather than guessing.
 *
 * Sources: AWS's pricing pages render most figures in the browser, so the numbers often come from
 * pages that quote AWS's list price for us-east-1 (`kind: 'secondary'`); `kind: 'aws'` marks a figure
 * read on an AWS page itself. Check both against https://aws.amazon.com/pricing/ before relying on
 * the estimate: prices change, and the Region of your deployment may differ.
 */

/** One price as published, with where and when it was read. */
export interface Price {
  /** US dollars per {@link unit}. */
  readonly value: number;
  /** What one `value` buys, e.g. `vCPU-hour`, `GB-month`, `1M DPU`. */
  readonly unit: string;
  /** The AWS Region the price is for. */
  readonly region: string;
  /** The page the value was read on. */
  readonly source: string;
  /** `aws`: an AWS page; `secondary`: a page quoting AWS's list price (AWS's own page renders it client-side). */
  readonly kind: 'aws' | 'secondary';
  /** The date the value was read (YYYY-MM-DD). */
  readonly read: string;
  /** The date the source itself gives for its figures, when it gives one. */
  readonly sourceDate?: string;
}

/** The keys of {@link PRICES}. */
export type PriceKey =
  | 'dsqlDpu' | 'dsqlStorage'
  | 'fargateArmVcpu' | 'fargateArmGb' | 'fargateX86Vcpu' | 'fargateX86Gb'
  | 'natGatewayHour' | 'natGatewayGb'
  | 'nlbHour' | 'nlbLcu' | 'albHour' | 'albLcu'
  | 'interfaceEndpointHour' | 'interfaceEndpointGb'
  | 'kmsKey' | 'logsIngestion';

const READ = '2026-12-05';

/** Every price the estimate uses (us-east-1 list prices, on demand). */
export const PRICES: Readonly<Record<PriceKey, Price>> = {
  dsqlDpu: {
    value: 8.0, unit: '1M DPU', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://blog.faridnsh.ninja/unraveling-aurora-dsql-pricing (quotes the us-east-1 list price; AWS: https://aws.amazon.com/rds/aurora/dsql/pricing/)',
  },
  dsqlStorage: {
    value: 0.33, unit: 'GB-month', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://blog.faridnsh.ninja/unraveling-aurora-dsql-pricing (quotes the us-east-1 list price; AWS: https://aws.amazon.com/rds/aurora/dsql/pricing/)',
  },
  fargateArmVcpu: {
    value: 0.03238, unit: 'vCPU-hour', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://www.vantage.sh/blog/fargate-pricing (Linux/ARM; AWS: https://aws.amazon.com/fargate/pricing/)',
  },
  fargateArmGb: {
    value: 0.00356, unit: 'GB-hour', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://www.vantage.sh/blog/fargate-pricing (Linux/ARM; AWS: https://aws.amazon.com/fargate/pricing/)',
  },
  fargateX86Vcpu: {
    value: 0.04048, unit: 'vCPU-hour', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-03-10',
    source: 'https://www.wring.co/blog/aws-fargate-pricing-guide (Linux/x86; AWS: https://aws.amazon.com/fargate/pricing/)',
  },
  fargateX86Gb: {
    value: 0.004445, unit: 'GB-hour', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-03-10',
    source: 'https://www.wring.co/blog/aws-fargate-pricing-guide (Linux/x86; AWS: https://aws.amazon.com/fargate/pricing/)',
  },
  natGatewayHour: {
    value: 0.045, unit: 'NAT gateway-hour', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://basavytix.com/blog/aws-nat-gateway-pricing (us-east-1 rates; AWS: https://aws.amazon.com/vpc/pricing/)',
  },
  natGatewayGb: {
    value: 0.045, unit: 'GB processed', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://basavytix.com/blog/aws-nat-gateway-pricing (us-east-1 rates; AWS: https://aws.amazon.com/vpc/pricing/)',
  },
  nlbHour: {
    value: 0.0225, unit: 'NLB-hour', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-05',
    source: 'https://awsnegotiations.com/elastic-load-balancer-cost.html (AWS: https://aws.amazon.com/elasticloadbalancing/pricing/)',
  },
  nlbLcu: {
    value: 0.006, unit: 'NLCU-hour', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-05',
    source: 'https://awsnegotiations.com/elastic-load-balancer-cost.html (AWS: https://aws.amazon.com/elasticloadbalancing/pricing/)',
  },
  albHour: {
    value: 0.0225, unit: 'ALB-hour', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-05',
    source: 'https://awsnegotiations.com/elastic-load-balancer-cost.html (AWS: https://aws.amazon.com/elasticloadbalancing/pricing/)',
  },
  albLcu: {
    value: 0.008, unit: 'LCU-hour', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-05',
    source: 'https://awsnegotiations.com/elastic-load-balancer-cost.html (AWS: https://aws.amazon.com/elasticloadbalancing/pricing/)',
  },
  interfaceEndpointHour: {
    value: 0.01, unit: 'endpoint-AZ-hour', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://c3x.dev/resources/aws/aws_vpc_endpoint (per AZ per endpoint; AWS: https://aws.amazon.com/privatelink/pricing/ bills each AZ of an endpoint by the hour)',
  },
  interfaceEndpointGb: {
    value: 0.01, unit: 'GB processed (first PB)', region: 'us-east-1', kind: 'secondary', read: READ,
    source: 'https://968880.n0h2l.group/privatelink/pricing (a copy of https://aws.amazon.com/privatelink/pricing/, whose own copy here lacked the table: first 1 PB per month)',
  },
  kmsKey: {
    value: 1.0, unit: 'key-month', region: 'all', kind: 'aws', read: READ,
    source: 'https://aws.amazon.com/fr/kms/pricing/ (English page: each KMS key $1/month, prorated hourly)',
  },
  logsIngestion: {
    value: 0.5, unit: 'GB ingested (Standard class)', region: 'us-east-1', kind: 'secondary', read: READ, sourceDate: '2026-06',
    source: 'https://c3x.dev/blog/cloudwatch-logs-cost-optimization (us-east-1; AWS: https://aws.amazon.com/cloudwatch/pricing/)',
  },
};

/** What the estimate cannot price from the sources read (printed as "not priced"), with why. */
export const NOT_PRICED: ReadonlyArray<{ readonly item: string; readonly why: string }> = [
  { item: 'OpenSearch instance-hours (data and master nodes) and EBS volume GB-month', why: 'no page in the sources read gave the hourly price of our instance types (r7g.large.search, m7g.large.search); see https://aws.amazon.com/opensearch-service/pricing/' },
  { item: 'AWS Backup of the DSQL cluster (backup storage GB-month)', why: 'no DSQL backup storage price found in the sources read; see https://aws.amazon.com/backup/pricing/' },
  { item: 'DSQL witness Region', why: 'the DSQL pricing and billing pages read name no charge for the witness; none is added' },
  { item: 'CloudWatch Logs storage, metrics, alarms, dashboards; Secrets Manager secrets; public IPv4 addresses; data transfer', why: 'not looked up; usually small next to the lines above, but not zero' },
];

/** The rates as `$<value>/<unit>` for printing. */
export function formatPrice(p: Price): string {
  return `$${p.value}/${p.unit}`;
}
