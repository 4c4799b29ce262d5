import { CfnOutput, Stack, StackProps, Tags } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { PlatformConfig } from '../config';
import { TemporalDsqlCluster } from '../dsql/dsql-cluster';
import { dsqlClusterProps, platformStackDescription } from '../platform-stack';
import type { MultiRegionStackProps } from './config';

/** Properties of {@link TemporalClusterOnlyStack}. */
export interface TemporalClusterOnlyStackProps extends StackProps {
  /** The Region's resolved configuration. */
  readonly config: PlatformConfig;
  /** Witness Region and, in phase `peer`, both cluster ARNs. */
  readonly multiRegion: MultiRegionStackProps;
}

/**
 * A Region's stack `Temporal-<env>-<region>` in the first two phases of a multi-Region environment
 * (`-c multiRegionPhase=witness`, then `peer`): only the DSQL cluster, declared exactly as
 * {@link TemporalPlatformStack} declares it (same construct path `Dsql`, so the same logical id;
 * same tags, deletion protection, key and removal policy), plus its ARN as output `DsqlClusterArn`.
 *
 * Why nothing else: until both clusters are peered they wait in PENDING_SETUP and serve no
 * connections (AWS, "Configuring multi-Region clusters"), so the schema job and the services would
 * fail their first deploy. Phase `peer` then differs from phase `witness` only by
 * `MultiRegionProperties.Clusters`; the platform (phase `platform`) is added around the cluster once
 * it is ACTIVE. docs/multi-region.md.
 */
export class TemporalClusterOnlyStack extends Stack {
  /** The cluster (`AWS::DSQL::Cluster`). */
  public readonly dsqlCluster: TemporalDsqlCluster;

  constructor(scope: Construct, id: string, props: TemporalClusterOnlyStackProps) {
    const { config } = props;
    super(scope, id, { ...props, env: props.env ?? config.env, description: props.description ?? platformStackDescription(config) });
    Tags.of(this).add('project', 'temporal-dsql');
    Tags.of(this).add('environment', config.envName);
    Tags.of(this).add('temporal:version', config.temporalVersion);
    for (const [k, v] of Object.entries(config.tags)) Tags.of(this).add(k, v);
    this.dsqlCluster = new TemporalDsqlCluster(this, 'Dsql', dsqlClusterProps(config, props.multiRegion));
    new CfnOutput(this, 'DsqlClusterArn', { value: this.dsqlCluster.clusterArn, description: 'multiRegion.clusterArns value of this Region' });
  }
}
