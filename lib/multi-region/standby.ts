import type { PlatformConfig } from '../config';
import { TEMPORAL_ROLES } from '../services/roles';

/**
 * The standby Region's configuration: its Temporal services (frontend, history, matching, worker)
 * at 0 tasks with autoscaling floors of 0, so that it holds no shard and commits nothing while the
 * active Region runs; its UI at `uiDesiredCount`; no namespaces resource (namespaces live in the one
 * shared database, where the active Region's resource applies them, and the standby's frontend has
 * no task to apply them through). Autoscaling maxima stay, for a failover to scale into. Everything
 * else (sizing, network, OpenSearch, alarms) is the Region's own configuration.
 *
 * @param config the standby Region's resolved configuration
 * @param uiDesiredCount tasks of the standby's UI (`multiRegion.standbyUiDesiredCount`)
 */
export function standbyConfig(config: PlatformConfig, uiDesiredCount: number): PlatformConfig {
  const services = { ...config.services };
  for (const role of TEMPORAL_ROLES) services[role] = { ...services[role], desiredCount: 0 };
  services.ui = { ...services.ui, desiredCount: uiDesiredCount };
  const roles = Object.fromEntries(Object.entries(config.autoscaling.roles).map(([role, r]) => [role, { ...r, minCount: 0 }])) as PlatformConfig['autoscaling']['roles'];
  return { ...config, services, autoscaling: { ...config.autoscaling, roles }, namespaces: [], searchAttributes: [] };
}
