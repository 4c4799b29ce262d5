import { Fn, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

/** PostgreSQL port of Aurora DSQL (public and PrivateLink endpoints). */
export const DSQL_PORT = 5432;

/** Properties of {@link TemporalDsqlCluster}. */
export interface TemporalDsqlClusterProps {
  /** Deletion protection. @default true */
  readonly deletionProtection?: boolean;
  /** Customer managed KMS key ARN for encryption at rest. @default - AWS owned key */
  readonly kmsKeyArn?: string;
  /** Value of the cluster's `Name` tag (DSQL has no name property). @default - the construct path */
  readonly name?: string;
  /** What happens to the cluster when it leaves the stack. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Create a PrivateLink interface endpoint for the cluster in this VPC, so that database traffic
   * stays in the VPC. @default - no endpoint; clients use the public endpoint
   */
  readonly vpc?: ec2.IVpc;
  /** Subnets of the PrivateLink endpoint. @default - the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Adopt an existing cluster (26-character identifier, in the stack's account and Region; for
   * example one AWS Backup restored) instead of creating one: no `AWS::DSQL::Cluster` in the
   * template; `deletionProtection`, `kmsKeyArn`, `name` and `removalPolicy` do not apply (they are
   * the existing cluster's). Its PrivateLink service name is read at deploy time
   * (`dsql:GetVpcEndpointServiceName`), and {@link setPolicy} puts the resource policy on it
   * (`dsql:PutClusterPolicy`). @default - a new cluster
   */
  readonly existingClusterId?: string;
  /**
   * Multi-Region peering (`MultiRegionProperties`; not with `existingClusterId`): the witness Region
   * alone for AWS's first phase (the cluster waits in PENDING_SETUP), then also `clusters`, the ARNs
   * of the peered clusters (this one's and its peer's), for the second. docs/multi-region.md.
   * @default - a single-Region cluster
   */
  readonly multiRegion?: { readonly witnessRegion: string; readonly clusters?: readonly string[] };
}

/**
 * An Aurora DSQL cluster (`AWS::DSQL::Cluster`, L1 only in aws-cdk-lib 2.276) with deletion
 * protection on and a RETAIN removal policy by default, an optional customer KMS key, a `Name`
 * tag, an optional PrivateLink endpoint, and grants scoped to this cluster's ARN.
 *
 * Database roles: the Temporal servers connect as a non-admin role with `dsql:DbConnect`
 * ({@link grantConnect}); only the schema job gets `dsql:DbConnectAdmin` ({@link grantConnectAdmin}).
 */
export class TemporalDsqlCluster extends Construct implements ec2.IConnectable {
  /** The L1 cluster; undefined when an existing cluster was adopted (`existingClusterId`). */
  public readonly resource?: dsql.CfnCluster;
  /** Cluster identifier (26 characters). */
  public readonly clusterIdentifier: string;
  /** Cluster ARN, `arn:<partition>:dsql:<region>:<account>:cluster/<id>`. */
  public readonly clusterArn: string;
  /** Public endpoint host name, `<id>.dsql.<region>.on.aws` (port 5432). */
  public readonly publicEndpoint: string;
  /** PrivateLink endpoint service name, `com.amazonaws.<region>.dsql-<suffix>`. */
  public readonly vpcEndpointServiceName: string;
  /**
   * Host name clients in the VPC connect to (and sign IAM tokens for): the cluster's VPC
   * endpoint host name (CloudFormation attribute `VpcEndpoint`) when a PrivateLink endpoint was
   * created, else the public endpoint.
   */
  public readonly connectEndpoint: string;
  /** The PrivateLink interface endpoint, when `vpc` was given. */
  public readonly vpcEndpoint?: ec2.InterfaceVpcEndpoint;
  /**
   * Network access to the cluster: the PrivateLink endpoint's security group. Use
   * `cluster.connections.allowDefaultPortFrom(peer)` to let a peer connect on 5432. Without a
   * PrivateLink endpoint this holds no security group and rules are no-ops.
   */
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: TemporalDsqlClusterProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    if (props.existingClusterId !== undefined) {
      const clusterId = props.existingClusterId;
      this.clusterIdentifier = clusterId;
      this.clusterArn = stack.formatArn({ service: 'dsql', resource: 'cluster', resourceName: clusterId });
      // Aurora DSQL User Guide: endpoint <cluster-id>.dsql.<region>.on.aws (shared/DSQL.md).
      this.publicEndpoint = `${clusterId}.dsql.${stack.region}.on.aws`;
      const lookup = new cr.AwsCustomResource(this, 'VpcEndpointServiceNameLookup', {
        onUpdate: {
          service: 'DSQL',
          action: 'GetVpcEndpointServiceName',
          parameters: { identifier: clusterId },
          physicalResourceId: cr.PhysicalResourceId.of(`${clusterId}-vpc-endpoint-service-name`),
        },
        policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['dsql:GetVpcEndpointServiceName'], resources: [this.clusterArn] })]),
        installLatestAwsSdk: false,
      });
      this.vpcEndpointServiceName = lookup.getResponseField('serviceName');
    } else {
      const resource = new dsql.CfnCluster(this, 'Resource', {
        deletionProtectionEnabled: props.deletionProtection ?? true,
        kmsEncryptionKey: props.kmsKeyArn,
        multiRegionProperties: props.multiRegion && {
          witnessRegion: props.multiRegion.witnessRegion,
          clusters: props.multiRegion.clusters && [...props.multiRegion.clusters],
        },
      });
      resource.applyRemovalPolicy(props.removalPolicy ?? RemovalPolicy.RETAIN);
      Tags.of(resource).add('Name', props.name ?? this.node.path.replace(/\//g, '-'));
      this.resource = resource;
      this.clusterIdentifier = resource.attrIdentifier;
      this.clusterArn = resource.attrResourceArn;
      this.publicEndpoint = resource.attrEndpoint;
      this.vpcEndpointServiceName = resource.attrVpcEndpointServiceName;
    }

    if (props.vpc) {
      const sg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: props.vpc,
        description: `DSQL PrivateLink endpoint of ${this.node.path}`,
        allowAllOutbound: false,
      });
      this.vpcEndpoint = new ec2.InterfaceVpcEndpoint(this, 'VpcEndpoint', {
        vpc: props.vpc,
        service: new ec2.InterfaceVpcEndpointService(this.vpcEndpointServiceName, DSQL_PORT),
        subnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        privateDnsEnabled: true,
        securityGroups: [sg],
        open: false,
      });
      this.connections = new ec2.Connections({ securityGroups: [sg], defaultPort: ec2.Port.tcp(DSQL_PORT) });
      // The VPC endpoint host: CloudFormation's `VpcEndpoint` attribute for a cluster created here;
      // for an adopted one, the same shape derived from the service name
      // (com.amazonaws.<region>.dsql-<suffix> -> <cluster-id>.dsql-<suffix>.<region>.on.aws).
      this.connectEndpoint = this.resource
        ? this.resource.attrVpcEndpoint
        : Fn.join('', [this.clusterIdentifier, '.', Fn.select(3, Fn.split('.', this.vpcEndpointServiceName)), '.', stack.region, '.on.aws']);
    } else {
      this.connections = new ec2.Connections({ defaultPort: ec2.Port.tcp(DSQL_PORT) });
      this.connectEndpoint = this.publicEndpoint;
    }
  }

  /**
   * Puts `policy` (an IAM policy document) on the cluster as its resource policy: the
   * `PolicyDocument` property of a cluster created here, `dsql:PutClusterPolicy` at deploy time for
   * an adopted one (removed again with `dsql:DeleteClusterPolicy` when it leaves the stack).
   */
  public setPolicy(policy: Record<string, unknown>): void {
    const json = Stack.of(this).toJsonString(policy);
    if (this.resource) {
      this.resource.policyDocument = json;
      return;
    }
    new cr.AwsCustomResource(this, 'ClusterPolicy', {
      onUpdate: {
        service: 'DSQL',
        action: 'PutClusterPolicy',
        parameters: { identifier: this.clusterIdentifier, policy: json },
        physicalResourceId: cr.PhysicalResourceId.of(`${this.clusterIdentifier}-policy`),
      },
      onDelete: { service: 'DSQL', action: 'DeleteClusterPolicy', parameters: { identifier: this.clusterIdentifier } },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['dsql:PutClusterPolicy', 'dsql:DeleteClusterPolicy'], resources: [this.clusterArn] }),
      ]),
      installLatestAwsSdk: false,
    });
  }

  /** Whether the cluster was adopted (`existingClusterId`) rather than created here. */
  public get adopted(): boolean {
    return this.resource === undefined;
  }

  /** Region of the cluster (the stack's region; a token in an environment-agnostic stack). */
  public get region(): string {
    return Stack.of(this).region;
  }

  /**
   * Lets `grantee` connect as a non-admin database role (`dsql:DbConnect` on this cluster only).
   * The database role must also be mapped to the grantee's IAM role with `AWS IAM GRANT`.
   */
  public grantConnect(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['dsql:DbConnect'], resourceArns: [this.clusterArn] });
  }

  /** Lets `grantee` connect as `admin` (`dsql:DbConnectAdmin` on this cluster only). For the schema job only. */
  public grantConnectAdmin(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['dsql:DbConnectAdmin'], resourceArns: [this.clusterArn] });
  }
}
