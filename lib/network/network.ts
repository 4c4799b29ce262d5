import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** An existing VPC, imported without a lookup (works offline). */
export interface TemporalNetworkExistingVpc {
  /** VPC id. */
  readonly vpcId: string;
  /** VPC IPv4 CIDR block. */
  readonly vpcCidrBlock: string;
  /** Availability zones, one per private subnet, same order. */
  readonly availabilityZones: string[];
  /** Private subnet ids, one per availability zone. */
  readonly privateSubnetIds: string[];
  /** Route table ids of the private subnets, same order. */
  readonly privateSubnetRouteTableIds: string[];
}

/** Properties of {@link TemporalNetwork}. */
export interface TemporalNetworkProps {
  /** Number of availability zones (2 or 3). @default 2 */
  readonly azCount?: number;
  /** Explicit availability zones of a new VPC. @default - the stack's first `azCount` zones */
  readonly availabilityZones?: string[];
  /** NAT gateways: one in total or one per AZ. @default 'perAz' */
  readonly natGateways?: 'one' | 'perAz';
  /** CIDR block of a new VPC. @default '10.0.0.0/16' */
  readonly cidr?: string;
  /** Use this VPC instead of creating one. @default - a new VPC with flow logs */
  readonly existingVpc?: TemporalNetworkExistingVpc;
  /** Create the VPC endpoints private Fargate tasks need. @default true */
  readonly createVpcEndpoints?: boolean;
  /** Add the SSM messages endpoint used by ECS Exec. @default false */
  readonly enableEcsExec?: boolean;
  /** Add the Amazon Managed Service for Prometheus workspaces endpoint (the collectors' remote write). @default false */
  readonly enableManagedPrometheus?: boolean;
  /** Retention of the VPC flow log group. @default ONE_MONTH */
  readonly flowLogRetention?: logs.RetentionDays;
  /** Removal policy of the flow log group. @default RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The network the platform runs in: a VPC with private subnets in at least two AZs (public subnets
 * only hold the NAT gateways), VPC flow logs, and the endpoints private Fargate tasks need: ECR api
 * and dkr, CloudWatch Logs, STS, Secrets Manager, KMS and S3 (gateway, new VPC only); SSM messages when ECS Exec is on,
 * AMP workspaces when the collectors write to Amazon Managed Service for Prometheus. Interface
 * endpoints accept HTTPS from the VPC CIDR only.
 *
 * The DSQL PrivateLink endpoint belongs to the cluster (`TemporalDsqlCluster`), because its
 * service name comes from the cluster.
 */
export class TemporalNetwork extends Construct {
  /** The VPC. */
  public readonly vpc: ec2.IVpc;
  /** Selection of the private subnets (one per AZ) every task, endpoint and domain uses. */
  public readonly privateSubnets: ec2.SubnetSelection;
  /** The VPC's IPv4 CIDR block as a literal (usable in security group rules that cdk-nag can read). */
  public readonly vpcCidr: string;
  /** The interface endpoints created here, by service short name (`ecr.api`, `logs`, ...). */
  public readonly interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpoint> = {};

  constructor(scope: Construct, id: string, props: TemporalNetworkProps = {}) {
    super(scope, id);
    const azCount = props.azCount ?? 2;

    if (props.existingVpc) {
      const e = props.existingVpc;
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: e.vpcId,
        vpcCidrBlock: e.vpcCidrBlock,
        availabilityZones: e.availabilityZones,
        privateSubnetIds: e.privateSubnetIds,
        privateSubnetRouteTableIds: e.privateSubnetRouteTableIds,
      });
      this.privateSubnets = { subnets: this.vpc.privateSubnets };
      this.vpcCidr = e.vpcCidrBlock;
    } else {
      this.vpcCidr = props.cidr ?? '10.0.0.0/16';
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(this.vpcCidr),
        ...(props.availabilityZones ? { availabilityZones: props.availabilityZones } : { maxAzs: azCount }),
        natGateways: props.natGateways === 'one' ? 1 : azCount,
        subnetConfiguration: [
          { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
          { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
      });
      const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
        retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      });
      vpc.addFlowLog('FlowLog', {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
        trafficType: ec2.FlowLogTrafficType.ALL,
      });
      this.vpc = vpc;
      this.privateSubnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    }

    if (props.createVpcEndpoints ?? true) {
      // S3 serves ECR image layers; a gateway endpoint keeps those pulls off the NAT gateways.
      // An imported VPC has no known route tables: it is expected to have its own S3 endpoint.
      if (!props.existingVpc) {
        this.vpc.addGatewayEndpoint('S3Endpoint', {
          service: ec2.GatewayVpcEndpointAwsService.S3,
          subnets: [this.privateSubnets],
        });
      }
      const services: Array<[string, string, ec2.InterfaceVpcEndpointAwsService]> = [
        ['ecr.api', 'EcrApiEndpoint', ec2.InterfaceVpcEndpointAwsService.ECR],
        ['ecr.dkr', 'EcrDockerEndpoint', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
        ['logs', 'LogsEndpoint', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
        ['sts', 'StsEndpoint', ec2.InterfaceVpcEndpointAwsService.STS],
        // The servers read their certificate secrets and the ECS agent the UI's client secret
        // (issue 24 item 5): without an endpoint those calls leave through the NAT gateways.
        ['secretsmanager', 'SecretsManagerEndpoint', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
        // KMS for any caller in the VPC using the platform key directly (issue 24 item 5); the
        // secret, S3 and Logs decryptions are made by those services, not from the VPC.
        ['kms', 'KmsEndpoint', ec2.InterfaceVpcEndpointAwsService.KMS],
      ];
      if (props.enableEcsExec) {
        services.push(['ssmmessages', 'SsmMessagesEndpoint', ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES]);
      }
      if (props.enableManagedPrometheus) {
        // Remote write to aps-workspaces.<region>.amazonaws.com stays in the VPC (issue 24 item 5).
        services.push(['aps-workspaces', 'ApsWorkspacesEndpoint', ec2.InterfaceVpcEndpointAwsService.PROMETHEUS_WORKSPACES]);
      }
      for (const [name, endpointId, service] of services) {
        const sg = new ec2.SecurityGroup(this, `${endpointId}SecurityGroup`, {
          vpc: this.vpc,
          description: `VPC endpoint ${name}: HTTPS from the VPC`,
          allowAllOutbound: false,
        });
        sg.addIngressRule(ec2.Peer.ipv4(this.vpcCidr), ec2.Port.tcp(443), `HTTPS to ${name} from the VPC`);
        this.interfaceEndpoints[name] = this.vpc.addInterfaceEndpoint(endpointId, {
          service,
          subnets: this.privateSubnets,
          privateDnsEnabled: true,
          securityGroups: [sg],
          open: false,
        });
      }
    }
  }
}
