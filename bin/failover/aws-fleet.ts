/**
 * {@link RegionFleet} over Amazon ECS and Application Auto Scaling: the Temporal services of one
 * Region's stack `Temporal-<env>-<region>`.
 *
 * Finding them: the stack tags every resource `project=temporal-dsql` and `environment=<env>`
 * (lib/platform-stack.ts) and each server service `temporal:role=<role>`
 * (lib/services/temporal-services.ts); the cluster and service names are CloudFormation's, so they
 * are found by tag: ListClusters + DescribeClusters (include TAGS), then ListServices +
 * DescribeServices (include TAGS). The floor and ceiling are the service's scalable target
 * (`ecs`, `service/<cluster>/<service>`, `ecs:service:DesiredCount`).
 *
 * IAM the operator needs in each Region (docs/multi-region.md): ecs:ListClusters,
 * ecs:DescribeClusters, ecs:ListServices, ecs:DescribeServices, ecs:UpdateService,
 * application-autoscaling:DescribeScalableTargets, application-autoscaling:RegisterScalableTarget
 * (it uses Application Auto Scaling's ECS service-linked role, which exists once the stack's
 * scalable targets do; otherwise it also needs iam:CreateServiceLinkedRole).
 */
import {
  ApplicationAutoScalingClient, DescribeScalableTargetsCommand, RegisterScalableTargetCommand, ScalableTarget,
} from '@aws-sdk/client-application-auto-scaling';
import {
  DescribeClustersCommand, DescribeServicesCommand, ECSClient, ListClustersCommand, ListServicesCommand, Service, UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { RegionFleet, RegionUnreachableError, RoleCount, RoleState, TemporalRole } from './types';

/** The roles that are ECS services of their own (internal-frontend runs in the frontend's tasks). */
export const AWS_ROLES: readonly TemporalRole[] = ['frontend', 'history', 'matching', 'worker'];

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'EPIPE']);

/**
 * true when `e` says the endpoint could not be reached (socket or DNS error, a timeout of the SDK's
 * request handler), as opposed to an answer from the service (those carry `$metadata.httpStatusCode`).
 */
export function isUnreachable(e: unknown): boolean {
  const x = (e ?? {}) as { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (x.$metadata?.httpStatusCode) return false;
  if (typeof x.code === 'string' && NETWORK_CODES.has(x.code)) return true;
  if (x.name === 'TimeoutError' || x.name === 'RequestTimeout') return true;
  // The SDK's retry middleware re-wraps an error that is not an Error of this realm (seen under jest)
  // as `AWS SDK error wrapper for Error: connect ECONNREFUSED ...`, keeping only the text.
  const m = /\b(E[A-Z]+)\b/.exec((e as Error)?.message ?? '');
  if (m && NETWORK_CODES.has(m[1])) return true;
  return x.cause !== undefined && x.cause !== e && isUnreachable(x.cause);
}

/** Options of {@link AwsRegionFleet}. */
export interface AwsRegionFleetOptions {
  readonly region: string;
  /** Environment name: the `environment` tag of the stack's resources. */
  readonly envName: string;
  readonly ecs: ECSClient;
  readonly autoscaling: ApplicationAutoScalingClient;
  /** Poll interval of {@link AwsRegionFleet.waitSteady}, ms. @default 5000 */
  readonly pollIntervalMs?: number;
}

interface Discovered { cluster: string; services: Map<TemporalRole, string> }

/** The four Temporal services of one Region on ECS. Every method maps network errors to {@link RegionUnreachableError}. */
export class AwsRegionFleet implements RegionFleet {
  readonly region: string;
  private discovered?: Discovered;

  constructor(private readonly o: AwsRegionFleetOptions) {
    this.region = o.region;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isUnreachable(e)) throw new RegionUnreachableError(this.region, e);
      throw e;
    }
  }

  /** The ECS cluster and the service of each role, found by tag (cached). @throws Error when none or several match */
  async discover(): Promise<Discovered> {
    if (this.discovered) return this.discovered;
    const tagsMatch = (tags: { key?: string; value?: string }[] | undefined) =>
      (tags ?? []).some((t) => t.key === 'project' && t.value === 'temporal-dsql') && (tags ?? []).some((t) => t.key === 'environment' && t.value === this.o.envName);
    const clusterArns: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.call(() => this.o.ecs.send(new ListClustersCommand({ nextToken: token })));
      clusterArns.push(...(r.clusterArns ?? []));
      token = r.nextToken;
    } while (token);
    const matching: string[] = [];
    for (let i = 0; i < clusterArns.length; i += 100) {
      const r = await this.call(() => this.o.ecs.send(new DescribeClustersCommand({ clusters: clusterArns.slice(i, i + 100), include: ['TAGS'] })));
      for (const c of r.clusters ?? []) if (tagsMatch(c.tags)) matching.push(c.clusterName!);
    }
    const stack = `Temporal-${this.o.envName}-${this.region}`;
    if (matching.length !== 1) {
      throw new Error(`${this.region}: ${matching.length === 0 ? 'no ECS cluster' : `${matching.length} ECS clusters (${matching.join(', ')})`} tagged project=temporal-dsql, environment=${this.o.envName}; expected exactly the one of stack ${stack}`);
    }
    const cluster = matching[0];
    const serviceArns: string[] = [];
    token = undefined;
    do {
      const r = await this.call(() => this.o.ecs.send(new ListServicesCommand({ cluster, nextToken: token })));
      serviceArns.push(...(r.serviceArns ?? []));
      token = r.nextToken;
    } while (token);
    const services = new Map<TemporalRole, string>();
    for (let i = 0; i < serviceArns.length; i += 10) {
      const r = await this.call(() => this.o.ecs.send(new DescribeServicesCommand({ cluster, services: serviceArns.slice(i, i + 10), include: ['TAGS'] })));
      for (const s of r.services ?? []) {
        const role = s.tags?.find((t) => t.key === 'temporal:role')?.value as TemporalRole | undefined;
        if (role && AWS_ROLES.includes(role)) services.set(role, s.serviceName!);
      }
    }
    const missing = AWS_ROLES.filter((r) => !services.has(r));
    if (missing.length) throw new Error(`${this.region}: ECS cluster ${cluster} has no service tagged temporal:role=${missing.join(', ')}`);
    this.discovered = { cluster, services };
    return this.discovered;
  }

  private resourceId(d: Discovered, role: TemporalRole): string {
    return `service/${d.cluster}/${d.services.get(role)}`;
  }

  private async services(d: Discovered): Promise<Map<TemporalRole, Service>> {
    const names = AWS_ROLES.map((r) => d.services.get(r)!);
    const r = await this.call(() => this.o.ecs.send(new DescribeServicesCommand({ cluster: d.cluster, services: names })));
    const byName = new Map((r.services ?? []).map((s) => [s.serviceName, s]));
    return new Map(AWS_ROLES.map((role) => [role, byName.get(d.services.get(role))!]));
  }

  private async targets(d: Discovered): Promise<Map<string, ScalableTarget>> {
    const r = await this.call(() => this.o.autoscaling.send(new DescribeScalableTargetsCommand({
      ServiceNamespace: 'ecs', ScalableDimension: 'ecs:service:DesiredCount', ResourceIds: AWS_ROLES.map((role) => this.resourceId(d, role)),
    })));
    return new Map((r.ScalableTargets ?? []).map((t) => [t.ResourceId!, t]));
  }

  async describe(): Promise<RoleState[]> {
    const d = await this.discover();
    const [services, targets] = await Promise.all([this.services(d), this.targets(d)]);
    return AWS_ROLES.map((role) => {
      const s = services.get(role);
      const t = targets.get(this.resourceId(d, role));
      return {
        role, desired: s?.desiredCount ?? 0, running: s?.runningCount ?? 0,
        ...(t ? { min: t.MinCapacity, max: t.MaxCapacity } : {}),
      };
    });
  }

  /**
   * Floor and ceiling first (when given), then the desired count: lowering the floor first keeps
   * Application Auto Scaling from scaling a service back up to it; raising it first is harmless.
   */
  async scale(count: RoleCount): Promise<void> {
    const d = await this.discover();
    if (!d.services.has(count.role)) throw new Error(`${this.region}: no ECS service for role ${count.role}`);
    if (count.min !== undefined || count.max !== undefined) {
      await this.call(() => this.o.autoscaling.send(new RegisterScalableTargetCommand({
        ServiceNamespace: 'ecs', ScalableDimension: 'ecs:service:DesiredCount', ResourceId: this.resourceId(d, count.role),
        MinCapacity: count.min, MaxCapacity: count.max,
      })));
    }
    await this.call(() => this.o.ecs.send(new UpdateServiceCommand({
      cluster: d.cluster, service: d.services.get(count.role), desiredCount: count.desired,
    })));
  }

  async waitSteady(timeoutMs: number): Promise<void> {
    const d = await this.discover();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const services = await this.services(d);
      const off = AWS_ROLES.filter((r) => (services.get(r)?.runningCount ?? 0) !== (services.get(r)?.desiredCount ?? 0));
      if (off.length === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(`${this.region}: after ${timeoutMs / 1000} s ${off.map((r) => `${r} runs ${services.get(r)?.runningCount} of ${services.get(r)?.desiredCount}`).join(', ')}`);
      }
      await new Promise((res) => setTimeout(res, Math.min(this.o.pollIntervalMs ?? 5_000, Math.max(0, deadline - Date.now()))));
    }
  }
}
