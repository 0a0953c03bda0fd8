// How full each IPPool is, pure: its size, the blocks and addresses held inside it (clusters'
// pod/service CIDRs for ClusterCIDRs pools, LoadBalancer blocks, clusterset VIPs), what is in
// release quarantine, and what is free. Overlapping holders are counted once (merged intervals).
import { API_VERSION } from '../api/kinds.ts';
import type { PoolUsageView } from '../api/read-model.ts';
import type { ClusterResource, IPPoolResource } from '../api/resources.ts';
import { effectiveCidrs, loadBalancerCidrs } from '../api/semantic.ts';
import { rangeOf, type Range } from './allocate.ts';
import { inQuarantine, type BlockRelease } from './releases.ts';
import { quarantinePassed, type VipClaim } from './vips.ts';

export interface PoolUsageInput {
  readonly pools: readonly IPPoolResource[];
  readonly clusters: readonly ClusterResource[];
  readonly vipClaims: readonly VipClaim[];
  readonly releases: readonly BlockRelease[];
  readonly now: Date;
  readonly vipQuarantineMs: number;
  readonly blockQuarantineMs: number;
}

export function poolUsage(input: PoolUsageInput): PoolUsageView[] {
  return [...input.pools].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)).map((p) => usageOf(p, input));
}

function usageOf(pool: IPPoolResource, input: PoolUsageInput): PoolUsageView {
  const ranges = pool.spec.cidrs.map(rangeOf);
  const inside = (cidr: string): boolean => {
    const r = rangeOf(cidr);
    return ranges.some((p) => p.family === r.family && p.start <= r.end && r.start <= p.end);
  };
  const holders: { holder: string; field: string; cidr: string }[] = [];
  const quarantined: string[] = [];
  if (pool.spec.use === 'ClusterCIDRs') {
    for (const c of input.clusters) {
      const { pod, service } = effectiveCidrs(c);
      for (const cidr of pod) if (inside(cidr)) holders.push({ holder: `Cluster/${c.metadata.name}`, field: 'podCIDRs', cidr });
      for (const cidr of service) if (inside(cidr)) holders.push({ holder: `Cluster/${c.metadata.name}`, field: 'serviceCIDRs', cidr });
    }
  }
  if (pool.spec.use === 'LoadBalancer') {
    for (const c of input.clusters)
      for (const cidr of loadBalancerCidrs(c)) if (inside(cidr)) holders.push({ holder: `Cluster/${c.metadata.name}`, field: 'loadBalancerCIDRs', cidr });
  }
  if (pool.spec.use === 'ClusterSetIPs') {
    for (const claim of input.vipClaims) {
      const cidr = `${claim.ip}/${claim.ip.includes(':') ? 128 : 32}`;
      if (!inside(cidr)) continue;
      if (claim.releasedAt === undefined) holders.push({ holder: `Service/${claim.service}`, field: 'clusterSetIP', cidr });
      else if (!quarantinePassed(claim, input.now, input.vipQuarantineMs)) quarantined.push(cidr);
    }
  }
  for (const r of input.releases)
    if (r.pool === pool.metadata.name && inQuarantine(r, input.now, input.blockQuarantineMs) && inside(r.cidr)) quarantined.push(r.cidr);

  const size = sizeOf(ranges);
  const used = covered(
    ranges,
    holders.map((h) => rangeOf(h.cidr)),
  );
  // Quarantined addresses that a holder took back are counted as used, not twice.
  const usedOrQuarantined = covered(ranges, [...holders.map((h) => rangeOf(h.cidr)), ...quarantined.map(rangeOf)]);
  holders.sort((a, b) => (a.holder < b.holder ? -1 : a.holder > b.holder ? 1 : a.cidr < b.cidr ? -1 : 1));
  return {
    apiVersion: API_VERSION,
    kind: 'PoolUsage',
    metadata: { name: pool.metadata.name },
    use: pool.spec.use,
    cidrs: pool.spec.cidrs,
    ...(pool.spec.network !== undefined ? { network: pool.spec.network } : {}),
    size: String(size),
    used: String(used),
    quarantined: String(usedOrQuarantined - used),
    free: String(size - usedOrQuarantined),
    holders,
  };
}

/** Addresses in the union of `ranges` (pool CIDRs may overlap one another only by mistake; counted once). */
function sizeOf(ranges: readonly (Range & { family: 4 | 6 })[]): bigint {
  return total(merge(ranges.map((r) => ({ ...r }))));
}

/** Addresses of the pool that `parts` cover, each counted once. */
function covered(pool: readonly (Range & { family: 4 | 6 })[], parts: readonly (Range & { family: 4 | 6 })[]): bigint {
  const clipped: (Range & { family: 4 | 6 })[] = [];
  for (const part of parts)
    for (const p of pool) {
      if (p.family !== part.family || part.start > p.end || p.start > part.end) continue;
      clipped.push({ family: p.family, start: part.start > p.start ? part.start : p.start, end: part.end < p.end ? part.end : p.end });
    }
  return total(merge(clipped));
}

function merge(ranges: (Range & { family: 4 | 6 })[]): (Range & { family: 4 | 6 })[] {
  const sorted = ranges.sort((a, b) => a.family - b.family || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: (Range & { family: 4 | 6 })[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.family === r.family && r.start <= last.end + 1n) {
      if (r.end > last.end) out[out.length - 1] = { ...last, end: r.end };
    } else out.push({ ...r });
  }
  return out;
}

function total(ranges: readonly Range[]): bigint {
  return ranges.reduce((n, r) => n + (r.end - r.start + 1n), 0n);
}
