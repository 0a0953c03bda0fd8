// Pod and service CIDRs for clusters that ask the hub to allocate them (spec.ipam), and LoadBalancer
// blocks for on-prem clusters that ask for one (spec.loadBalancer). Pod and service CIDRs come from
// the named ClusterCIDRs pool, avoiding every range another cluster of the same clusterset uses,
// every other pool and the ranges of every other Network; LoadBalancer blocks come from the named
// LoadBalancer pool, avoiding every block another cluster holds. Blocks in release quarantine
// (ipam/releases.ts) are avoided too, except by the cluster that released them. An allocation is
// kept for the cluster's life; it lives in status.allocated because the system, not the user,
// wrote it. Runs inside the registry's serialised write plan (write-plan.ts), so two hub replicas
// never hand out one block.
import { cidrContains } from '../api/cidr.ts';
import type { ClusterResource, IPPoolResource, Resource } from '../api/resources.ts';
import { DEFAULT_CLUSTER_SET, effectiveCidrs, loadBalancerCidrs, networkRanges } from '../api/semantic.ts';
import { allocateBlock, DEFAULT_PREFIX, rangeOf, type Range } from '../ipam/allocate.ts';
import type { BlockRelease, BlockUse } from '../ipam/releases.ts';

export interface Allocated {
  /** The ClusterCIDRs pool the pod and service CIDRs came from. */
  readonly pool?: string;
  readonly podCIDRs?: readonly string[];
  readonly serviceCIDRs?: readonly string[];
  readonly loadBalancerPool?: string;
  /** One block per address family of the LoadBalancer pool: what the agent gives MetalLB. */
  readonly loadBalancerCIDRs?: readonly string[];
}

export type AllocationResult =
  | { readonly ok: true; readonly cluster: ClusterResource }
  | { readonly ok: false; readonly field: 'spec.ipam.pool' | 'spec.loadBalancer.pool'; readonly message: string };

/** LoadBalancer blocks when neither the pool nor the cluster says: 16 IPv4 addresses, 256 IPv6. */
export const DEFAULT_LB_PREFIX = { 4: 28, 6: 120 } as const;

/** Every block a cluster holds, by use (what is released when it goes). */
export function heldBlocks(c: ClusterResource): { cidr: string; pool: string; use: BlockUse }[] {
  const a = c.status?.allocated as Allocated | undefined;
  if (a === undefined) return [];
  const out: { cidr: string; pool: string; use: BlockUse }[] = [];
  if (a.pool !== undefined) {
    for (const cidr of a.podCIDRs ?? []) out.push({ cidr, pool: a.pool, use: 'pod' });
    for (const cidr of a.serviceCIDRs ?? []) out.push({ cidr, pool: a.pool, use: 'service' });
  }
  if (a.loadBalancerPool !== undefined) for (const cidr of a.loadBalancerCIDRs ?? []) out.push({ cidr, pool: a.loadBalancerPool, use: 'loadBalancer' });
  return out;
}

/**
 * The cluster with status.allocated as it must be now, given every resource after the write and
 * the blocks in release quarantine.
 */
export function allocateClusterCidrs(cluster: ClusterResource, all: readonly Resource[], quarantined: readonly BlockRelease[] = []): AllocationResult {
  const previous = cluster.status?.allocated as Allocated | undefined;
  const cidrs = allocateCidrs(cluster, all, quarantined, previous);
  if (!cidrs.ok) return cidrs;
  const lb = allocateLoadBalancer(cluster, all, quarantined, previous);
  if (!lb.ok) return lb;
  const allocated: Allocated = { ...cidrs.value, ...lb.value };
  if (JSON.stringify(previous ?? {}) === JSON.stringify(allocated)) return { ok: true, cluster };
  const { allocated: _a, ...rest } = cluster.status ?? {};
  return { ok: true, cluster: { ...cluster, status: Object.keys(allocated).length > 0 ? { ...rest, allocated } : rest } };
}

type Part = { ok: true; value: Partial<Allocated> } | Extract<AllocationResult, { ok: false }>;

function families(pool: IPPoolResource): (4 | 6)[] {
  return [...new Set(pool.spec.cidrs.map((c) => rangeOf(c).family))].sort();
}

function findPool(all: readonly Resource[], name: string, use: IPPoolResource['spec']['use']): IPPoolResource | undefined {
  const pool = all.find((r) => r.kind === 'IPPool' && r.metadata.name === name);
  // A missing or wrong pool is reported by the set checks, with the reference that is wrong.
  return pool?.kind === 'IPPool' && pool.spec.use === use ? pool : undefined;
}

/** The release records other clusters left in the pool (kept out of use), and this cluster's own (which it may take back). */
function releases(quarantined: readonly BlockRelease[], cluster: string, pool: string, uses: readonly BlockUse[]): { others: Range[]; own: BlockRelease[] } {
  const others: Range[] = [];
  const own: BlockRelease[] = [];
  for (const r of quarantined) {
    if (!uses.includes(r.use)) continue;
    if (r.cluster === cluster && r.pool === pool) own.push(r);
    else others.push(rangeOf(r.cidr));
  }
  return { others, own };
}

function allocateCidrs(cluster: ClusterResource, all: readonly Resource[], quarantined: readonly BlockRelease[], previous: Allocated | undefined): Part {
  const ipam = cluster.spec.ipam;
  const needPod = cluster.spec.podCIDRs === undefined;
  const needService = cluster.spec.serviceCIDRs === undefined;
  if (ipam === undefined || (!needPod && !needService)) return { ok: true, value: {} };
  const pool = findPool(all, ipam.pool, 'ClusterCIDRs');
  if (pool === undefined) return { ok: true, value: {} };

  const set = cluster.spec.clusterSet ?? DEFAULT_CLUSTER_SET;
  const taken: Range[] = [];
  for (const r of all) {
    if (r.kind === 'Cluster' && r.metadata.name !== cluster.metadata.name && (r.spec.clusterSet ?? DEFAULT_CLUSTER_SET) === set) {
      const { pod, service } = effectiveCidrs(r);
      for (const c of [...pod, ...service]) taken.push(rangeOf(c));
    }
    if (r.kind === 'IPPool' && r.spec.use !== 'ClusterCIDRs') for (const c of r.spec.cidrs) taken.push(rangeOf(c));
    // The set checks refuse a cluster inside another Network's ranges: never allocate one there.
    if (r.kind === 'Network' && r.metadata.name !== cluster.spec.network) for (const n of networkRanges(r)) taken.push(rangeOf(n.cidr));
  }
  for (const c of [...(cluster.spec.podCIDRs ?? []), ...(cluster.spec.serviceCIDRs ?? [])]) taken.push(rangeOf(c));
  const rel = releases(quarantined, cluster.metadata.name, pool.metadata.name, ['pod', 'service']);
  taken.push(...rel.others);

  const pick = (field: 'podCIDRs' | 'serviceCIDRs', which: 'pod' | 'service'): string[] | string => {
    const kept = [
      ...((previous?.pool === pool.metadata.name ? previous[field] : undefined) ?? []),
      ...rel.own.filter((r) => r.use === which).map((r) => r.cidr),
    ];
    const out: string[] = [];
    for (const family of families(pool)) {
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
        const waiting = rel.others.length > 0 ? ` (${rel.others.length} released block(s) still in quarantine)` : '';
        return `IPPool "${pool.metadata.name}" has no free IPv${family} /${length} left for ${which} CIDRs${waiting}; add CIDRs to the pool or ask for a smaller block`;
      }
      out.push(block);
      taken.push(rangeOf(block));
    }
    return out;
  };
  const pod = needPod ? pick('podCIDRs', 'pod') : undefined;
  if (typeof pod === 'string') return { ok: false, field: 'spec.ipam.pool', message: pod };
  const service = needService ? pick('serviceCIDRs', 'service') : undefined;
  if (typeof service === 'string') return { ok: false, field: 'spec.ipam.pool', message: service };
  return {
    ok: true,
    value: { pool: pool.metadata.name, ...(pod !== undefined ? { podCIDRs: pod } : {}), ...(service !== undefined ? { serviceCIDRs: service } : {}) },
  };
}

/** The prefix length of a cluster's LoadBalancer block of one family: the cluster's, else the pool's, else the default. */
export function loadBalancerPrefix(cluster: ClusterResource, pool: IPPoolResource, family: 4 | 6): number {
  const lb = cluster.spec.loadBalancer;
  const own = family === 4 ? lb?.prefixLength : lb?.ipv6PrefixLength;
  return own ?? pool.spec.blockPrefixLength?.[family === 4 ? 'ipv4' : 'ipv6'] ?? DEFAULT_LB_PREFIX[family];
}

function allocateLoadBalancer(cluster: ClusterResource, all: readonly Resource[], quarantined: readonly BlockRelease[], previous: Allocated | undefined): Part {
  const lb = cluster.spec.loadBalancer;
  if (lb === undefined || cluster.spec.provider !== 'onprem') return { ok: true, value: {} };
  const pool = findPool(all, lb.pool, 'LoadBalancer');
  // Another Network's pool is refused by the set checks; allocating from it would only hide that.
  if (pool === undefined || pool.spec.network !== cluster.spec.network) return { ok: true, value: {} };

  const taken: Range[] = [];
  let held = 0;
  for (const r of all) {
    if (r.kind !== 'Cluster' || r.metadata.name === cluster.metadata.name) continue;
    for (const c of loadBalancerCidrs(r)) {
      taken.push(rangeOf(c));
      held++;
    }
  }
  const rel = releases(quarantined, cluster.metadata.name, pool.metadata.name, ['loadBalancer']);
  taken.push(...rel.others);
  const kept = [...((previous?.loadBalancerPool === pool.metadata.name ? previous.loadBalancerCIDRs : undefined) ?? []), ...rel.own.map((r) => r.cidr)];
  const out: string[] = [];
  for (const family of families(pool)) {
    const length = loadBalancerPrefix(cluster, pool, family);
    // A block of another size (the cluster or pool asked for another) is given up for a new one.
    const keep = kept.find((c) => rangeOf(c).family === family && c.endsWith(`/${length}`) && pool.spec.cidrs.some((p) => cidrContains(p, c)));
    if (keep !== undefined) {
      out.push(keep);
      taken.push(rangeOf(keep));
      continue;
    }
    const block = allocateBlock(pool.spec.cidrs, family, length, taken);
    if (block === undefined) {
      return {
        ok: false,
        field: 'spec.loadBalancer.pool',
        message: `IPPool "${pool.metadata.name}" (${pool.spec.cidrs.join(', ')}) has no free IPv${family} /${length} block left for Cluster "${cluster.metadata.name}" (${held} block(s) held by other clusters, ${rel.others.length} in release quarantine); add CIDRs to the pool or ask for a smaller block (spec.loadBalancer.${family === 4 ? 'prefixLength' : 'ipv6PrefixLength'})`,
      };
    }
    out.push(block);
    taken.push(rangeOf(block));
  }
  return { ok: true, value: { loadBalancerPool: pool.metadata.name, loadBalancerCIDRs: out } };
}
