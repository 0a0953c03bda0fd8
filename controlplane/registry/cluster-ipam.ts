// Pod and service CIDRs for clusters that ask the hub to allocate them (spec.ipam): taken from
// the named ClusterCIDRs pool, avoiding every range another cluster of the same clusterset uses
// and every other pool. An allocation is kept for the cluster's life; it lives in
// status.allocated because the system, not the user, wrote it.
import { cidrContains } from '../api/cidr.ts';
import type { ClusterResource, Resource } from '../api/resources.ts';
import { DEFAULT_CLUSTER_SET, effectiveCidrs } from '../api/semantic.ts';
import { allocateBlock, DEFAULT_PREFIX, rangeOf, type Range } from '../ipam/allocate.ts';

export interface Allocated {
  readonly pool: string;
  readonly podCIDRs?: readonly string[];
  readonly serviceCIDRs?: readonly string[];
}

export type AllocationResult = { readonly ok: true; readonly cluster: ClusterResource } | { readonly ok: false; readonly message: string };

export function allocateClusterCidrs(cluster: ClusterResource, all: readonly Resource[]): AllocationResult {
  const previous = cluster.status?.allocated as Allocated | undefined;
  const ipam = cluster.spec.ipam;
  const needPod = cluster.spec.podCIDRs === undefined;
  const needService = cluster.spec.serviceCIDRs === undefined;
  if (ipam === undefined || (!needPod && !needService)) {
    if (previous === undefined) return { ok: true, cluster };
    const { allocated: _a, ...status } = cluster.status ?? {};
    return { ok: true, cluster: { ...cluster, status } };
  }
  const pool = all.find((r) => r.kind === 'IPPool' && r.metadata.name === ipam.pool);
  // A missing or wrong pool is reported by the set checks, with the reference that is wrong.
  if (pool?.kind !== 'IPPool' || pool.spec.use !== 'ClusterCIDRs') return { ok: true, cluster };

  const set = cluster.spec.clusterSet ?? DEFAULT_CLUSTER_SET;
  const taken: Range[] = [];
  for (const r of all) {
    if (r.kind === 'Cluster' && r.metadata.name !== cluster.metadata.name && (r.spec.clusterSet ?? DEFAULT_CLUSTER_SET) === set) {
      const { pod, service } = effectiveCidrs(r);
      for (const c of [...pod, ...service]) taken.push(rangeOf(c));
    }
    if (r.kind === 'IPPool' && r.spec.use !== 'ClusterCIDRs') for (const c of r.spec.cidrs) taken.push(rangeOf(c));
  }
  for (const c of [...(cluster.spec.podCIDRs ?? []), ...(cluster.spec.serviceCIDRs ?? [])]) taken.push(rangeOf(c));

  const families = [...new Set(pool.spec.cidrs.map((c) => rangeOf(c).family))].sort();
  const pick = (field: 'podCIDRs' | 'serviceCIDRs', which: 'pod' | 'service'): string[] | string => {
    const kept = (previous?.pool === pool.metadata.name ? previous[field] : undefined) ?? [];
    const out: string[] = [];
    for (const family of families) {
      const keep = kept.find((c) => rangeOf(c).family === family && pool.spec.cidrs.some((p) => cidrContains(p, c)));
      if (keep !== undefined) {
        out.push(keep);
        taken.push(rangeOf(keep));
        continue;
      }
      const wanted = family === 4 ? ipam[which === 'pod' ? 'podPrefixLength' : 'servicePrefixLength'] : undefined;
      const length = wanted ?? DEFAULT_PREFIX[which][family];
      const block = allocateBlock(pool.spec.cidrs, family, length, taken);
      if (block === undefined) {
        return `IPPool "${pool.metadata.name}" has no free IPv${family} /${length} left for ${which} CIDRs; add CIDRs to the pool or ask for a smaller block`;
      }
      out.push(block);
      taken.push(rangeOf(block));
    }
    return out;
  };
  const pod = needPod ? pick('podCIDRs', 'pod') : undefined;
  if (typeof pod === 'string') return { ok: false, message: pod };
  const service = needService ? pick('serviceCIDRs', 'service') : undefined;
  if (typeof service === 'string') return { ok: false, message: service };
  const allocated: Allocated = {
    pool: pool.metadata.name,
    ...(pod !== undefined ? { podCIDRs: pod } : {}),
    ...(service !== undefined ? { serviceCIDRs: service } : {}),
  };
  if (JSON.stringify(previous) === JSON.stringify(allocated)) return { ok: true, cluster };
  return { ok: true, cluster: { ...cluster, status: { ...cluster.status, allocated } } };
}
