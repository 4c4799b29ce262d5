/**
 * The `network` section of an environment: a new VPC or an existing one, its zones, and the
 * client CIDRs. Split out of `lib/config.ts` (one file per section once it passed ~600 lines).
 */
import { AZ, bool, CIDR, checkKeys, ConfigError, oneOf, optObject, regionOfZone, str } from '../config-checks';

/** An existing VPC to deploy into, imported by id (no lookup at synth, so it works offline). */
export interface ExistingVpcInput {
  /** VPC id, `vpc-` followed by 8 or 17 hex digits. */
  readonly vpcId: string;
  /** Availability zones of the private subnets, same order as `privateSubnetIds`. */
  readonly availabilityZones: string[];
  /** Private subnets with a route to a NAT gateway or the needed VPC endpoints, one per AZ. */
  readonly privateSubnetIds: string[];
  /** Route table ids of the private subnets, same order as `privateSubnetIds`. */
  readonly privateSubnetRouteTableIds: string[];
  /** VPC CIDR block (used for the endpoint and load balancer security groups). */
  readonly cidr: string;
}

/** Network settings. */
export interface NetworkInput {
  /** Number of availability zones (2 or 3). @default 2 */
  readonly azCount?: number;
  /**
   * Availability zones to use for a new VPC; length must equal `azCount`. Needed for 3 AZs when the
   * stack has no concrete region (an environment-agnostic stack only knows 2 AZs at synth).
   * @default - the region's first `azCount` zones
   */
  readonly availabilityZones?: string[];
  /** NAT gateways: `one` (cheaper, one AZ dependency) or `perAz`. @default 'perAz' */
  readonly natGateways?: 'one' | 'perAz';
  /** CIDR block of a new VPC, /18 or larger (a /20 private and a /24 public subnet per AZ). @default '10.0.0.0/16' */
  readonly cidr?: string;
  /** Deploy into this existing VPC instead of creating one. @default - a new VPC */
  readonly existingVpc?: ExistingVpcInput;
  /** Create the interface/gateway endpoints private tasks need (also for an existing VPC). @default true */
  readonly createVpcEndpoints?: boolean;
  /** CIDR blocks allowed to reach the frontend NLB (7233) and the UI ALB. @default - the VPC CIDR */
  readonly clientCidrs?: string[];
}

/** The resolved `network` section. */
export interface ResolvedNetwork {
  readonly azCount: number;
  readonly availabilityZones?: string[];
  readonly natGateways: 'one' | 'perAz';
  readonly cidr: string;
  readonly existingVpc?: ExistingVpcInput;
  readonly createVpcEndpoints: boolean;
  readonly clientCidrs?: string[];
}

/** Number of addresses of IPv4 space (2^32). */
const IPV4_SPACE = 2 ** 32;

/** The first address (as a number) and the size of an IPv4 CIDR block. */
function cidrRange(cidr: string): [start: number, size: number] {
  const [ip, bits] = cidr.split('/');
  const start = ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return [start - (start % size), size];
}

/**
 * True when the CIDR blocks together cover the whole IPv4 space (like `0.0.0.0/0`, e.g.
 * `0.0.0.0/1` and `128.0.0.0/1`).
 */
export function cidrsCoverAllIpv4(cidrs: readonly string[]): boolean {
  const ranges = cidrs.map(cidrRange).sort((a, b) => a[0] - b[0]);
  let covered = 0; // every address below `covered` is in some block
  for (const [start, size] of ranges) {
    if (start > covered) return false;
    covered = Math.max(covered, start + size);
  }
  return covered >= IPV4_SPACE;
}

/** Refuses zones of another Region than `region` (or, without `region`, zones of several Regions). */
function checkZoneRegions(field: string, zones: string[], region: string | undefined): void {
  if (region) {
    if (!zones.every((z) => regionOfZone(z) === region)) throw new ConfigError(field, zones, `zones of env.region ${region}`);
  } else if (new Set(zones.map(regionOfZone)).size > 1) {
    throw new ConfigError(field, zones, `zones of one Region (got ${[...new Set(zones.map(regionOfZone))].join(', ')})`);
  }
}

function checkDistinct(field: string, values: string[], what: string): void {
  const dup = values.find((v, i) => values.indexOf(v) !== i);
  if (dup !== undefined) throw new ConfigError(field, values, `${what} without duplicates (${dup} appears twice)`);
}

/**
 * Validates the `network` section and fills its defaults.
 *
 * @param p turns a field path into `<env>.<path>` for messages
 * @param input the environment's `network` value (may be undefined)
 * @param env the environment's account and region, when set
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveNetwork(
  p: (f: string) => string,
  input: NetworkInput | undefined,
  env: { readonly account?: string; readonly region?: string },
): ResolvedNetwork {
  const { account, region } = env;
  const netIn = optObject(p('network'), input);
  checkKeys(p('network'), netIn, ['azCount', 'availabilityZones', 'natGateways', 'cidr', 'existingVpc', 'createVpcEndpoints', 'clientCidrs']);
  const azCount = netIn.azCount === undefined ? 2 : netIn.azCount;
  if (azCount !== 2 && azCount !== 3) throw new ConfigError(p('network.azCount'), azCount, '2 or 3');
  let availabilityZones: string[] | undefined;
  if (netIn.availabilityZones !== undefined) {
    const azs = netIn.availabilityZones;
    if (!Array.isArray(azs) || azs.length !== azCount || !azs.every((a) => typeof a === 'string' && AZ.test(a)) || new Set(azs).size !== azs.length) {
      throw new ConfigError(p('network.availabilityZones'), azs, `${azCount} distinct availability zone names (network.azCount), e.g. ["us-east-1a", "us-east-1b"]`);
    }
    checkZoneRegions(p('network.availabilityZones'), azs, region);
    availabilityZones = azs;
  }
  const natGateways = oneOf(p('network.natGateways'), netIn.natGateways, ['one', 'perAz'] as const, 'perAz');
  const cidr = netIn.cidr === undefined ? '10.0.0.0/16' : str(p('network.cidr'), netIn.cidr, CIDR, 'an IPv4 CIDR block such as 10.0.0.0/16');
  if (Number(cidr.split('/')[1]) > 18) {
    throw new ConfigError(p('network.cidr'), cidr, 'a block of /18 or larger (each AZ gets a /20 private and a /24 public subnet)');
  }
  let existingVpc: ExistingVpcInput | undefined;
  if (netIn.existingVpc !== undefined) {
    const e = optObject(p('network.existingVpc'), netIn.existingVpc);
    checkKeys(p('network.existingVpc'), e, ['vpcId', 'availabilityZones', 'privateSubnetIds', 'privateSubnetRouteTableIds', 'cidr']);
    // Settings of a new VPC mean nothing for an existing one: refuse them rather than ignore them.
    if (netIn.cidr !== undefined) {
      throw new ConfigError(p('network.cidr'), netIn.cidr, 'unset when network.existingVpc is given (the existing VPC\'s block is network.existingVpc.cidr)');
    }
    if (netIn.natGateways !== undefined) {
      throw new ConfigError(p('network.natGateways'), netIn.natGateways, 'unset when network.existingVpc is given (the existing VPC\'s routes and NAT gateways are not managed by this stack)');
    }
    const vpcId = str(p('network.existingVpc.vpcId'), e.vpcId, /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/, 'a VPC id such as vpc-0123456789abcdef0');
    const azs = e.availabilityZones;
    if (!Array.isArray(azs) || !azs.every((a) => typeof a === 'string' && AZ.test(a))) {
      throw new ConfigError(p('network.existingVpc.availabilityZones'), azs, `${azCount} availability zone names (network.azCount)`);
    }
    if (azs.length !== azCount && netIn.azCount === undefined && (azs.length === 2 || azs.length === 3)) {
      throw new ConfigError(p('network.azCount'), undefined,
        `${azs.length}, set explicitly (network.existingVpc lists ${azs.length} zones and network.azCount defaults to 2: add network.azCount: ${azs.length})`);
    }
    if (azs.length !== azCount) {
      throw new ConfigError(p('network.existingVpc.availabilityZones'), azs, `${azCount} availability zone names (network.azCount)`);
    }
    checkDistinct(p('network.existingVpc.availabilityZones'), azs, 'zone names, one subnet per zone,');
    checkZoneRegions(p('network.existingVpc.availabilityZones'), azs, region);
    const subnets = e.privateSubnetIds;
    if (!Array.isArray(subnets) || subnets.length !== azs.length || !subnets.every((s) => typeof s === 'string' && /^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/.test(s))) {
      throw new ConfigError(p('network.existingVpc.privateSubnetIds'), subnets, `${azs.length} subnet ids (one per availability zone), e.g. subnet-0123456789abcdef0`);
    }
    checkDistinct(p('network.existingVpc.privateSubnetIds'), subnets, 'subnet ids');
    const rtbs = e.privateSubnetRouteTableIds;
    if (!Array.isArray(rtbs) || rtbs.length !== subnets.length || !rtbs.every((s) => typeof s === 'string' && /^rtb-([0-9a-f]{8}|[0-9a-f]{17})$/.test(s))) {
      throw new ConfigError(p('network.existingVpc.privateSubnetRouteTableIds'), rtbs, `${subnets.length} route table ids (one per private subnet), e.g. rtb-0123456789abcdef0`);
    }
    const vpcCidr = str(p('network.existingVpc.cidr'), e.cidr, CIDR, 'the VPC IPv4 CIDR block');
    existingVpc = { vpcId, availabilityZones: azs, privateSubnetIds: subnets, privateSubnetRouteTableIds: rtbs, cidr: vpcCidr };
    if (availabilityZones) throw new ConfigError(p('network.availabilityZones'), availabilityZones, 'unset when network.existingVpc is given (use existingVpc.availabilityZones)');
  }
  if (azCount === 3 && !existingVpc && !availabilityZones && !(account && region)) {
    throw new ConfigError(p('network.availabilityZones'), undefined,
      'a list of 3 zones when network.azCount is 3 and env.account/env.region are not both set (an environment-agnostic stack only knows 2 zones at synth)');
  }
  const createVpcEndpoints = bool(p('network.createVpcEndpoints'), netIn.createVpcEndpoints, true);
  let clientCidrs: string[] | undefined;
  if (netIn.clientCidrs !== undefined) {
    const c = netIn.clientCidrs;
    if (!Array.isArray(c) || c.length === 0 || !c.every((x) => typeof x === 'string' && CIDR.test(x))) {
      throw new ConfigError(p('network.clientCidrs'), c, 'a non-empty list of IPv4 CIDR blocks');
    }
    if (c.includes('0.0.0.0/0')) throw new ConfigError(p('network.clientCidrs'), c, 'private CIDR blocks; 0.0.0.0/0 is refused (the frontend and UI are internal)');
    if (cidrsCoverAllIpv4(c)) {
      throw new ConfigError(p('network.clientCidrs'), c, 'private CIDR blocks; blocks that together cover all of IPv4 are refused like 0.0.0.0/0 (the frontend and UI are internal)');
    }
    clientCidrs = c;
  }
  return { azCount, availabilityZones, natGateways, cidr, existingVpc, createVpcEndpoints, clientCidrs };
}
