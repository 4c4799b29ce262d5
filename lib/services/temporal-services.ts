import { Duration, RemovalPolicy, Tags, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cloudmap from 'aws-cdk-lib/aws-servicediscovery';
import { Construct, IDependable } from 'constructs';
import { PlatformService, ServiceSizing, TEMPORAL_ROLES, TemporalRole } from './roles';
import { AUTOSCALED_ROLES, AutoscaledRole, FRONTEND_DEREGISTRATION_DELAY_SECONDS, MIN_STOP_TIMEOUT_SECONDS } from './scaling';
import { addWritablePaths, CONTAINER_USERS, SERVER_RUNTIME_ENV, SERVER_WRITABLE_PATHS, UI_WRITABLE_PATHS } from './read-only';
import {
  grantTlsSecrets, INTERNAL_FRONTEND_PORTS, serverSecurityEnvironment, TemporalServerAuth, TemporalServerTls, TemporalUiSecurity, uiSecurityContainerSettings,
} from '../security/temporal-auth';

/** MiB of a server task left to the metrics collector sidecar (it reserves 64 MiB and has no hard limit). */
export const COLLECTOR_HEADROOM_MIB = 128;

/**
 * The Go runtime's soft memory limit (`GOMEMLIMIT`) of a server container, in MiB: 80 % of the task's
 * memory after {@link COLLECTOR_HEADROOM_MIB}. Without it Go lets the heap reach about twice the live
 * data before collecting (GOGC 100), so a burst that fills history's cache could take the task past its
 * hard limit and ECS would kill it (OOM); near this limit Go collects more often instead. It is a soft
 * limit: live data above it is kept (source: the Go runtime package documentation, "GOMEMLIMIT", and
 * "A Guide to the Go Garbage Collector").
 * @param taskMemoryMiB the task's memory (Fargate sizes, at least 512)
 * @returns whole MiB, e.g. 4096 -> 3174
 */
export function serverGoMemLimitMiB(taskMemoryMiB: number): number {
  return Math.floor((taskMemoryMiB - COLLECTOR_HEADROOM_MIB) * 0.8);
}

/** gRPC and membership (ringpop) ports of each Temporal role. */
export const TEMPORAL_PORTS: Readonly<Record<TemporalRole, { readonly grpc: number; readonly membership: number }>> = {
  frontend: { grpc: 7233, membership: 6933 },
  history: { grpc: 7234, membership: 6934 },
  matching: { grpc: 7235, membership: 6935 },
  worker: { grpc: 7239, membership: 6939 },
};
/** Frontend HTTP API port (also the target of Nexus completion callbacks from history). */
export const FRONTEND_HTTP_PORT = 7243;
/** Prometheus metrics port of every role. */
export const METRICS_PORT = 9090;
/** Port the Temporal UI container listens on. */
export const UI_PORT = 8080;
/** Name of the server container in every role's task definition. */
export const SERVER_CONTAINER_NAME = 'temporal';

/**
 * Container health check of every server role: the image's `healthcheck` subcommand asks the
 * role's own gRPC port for its grpc.health.v1 status (docs/server-container.md), exec form
 * because the image has no shell. A role reports SERVING only when it is ready: the frontend
 * once the membership ring is initialised, history once it holds the shards it owns at start,
 * the worker once it has joined the ring. Failures inside the start period do not count and
 * the first success ends it, so the 180 s only bound how long a task that never becomes ready
 * lives (schema check, DSQL connections at DSQL_CONNECT_RATE, membership join of up to 30 s,
 * shard acquisition); after that three failed checks 15 s apart (each 4 s at most) mark the
 * task unhealthy and ECS replaces it.
 */
export const SERVER_HEALTH_CHECK: ecs.HealthCheck = {
  command: ['CMD', '/usr/local/bin/temporal-dsql-server', 'healthcheck', '--timeout', '4s'],
  interval: Duration.seconds(15),
  timeout: Duration.seconds(5),
  retries: 3,
  startPeriod: Duration.seconds(180),
};

/**
 * Path the frontend NLB target group checks on the frontend HTTP API port: GetSystemInfo,
 * answered 200 only after the frontend is healthy (the HTTP API runs the gRPC interceptors,
 * whose health interceptor refuses WorkflowService calls before that). An NLB cannot speak
 * grpc.health.v1; this is the nearest HTTP equivalent.
 */
export const FRONTEND_NLB_HEALTH_CHECK_PATH = '/api/v1/system-info';

/**
 * The gRPC calls between roles: for each role, the roles that call its gRPC port. Membership
 * ports are open between all roles. The internal worker role's gRPC port takes no calls.
 */
export const GRPC_CALLERS: Readonly<Record<TemporalRole, readonly TemporalRole[]>> = {
  frontend: ['worker'],
  history: ['frontend', 'history', 'matching', 'worker'],
  matching: ['frontend', 'history', 'matching', 'worker'],
  worker: [],
};

/** Settings every server role receives through its task definition (docs/server-container.md). */
export interface TemporalServerSettings {
  /** DSQL host name the servers connect to and sign tokens for (`DSQL_ENDPOINT`). */
  readonly dsqlEndpoint: string;
  /** Region the DSQL IAM token is signed for (`DSQL_REGION`). */
  readonly dsqlRegion: string;
  /** Non-admin database role (`DSQL_DATABASE_ROLE`). */
  readonly databaseRole: string;
  /** OpenSearch endpoint URL with scheme (`OPENSEARCH_ENDPOINT`). */
  readonly openSearchEndpoint: string;
  /** Region for OpenSearch request signing (`OPENSEARCH_REGION`). */
  readonly openSearchRegion: string;
  /** Visibility index name (`OPENSEARCH_VISIBILITY_INDEX`). */
  readonly visibilityIndex: string;
  /** History shard count (`NUM_HISTORY_SHARDS`). */
  readonly numHistoryShards: number;
  /** Dynamic config YAML (`TEMPORAL_DYNAMIC_CONFIG`). */
  readonly dynamicConfigYaml: string;
  /** Server log level (`LOG_LEVEL`). @default 'info' */
  readonly logLevel?: string;
}

/** Properties of {@link TemporalServices}. */
export interface TemporalServicesProps {
  /** VPC of the cluster, load balancers and tasks. */
  readonly vpc: ec2.IVpc;
  /** Name of the server task role (multi-Region: the peer's schema job maps it by name). @default - generated by CloudFormation */
  readonly serverTaskRoleName?: string;
  /**
   * What every service (the four roles and the UI) waits for before it is created or updated: the
   * certificate secrets, the shard-count pin, the DSQL PrivateLink endpoint. @default - none
   */
  readonly startupDependencies?: IDependable[];
  /** Private subnets of tasks and load balancers. */
  readonly vpcSubnets: ec2.SubnetSelection;
  /** The Temporal server image (docs/server-container.md). */
  readonly serverImage: ecs.ContainerImage;
  /** What the servers need to know. */
  readonly server: TemporalServerSettings;
  /** Size of each service. */
  readonly sizing: Readonly<Record<PlatformService, ServiceSizing>>;
  /** `temporalio/ui` tag (ignored when `uiImage` is set). @default '2.56.1' */
  readonly uiVersion?: string;
  /**
   * Full UI image reference, e.g. pinned by digest (`temporalio/ui:2.56.1@sha256:...`), or the
   * container image itself (e.g. from the ECR pull-through cache, lib/services/images.ts).
   * @default - `temporalio/ui:<uiVersion>` from Docker Hub
   */
  readonly uiImage?: string | ecs.ContainerImage;
  /** Private DNS namespace for service discovery; the frontend registers as `frontend.<name>`. @default 'temporal.internal' */
  readonly namespaceName?: string;
  /** Peers allowed to reach the frontend NLB on 7233 and the UI ALB. @default - the VPC CIDR */
  readonly clientPeers?: ec2.IPeer[];
  /**
   * Peers allowed straight into the frontend tasks on 7233 (clients dialling the Cloud Map name).
   * Besides these, the frontend security group admits only the NLB, the UI and the server roles.
   * @default - none: clients go through the NLB
   */
  readonly frontendClientPeers?: ec2.IPeer[];
  /** Frontend authorization (lib/security/temporal-auth.ts). @default - none: `TEMPORAL_ALLOW_NO_AUTH=true` (development only) */
  readonly auth?: TemporalServerAuth;
  /** Frontend TLS and mutual TLS between the roles (lib/security/temporal-auth.ts). @default - none: `TEMPORAL_ALLOW_PLAINTEXT=true` (development only) */
  readonly tls?: TemporalServerTls;
  /** UI login (OIDC) and read-only switch. @default - no login, write actions shown */
  readonly uiSecurity?: TemporalUiSecurity;
  /** ACM certificate for HTTPS on the UI ALB. @default - HTTP on port 80 */
  readonly uiCertificateArn?: string;
  /** Retention of the per-service log groups. @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the log groups. @default RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Graceful stop timeout of the server containers: at least 70 s (the frontend drains open long polls
   * for 65 s, lib/services/scaling.ts), at most 120 s (Fargate's maximum). @default 120 seconds
   */
  readonly stopTimeout?: Duration;
  /** CPU autoscaling of frontend and matching. @default - none: every role runs its `desiredCount` */
  readonly autoscaling?: TemporalServicesAutoscaling;
  /** Allow ECS Exec. @default false */
  readonly enableEcsExec?: boolean;
  /** CPU architecture of all tasks. @default ARM64 */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
}

/** CPU target tracking of the autoscaled roles (frontend, matching). */
export interface TemporalServicesAutoscaling {
  /** Task count bounds per role; the service's template has no `DesiredCount` (deploys keep the current count). */
  readonly roles: Readonly<Record<AutoscaledRole, { readonly minCount: number; readonly maxCount: number }>>;
  /** Target average CPU utilisation, percent. @default 60 */
  readonly targetCpuPercent?: number;
  /** Time between scale-outs. @default 60 seconds */
  readonly scaleOutCooldown?: Duration;
  /** Time between scale-ins. @default 600 seconds */
  readonly scaleInCooldown?: Duration;
}

function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The Temporal services on ECS Fargate: a cluster with Container Insights, one service per role
 * (frontend, history, matching, worker) and one for the Temporal UI, each with its own security
 * group, log group and task definition; the frontend behind an internal NLB on 7233 and
 * registered in Cloud Map as `frontend.<namespace>`; the UI behind an internal ALB checking
 * `/healthz`. Every server container has a health check ({@link SERVER_HEALTH_CHECK}); the NLB
 * checks the frontend's HTTP API ({@link FRONTEND_NLB_HEALTH_CHECK_PATH}).
 *
 * Security groups allow exactly Temporal's intra-cluster traffic: every role to every role on the
 * membership ports, the gRPC calls listed in {@link GRPC_CALLERS}, history to the frontend HTTP
 * API (Nexus callbacks), the UI, the NLB and the client peers (Cloud Map name) to the frontend on
 * 7233, the ALB to the UI. Access to
 * DSQL and OpenSearch is granted by the caller through {@link serverConnections}.
 *
 * With `autoscaling`, frontend and matching follow CPU (target tracking) between their bounds and
 * have no `DesiredCount` in the template; history, worker and the UI keep `desiredCount`
 * (lib/services/scaling.ts says why). The frontend target drains for {@link FRONTEND_DEREGISTRATION_DELAY_SECONDS}
 * seconds before ECS stops a task, and `stopTimeout` leaves room for the frontend's long-poll drain.
 *
 * Deployments use the circuit breaker with rollback; every service keeps 100% of its tasks
 * healthy while deploying (history and matching must not lose shard or partition owners at once).
 * Call {@link addStartupDependency} with the schema and index custom resources so that no service
 * starts before both exist.
 */
export class TemporalServices extends Construct {
  /** The ECS cluster. */
  public readonly cluster: ecs.Cluster;
  /** Task role shared by the four server roles (DSQL `DbConnect`, OpenSearch access). */
  public readonly serverTaskRole: iam.Role;
  /** The ECS services by name. */
  public readonly services: Readonly<Record<PlatformService, ecs.FargateService>>;
  /** Security group of each server role. */
  public readonly securityGroups: Readonly<Record<TemporalRole, ec2.SecurityGroup>>;
  /** Connections of all four server roles (to be allowed into DSQL and OpenSearch). */
  public readonly serverConnections: ec2.Connections;
  /** Log group of each service. */
  public readonly logGroups: Readonly<Record<PlatformService, logs.LogGroup>>;
  /** Task count scaling of the autoscaled roles (add schedules or more policies here); empty without `autoscaling`. */
  public readonly scalableTaskCounts: Readonly<Partial<Record<AutoscaledRole, ecs.ScalableTaskCount>>>;
  /** Internal NLB in front of the frontend. */
  public readonly frontendLoadBalancer: elbv2.NetworkLoadBalancer;
  /** Its TCP listener on 7233. */
  public readonly frontendListener: elbv2.NetworkListener;
  /** Service-discovery address of the frontend, `frontend.<namespace>:7233`. */
  public readonly frontendAddress: string;
  /** Internal ALB in front of the UI. */
  public readonly uiLoadBalancer: elbv2.ApplicationLoadBalancer;
  /** URL of the UI through the ALB. */
  public readonly uiUrl: string;

  constructor(scope: Construct, id: string, props: TemporalServicesProps) {
    super(scope, id);
    const { vpc, vpcSubnets } = props;
    const namespaceName = props.namespaceName ?? 'temporal.internal';
    const clientPeers = props.clientPeers ?? [ec2.Peer.ipv4(vpc.vpcCidrBlock)];
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    const stopTimeout = props.stopTimeout ?? Duration.seconds(120);
    if (!stopTimeout.isUnresolved() && (stopTimeout.toSeconds() < MIN_STOP_TIMEOUT_SECONDS || stopTimeout.toSeconds() > 120)) {
      throw new Error(`stopTimeout must be ${MIN_STOP_TIMEOUT_SECONDS}-120 seconds (the frontend drains long polls for 65 s before it stops), got ${stopTimeout.toSeconds()}`);
    }
    const runtimePlatform: ecs.RuntimePlatform = {
      cpuArchitecture: props.cpuArchitecture ?? ecs.CpuArchitecture.ARM64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    };

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.cluster.addDefaultCloudMapNamespace({ name: namespaceName, vpc, useForServiceConnect: false });
    this.frontendAddress = `frontend.${namespaceName}:${TEMPORAL_PORTS.frontend.grpc}`;

    this.serverTaskRole = new iam.Role(this, 'ServerTaskRole', {
      roleName: props.serverTaskRoleName,
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Temporal server tasks: DSQL DbConnect as the non-admin database role, OpenSearch visibility access',
    });

    // Security groups: one per role.
    const sgs = {} as Record<TemporalRole, ec2.SecurityGroup>;
    for (const role of TEMPORAL_ROLES) {
      sgs[role] = new ec2.SecurityGroup(this, `${pascal(role)}SecurityGroup`, {
        vpc,
        description: `Temporal ${role} tasks`,
        // Egress: the rules below and the caller's (lib/network/egress.ts).
        allowAllOutbound: false,
      });
    }
    for (const target of TEMPORAL_ROLES) {
      for (const source of TEMPORAL_ROLES) {
        sgs[target].connections.allowFrom(sgs[source], ec2.Port.tcp(TEMPORAL_PORTS[target].membership),
          `Temporal membership: ${source} to ${target}`);
      }
      for (const caller of GRPC_CALLERS[target]) {
        sgs[target].connections.allowFrom(sgs[caller], ec2.Port.tcp(TEMPORAL_PORTS[target].grpc),
          `Temporal gRPC: ${caller} to ${target}`);
      }
    }
    sgs.frontend.connections.allowFrom(sgs.history, ec2.Port.tcp(FRONTEND_HTTP_PORT), 'Temporal HTTP API: history Nexus callbacks to frontend');
    // The frontend task also runs the internal-frontend: only the server roles reach it (no token needed there).
    for (const source of TEMPORAL_ROLES) {
      sgs.frontend.connections.allowFrom(sgs[source], ec2.Port.tcp(INTERNAL_FRONTEND_PORTS.membership), `Temporal membership: ${source} to internal-frontend`);
    }
    for (const caller of ['history', 'matching', 'worker'] as const) {
      sgs.frontend.connections.allowFrom(sgs[caller], ec2.Port.tcp(INTERNAL_FRONTEND_PORTS.grpc), `Temporal gRPC: ${caller} to internal-frontend`);
      sgs.frontend.connections.allowFrom(sgs[caller], ec2.Port.tcp(INTERNAL_FRONTEND_PORTS.http), `Temporal HTTP API: ${caller} to internal-frontend`);
    }
    this.securityGroups = sgs;
    this.serverConnections = new ec2.Connections({ securityGroups: TEMPORAL_ROLES.map((r) => sgs[r]) });

    // Server roles.
    const s = props.server;
    const common: Record<string, string> = {
      DSQL_ENDPOINT: s.dsqlEndpoint,
      DSQL_PORT: '5432',
      DSQL_REGION: s.dsqlRegion,
      DSQL_DATABASE_ROLE: s.databaseRole,
      OPENSEARCH_ENDPOINT: s.openSearchEndpoint,
      OPENSEARCH_VISIBILITY_INDEX: s.visibilityIndex,
      OPENSEARCH_AWS_SIGNING: 'true',
      OPENSEARCH_REGION: s.openSearchRegion,
      NUM_HISTORY_SHARDS: String(s.numHistoryShards),
      TEMPORAL_DYNAMIC_CONFIG: s.dynamicConfigYaml,
      LOG_LEVEL: s.logLevel ?? 'info',
      ...serverSecurityEnvironment(props.auth, props.tls),
    };
    if (props.tls) grantTlsSecrets(this.serverTaskRole, props.tls);
    const services = {} as Record<PlatformService, ecs.FargateService>;
    const logGroups = {} as Record<PlatformService, logs.LogGroup>;
    const scalableTaskCounts: Partial<Record<AutoscaledRole, ecs.ScalableTaskCount>> = {};
    for (const role of TEMPORAL_ROLES) {
      const id = pascal(role);
      const size = props.sizing[role];
      logGroups[role] = new logs.LogGroup(this, `${id}Logs`, { retention: logRetention, removalPolicy: logRemovalPolicy });
      const taskDefinition = new ecs.FargateTaskDefinition(this, `${id}TaskDefinition`, {
        cpu: size.cpu,
        memoryLimitMiB: size.memoryMiB,
        runtimePlatform,
        taskRole: this.serverTaskRole,
      });
      const ports = [TEMPORAL_PORTS[role].grpc, TEMPORAL_PORTS[role].membership, METRICS_PORT];
      if (role === 'frontend') ports.push(FRONTEND_HTTP_PORT, INTERNAL_FRONTEND_PORTS.grpc, INTERNAL_FRONTEND_PORTS.membership, INTERNAL_FRONTEND_PORTS.http);
      const server = taskDefinition.addContainer(SERVER_CONTAINER_NAME, {
        image: props.serverImage,
        essential: true,
        // Read-only root, the image's non-root user; writes go to SERVER_WRITABLE_PATHS only (lib/services/read-only.ts).
        readonlyRootFilesystem: true,
        user: CONTAINER_USERS.server,
        environment: {
          SERVICES: role === 'frontend' ? 'frontend,internal-frontend' : role,
          GOMEMLIMIT: `${serverGoMemLimitMiB(size.memoryMiB)}MiB`,
          ...SERVER_RUNTIME_ENV,
          ...common,
        },
        portMappings: ports.map((containerPort) => ({ containerPort, protocol: ecs.Protocol.TCP })),
        logging: ecs.LogDrivers.awsLogs({ logGroup: logGroups[role], streamPrefix: role }),
        stopTimeout,
        healthCheck: SERVER_HEALTH_CHECK,
      });
      addWritablePaths(taskDefinition, server, SERVER_WRITABLE_PATHS);
      Validations.of(taskDefinition).acknowledge({
        id: 'AwsSolutions-ECS2',
        reason: 'The server container contract (docs/server-container.md) passes endpoints, shard count, dynamic config, JWKS URLs and certificate secret ARNs as environment variables so that every change shows in cdk diff; none of them is a secret (DSQL and OpenSearch use IAM; the server fetches its keys from Secrets Manager itself).',
      });
      if (taskDefinition.executionRole) {
        Validations.of(taskDefinition.executionRole).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'ecr:GetAuthorizationToken (pulling the server image from ECR) has no resource-level permissions; the pull actions themselves are scoped to the repository.',
        });
      }
      const scaled = props.autoscaling && (AUTOSCALED_ROLES as readonly TemporalRole[]).includes(role)
        ? props.autoscaling.roles[role as AutoscaledRole] : undefined;
      services[role] = new ecs.FargateService(this, `${id}Service`, {
        cluster: this.cluster,
        taskDefinition,
        // An autoscaled service leaves DesiredCount out of the template: CloudFormation then keeps the
        // current count on every deploy instead of resetting it to the minimum.
        desiredCount: scaled ? undefined : size.desiredCount,
        vpcSubnets,
        securityGroups: [sgs[role]],
        assignPublicIp: false,
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
        circuitBreaker: { enable: true, rollback: true },
        enableExecuteCommand: props.enableEcsExec ?? false,
        propagateTags: ecs.PropagatedTagSource.SERVICE,
        ...(role === 'frontend' ? {
          cloudMapOptions: { name: 'frontend', dnsRecordType: cloudmap.DnsRecordType.A, dnsTtl: Duration.seconds(10) },
          // The NLB marks a frontend healthy only once it serves: give it the container check's start period.
          healthCheckGracePeriod: SERVER_HEALTH_CHECK.startPeriod,
        } : {}),
      });
      Tags.of(services[role]).add('temporal:role', role);
      if (scaled && props.autoscaling) {
        // Registering the scalable target brings the count into [min, max] at once (also on first create).
        const taskCount = services[role].autoScaleTaskCount({ minCapacity: scaled.minCount, maxCapacity: scaled.maxCount });
        scalableTaskCounts[role as AutoscaledRole] = taskCount;
        taskCount.scaleOnCpuUtilization('CpuScaling', {
          targetUtilizationPercent: props.autoscaling.targetCpuPercent ?? 60,
          scaleOutCooldown: props.autoscaling.scaleOutCooldown ?? Duration.seconds(60),
          scaleInCooldown: props.autoscaling.scaleInCooldown ?? Duration.seconds(600),
        });
      }
    }

    // Frontend NLB: clients reach gRPC 7233 through it (plain TCP, so 60 s long polls pass).
    const nlbSg = new ec2.SecurityGroup(this, 'FrontendLoadBalancerSecurityGroup', {
      vpc,
      description: 'Internal NLB in front of the Temporal frontend (gRPC 7233)',
      allowAllOutbound: false,
    });
    for (const peer of clientPeers) {
      nlbSg.addIngressRule(peer, ec2.Port.tcp(TEMPORAL_PORTS.frontend.grpc), 'Temporal clients to the frontend NLB');
    }
    this.frontendLoadBalancer = new elbv2.NetworkLoadBalancer(this, 'FrontendLoadBalancer', {
      vpc,
      vpcSubnets,
      internetFacing: false,
      crossZoneEnabled: true,
      securityGroups: [nlbSg],
    });
    Validations.of(this.frontendLoadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason: 'Internal NLB for gRPC only; the VPC flow logs record its connections, and access logs would need an S3 bucket the platform does not otherwise have.',
    });
    this.frontendListener = this.frontendLoadBalancer.addListener('Grpc', {
      port: TEMPORAL_PORTS.frontend.grpc,
      protocol: elbv2.Protocol.TCP,
    });
    this.frontendListener.addTargets('Frontend', {
      port: TEMPORAL_PORTS.frontend.grpc,
      protocol: elbv2.Protocol.TCP,
      // IP targets with TCP: the frontend sees the NLB's own address, so its security group admits the
      // NLB's security group (the clients' CIDRs are enforced on the NLB's). ELB User Guide for NLBs,
      // "Client IP preservation" (default off for IP targets with TCP), pinned here.
      preserveClientIp: false,
      targets: [services.frontend.loadBalancerTarget({ containerName: SERVER_CONTAINER_NAME, containerPort: TEMPORAL_PORTS.frontend.grpc })],
      // Long polls last about 60 s: no new connection reaches a task during the last long poll before
      // ECS stops it; the stopping frontend then drains the polls it has (lib/services/scaling.ts).
      deregistrationDelay: Duration.seconds(FRONTEND_DEREGISTRATION_DELAY_SECONDS),
      // Not a TCP connect on 7233 (open before the frontend serves): HTTP GetSystemInfo on 7243.
      healthCheck: {
        // With frontend TLS the HTTP API listens with TLS too (upstream http_api_server.go); the NLB does not verify the certificate.
        protocol: props.tls ? elbv2.Protocol.HTTPS : elbv2.Protocol.HTTP,
        port: String(FRONTEND_HTTP_PORT),
        path: FRONTEND_NLB_HEALTH_CHECK_PATH,
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    sgs.frontend.connections.allowFrom(nlbSg, ec2.Port.tcp(TEMPORAL_PORTS.frontend.grpc), 'Frontend NLB to the frontend (client traffic)');
    sgs.frontend.connections.allowFrom(nlbSg, ec2.Port.tcp(FRONTEND_HTTP_PORT), 'Frontend NLB health checks (HTTP API GetSystemInfo)');
    // Clients may also dial the Cloud Map name, which resolves to the frontend tasks themselves: only
    // the peers configured for that (never the whole VPC by default).
    for (const peer of props.frontendClientPeers ?? []) {
      sgs.frontend.addIngressRule(peer, ec2.Port.tcp(TEMPORAL_PORTS.frontend.grpc), 'Temporal clients to the frontend (service discovery)');
    }

    // Temporal UI.
    const uiSg = new ec2.SecurityGroup(this, 'UiSecurityGroup', { vpc, description: 'Temporal UI tasks', allowAllOutbound: false });
    sgs.frontend.connections.allowFrom(uiSg, ec2.Port.tcp(TEMPORAL_PORTS.frontend.grpc), 'Temporal UI to the frontend');
    logGroups.ui = new logs.LogGroup(this, 'UiLogs', { retention: logRetention, removalPolicy: logRemovalPolicy });
    const uiTask = new ecs.FargateTaskDefinition(this, 'UiTaskDefinition', {
      cpu: props.sizing.ui.cpu,
      memoryLimitMiB: props.sizing.ui.memoryMiB,
      runtimePlatform,
    });
    const uiSecurity = uiSecurityContainerSettings(props.uiSecurity, props.tls);
    const ui = uiTask.addContainer('ui', {
      image: typeof props.uiImage === 'object' ? props.uiImage : ecs.ContainerImage.fromRegistry(props.uiImage ?? `temporalio/ui:${props.uiVersion ?? '2.56.1'}`),
      essential: true,
      readonlyRootFilesystem: true,
      user: CONTAINER_USERS.ui,
      environment: {
        TEMPORAL_ADDRESS: this.frontendAddress,
        TEMPORAL_UI_PORT: String(UI_PORT),
        ...uiSecurity.environment,
      },
      secrets: uiSecurity.secrets,
      portMappings: [{ containerPort: UI_PORT, protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ logGroup: logGroups.ui, streamPrefix: 'ui' }),
    });
    addWritablePaths(uiTask, ui, UI_WRITABLE_PATHS);
    Validations.of(uiTask).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds plain settings (frontend address, port, OIDC issuer, client id and callback, the public CA bundle); the OIDC client secret is an ECS secret from Secrets Manager.',
    });
    services.ui = new ecs.FargateService(this, 'UiService', {
      cluster: this.cluster,
      taskDefinition: uiTask,
      desiredCount: props.sizing.ui.desiredCount,
      vpcSubnets,
      securityGroups: [uiSg],
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      enableExecuteCommand: props.enableEcsExec ?? false,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      healthCheckGracePeriod: Duration.seconds(60),
    });
    Tags.of(services.ui).add('temporal:role', 'ui');

    const albSg = new ec2.SecurityGroup(this, 'UiLoadBalancerSecurityGroup', {
      vpc,
      description: 'Internal ALB in front of the Temporal UI',
      allowAllOutbound: false,
    });
    const uiListenerPort = props.uiCertificateArn ? 443 : 80;
    for (const peer of clientPeers) {
      albSg.addIngressRule(peer, ec2.Port.tcp(uiListenerPort), 'Users to the Temporal UI ALB');
      if (props.uiCertificateArn) albSg.addIngressRule(peer, ec2.Port.tcp(80), 'Users to the Temporal UI ALB (redirected to HTTPS)');
    }
    this.uiLoadBalancer = new elbv2.ApplicationLoadBalancer(this, 'UiLoadBalancer', {
      vpc,
      vpcSubnets,
      internetFacing: false,
      securityGroup: albSg,
      dropInvalidHeaderFields: true,
    });
    Validations.of(this.uiLoadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason: 'Internal ALB in front of the read-mostly Temporal UI; with a concrete Region its access logs go to the platform access-log bucket (lib/observability/access-logs.ts), and an environment-agnostic stack cannot turn them on (aws-cdk-lib needs the Region); the VPC flow logs record its connections either way.',
    });
    const uiListener = this.uiLoadBalancer.addListener('Http', {
      port: uiListenerPort,
      open: false,
      ...(props.uiCertificateArn
        ? { protocol: elbv2.ApplicationProtocol.HTTPS, certificates: [elbv2.ListenerCertificate.fromArn(props.uiCertificateArn)], sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS }
        : { protocol: elbv2.ApplicationProtocol.HTTP }),
    });
    if (props.uiCertificateArn) {
      // Port 80 only redirects to HTTPS.
      this.uiLoadBalancer.addRedirect({ sourcePort: 80, sourceProtocol: elbv2.ApplicationProtocol.HTTP, targetPort: 443, targetProtocol: elbv2.ApplicationProtocol.HTTPS, open: false });
    }
    uiListener.addTargets('Ui', {
      port: UI_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [services.ui.loadBalancerTarget({ containerName: 'ui', containerPort: UI_PORT })],
      healthCheck: { path: '/healthz', interval: Duration.seconds(15), healthyHttpCodes: '200' },
      deregistrationDelay: Duration.seconds(30),
    });
    this.uiUrl = `${props.uiCertificateArn ? 'https' : 'http'}://${this.uiLoadBalancer.loadBalancerDnsName}`;

    if (props.enableEcsExec) {
      for (const role of new Set(Object.values(services).map((svc) => svc.taskDefinition.taskRole))) {
        Validations.of(role).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'ECS Exec (enableEcsExec) needs the ssmmessages channel actions, which have no resource-level permissions.',
        });
      }
    }

    this.services = services;
    this.logGroups = logGroups;
    this.scalableTaskCounts = scalableTaskCounts;
    if (props.startupDependencies?.length) this.addStartupDependency(...props.startupDependencies);
  }

  /**
   * Makes every service (the four roles and the UI) wait for `dependency` before it is created or
   * updated. Only for what cannot exist before the services: the DSQL schema job, which maps the
   * database role to {@link serverTaskRole} (made here), and the visibility index job, whose grants
   * follow the server's in the domain's access policy. Everything else goes in `startupDependencies`.
   */
  public addStartupDependency(...dependencies: IDependable[]): void {
    for (const svc of Object.values(this.services)) {
      svc.node.addDependency(...dependencies);
    }
  }

  /**
   * Adds environment variables to the server container of every role (for settings made after the
   * services, e.g. the archive bucket's `ARCHIVAL_S3_URI`; docs/server-container.md).
   * @throws Error when a role has no server container (never for services this construct made)
   */
  public addServerEnvironment(vars: Readonly<Record<string, string>>): void {
    for (const role of TEMPORAL_ROLES) {
      const container = this.services[role].taskDefinition.findContainer(SERVER_CONTAINER_NAME);
      if (!container) throw new Error(`the ${role} task definition has no '${SERVER_CONTAINER_NAME}' container`);
      for (const [name, value] of Object.entries(vars)) container.addEnvironment(name, value);
    }
  }

  /** Allows `peer` (e.g. a Prometheus scraper) to read the metrics port 9090 of every role. */
  public allowMetricsFrom(peer: ec2.IConnectable, description = 'Prometheus metrics scrape'): void {
    for (const role of TEMPORAL_ROLES) {
      this.securityGroups[role].connections.allowFrom(peer, ec2.Port.tcp(METRICS_PORT), description);
    }
  }
}
