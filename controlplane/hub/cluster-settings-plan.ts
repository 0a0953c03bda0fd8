// The settings message one cluster's agent gets (messages.ts ClusterSettings), pure: from the
// Cluster as the registry holds it. Today that is its LoadBalancer block (status.allocated, written
// by the registry's IPAM), which the agent gives MetalLB.
import { PROTOCOL_VERSION, type ClusterSettings } from '../api/messages.ts';
import type { ClusterResource } from '../api/resources.ts';
import { loadBalancerCidrs } from '../api/semantic.ts';

export function clusterSettings(cluster: ClusterResource): ClusterSettings {
  const pool = (cluster.status?.allocated as { loadBalancerPool?: unknown } | undefined)?.loadBalancerPool;
  const cidrs = loadBalancerCidrs(cluster);
  return {
    v: PROTOCOL_VERSION,
    cluster: cluster.metadata.name,
    revision: Number(cluster.metadata.resourceVersion ?? 0),
    ...(typeof pool === 'string' && cidrs.length > 0 ? { loadBalancer: { pool, cidrs: cidrs.slice(0, 2) } } : {}),
  };
}

/** Whether the agent must be told again: what it would apply differs (the revision alone moves on every status write). */
export function settingsChanged(before: ClusterSettings | undefined, after: ClusterSettings): boolean {
  return JSON.stringify(before?.loadBalancer) !== JSON.stringify(after.loadBalancer);
}
