// Checks across the whole set of resources, run on the set as it would be after a change:
// references resolve, providers agree, and no two clusters that share routing (one clusterset)
// have overlapping pod or service CIDRs — nor any cluster with a pool of clusterset VIPs, nor a
// cluster or pool with the address ranges of a Network that is not its own (docs/ipam.md).
import { parseCidr } from 'cidr-tools';
import { checkCidr } from './cidr.ts';
import type { Problem } from './errors.ts';
import { refOf, refString } from './keys.ts';
import type { ClusterResource, IPPoolResource, NetworkResource, Resource } from './resources.ts';
import type { Source } from './validate.ts';

export interface SetProblem extends Problem {
  /** refString of every object the problem is about; a change is refused only for its own. */
  readonly involves: readonly string[];
}

export const DEFAULT_CLUSTER_SET = 'default';

/** The CIDRs a cluster uses: given in its spec, or allocated by the hub into its status. */
export function effectiveCidrs(c: ClusterResource): { pod: string[]; service: string[] } {
  const allocated = c.status?.allocated as { podCIDRs?: string[]; serviceCIDRs?: string[] } | undefined;
  return {
    pod: c.spec.podCIDRs ?? allocated?.podCIDRs ?? [],
    service: c.spec.serviceCIDRs ?? allocated?.serviceCIDRs ?? [],
  };
}

/** The LoadBalancer blocks the hub allocated to a cluster (status.allocated.loadBalancerCIDRs). */
export function loadBalancerCidrs(c: ClusterResource): string[] {
  const allocated = c.status?.allocated as { loadBalancerCIDRs?: unknown } | undefined;
  const cidrs = allocated?.loadBalancerCIDRs;
  return Array.isArray(cidrs) ? cidrs.filter((x): x is string => typeof x === 'string' && checkCidr(x).ok) : [];
}

/**
 * A Network's address ranges: declared (spec.prefixes) and observed by its provider adapter
 * (status.observedPrefixes: the VPC's and subnets' CIDRs). Status is written by the system, but a
 * value that is not a CIDR is skipped rather than trusted.
 */
export function networkRanges(n: NetworkResource): { field: string; cidr: string; observed: boolean }[] {
  const out = (n.spec.prefixes ?? []).map((cidr, i) => ({ field: `spec.prefixes[${i}]`, cidr, observed: false }));
  const observed = n.status?.observedPrefixes;
  if (Array.isArray(observed)) {
    observed.forEach((v: unknown, i) => {
      if (typeof v !== 'string') return;
      const c = checkCidr(v);
      if (c.ok) out.push({ field: `status.observedPrefixes[${i}]`, cidr: c.cidr, observed: true });
    });
  }
  return out;
}

export function checkSet(resources: readonly Resource[], sources: ReadonlyMap<string, Source> = new Map()): SetProblem[] {
  const problems: SetProblem[] = [];
  const networks = new Map<string, NetworkResource>();
  const pools = new Map<string, IPPoolResource>();
  for (const r of resources) {
    if (r.kind === 'Network') networks.set(r.metadata.name, r);
    if (r.kind === 'IPPool') pools.set(r.metadata.name, r);
  }
  const report = (r: Resource, field: string, message: string, others: readonly (Resource | string)[] = [], value?: unknown): void => {
    const ref = refString(refOf(r));
    const src = sources.get(ref) ?? {};
    problems.push({
      ...(src.file !== undefined ? { file: src.file } : {}),
      ...(src.document !== undefined ? { document: src.document } : {}),
      kind: r.kind,
      name: r.metadata.namespace !== undefined ? `${r.metadata.namespace}/${r.metadata.name}` : r.metadata.name,
      field: src.path !== undefined ? `${src.path}.${field}` : field,
      message,
      ...(value !== undefined ? { value } : {}),
      involves: [ref, ...others.map((o) => (typeof o === 'string' ? o : refString(refOf(o))))],
    });
  };
  const knownNetworks = (): string => (networks.size > 0 ? `; known networks: ${[...networks.keys()].sort().join(', ')}` : '; no Network is declared');
  const networkRef = (r: Resource, field: string, name: string): NetworkResource | undefined => {
    const n = networks.get(name);
    if (n === undefined) {
      // The missing Network is involved too: deleting a Network that is still referenced is refused.
      report(r, field, `references Network "${name}", which does not exist${knownNetworks()}`, [`Network/${name}`], name);
    }
    return n;
  };

  for (const r of resources) {
    switch (r.kind) {
      case 'Cluster': {
        const n = networkRef(r, 'spec.network', r.spec.network);
        if (n !== undefined && n.spec.provider !== r.spec.provider) {
          report(r, 'spec.provider', `is ${r.spec.provider} but its Network "${n.metadata.name}" is ${n.spec.provider}`, [n], r.spec.provider);
        }
        if (r.spec.ipam !== undefined) {
          const pool = pools.get(r.spec.ipam.pool);
          if (pool === undefined) {
            report(r, 'spec.ipam.pool', `references IPPool "${r.spec.ipam.pool}", which does not exist`, [`IPPool/${r.spec.ipam.pool}`], r.spec.ipam.pool);
          } else if (pool.spec.use !== 'ClusterCIDRs') {
            report(r, 'spec.ipam.pool', `IPPool "${pool.metadata.name}" is for ${pool.spec.use}, not ClusterCIDRs`, [pool]);
          }
        }
        if (r.spec.loadBalancer !== undefined) {
          const name = r.spec.loadBalancer.pool;
          const pool = pools.get(name);
          if (pool === undefined) {
            report(r, 'spec.loadBalancer.pool', `references IPPool "${name}", which does not exist`, [`IPPool/${name}`], name);
          } else if (pool.spec.use !== 'LoadBalancer') {
            report(r, 'spec.loadBalancer.pool', `IPPool "${name}" is for ${pool.spec.use}, not LoadBalancer`, [pool], name);
          } else if (pool.spec.network !== r.spec.network) {
            const whose = pool.spec.network === undefined ? 'names no network' : `belongs to Network "${pool.spec.network}"`;
            report(
              r,
              'spec.loadBalancer.pool',
              `IPPool "${name}" ${whose}, but this cluster is in Network "${r.spec.network}": a cluster's LoadBalancer block must come from a LoadBalancer pool of its own Network (spec.network), which announces it`,
              [pool],
              name,
            );
          }
        }
        break;
      }
      case 'Network':
        for (const [i, l] of (r.spec.links ?? []).entries()) {
          if (l.to === r.metadata.name) report(r, `spec.links[${i}].to`, 'a network cannot link to itself', [], l.to);
          else networkRef(r, `spec.links[${i}].to`, l.to);
        }
        break;
      case 'IPPool':
        if (r.spec.network !== undefined) networkRef(r, 'spec.network', r.spec.network);
        break;
      case 'ExternalService':
        networkRef(r, 'spec.network', r.spec.network);
        break;
      case 'GlobalPolicy':
        break;
    }
  }
  problems.push(...checkAddressSpace(resources, sources));
  return problems;
}

/** Only the overlaps (what the address-conflict controller reports on both objects). */
export function addressConflicts(resources: readonly Resource[]): SetProblem[] {
  return checkAddressSpace(resources, new Map());
}

interface Claim {
  readonly owner: Resource;
  readonly field: string;
  readonly cidr: string;
  readonly start: bigint;
  readonly end: bigint;
  readonly family: 4 | 6;
  /** Claims in different groups never conflict (clusters of different clustersets). */
  readonly group: string;
  /**
   * For a Network's range: the Network. For a cluster or pool: the Network whose ranges it may lie
   * in (its own; for a ClusterCIDRs pool, every Network: '*'). Undefined: none.
   */
  readonly network?: string;
  readonly range?: 'declared' | 'observed';
}

/** Whether two overlapping claims conflict. */
function conflicts(a: Claim, b: Claim): boolean {
  if (a.range !== undefined || b.range !== undefined) {
    // Networks may overlap each other (unlinked VPCs often share 10.0.0.0/16); routing between them is the route planner's concern.
    if (a.range !== undefined && b.range !== undefined) return false;
    const [net, other] = a.range !== undefined ? [a, b] : [b, a];
    return other.network !== '*' && other.network !== net.network;
  }
  return a.group === '*' || b.group === '*' || a.group === b.group;
}

/**
 * Address space that must not overlap: cluster pod/service CIDRs within one clusterset; every
 * IPPool against every other pool and against the clusters; and the ranges of each Network
 * (declared and observed) against the clusters of other Networks, every ClusterSetIPs pool and
 * every LoadBalancer pool not of that Network. The rule (docs/ipam.md): a cluster's CIDRs may lie
 * inside its own Network's ranges (EKS pods take VPC addresses), never inside another's. A sweep
 * over intervals sorted by start finds overlaps in O(n log n), which matters at a thousand clusters.
 */
function checkAddressSpace(resources: readonly Resource[], sources: ReadonlyMap<string, Source>): SetProblem[] {
  const claims: Claim[] = [];
  const add = (owner: Resource, field: string, cidr: string, group: string, extra: Pick<Claim, 'network' | 'range'> = {}): void => {
    const p = parseCidr(cidr);
    claims.push({ owner, field, cidr, start: p.start, end: p.end, family: p.version, group, ...extra });
  };
  for (const r of resources) {
    if (r.kind === 'Cluster') {
      const set = r.spec.clusterSet ?? DEFAULT_CLUSTER_SET;
      const { pod, service } = effectiveCidrs(r);
      const own = { network: r.spec.network };
      pod.forEach((c, i) => {
        add(r, `spec.podCIDRs[${i}]`, c, set, own);
      });
      service.forEach((c, i) => {
        add(r, `spec.serviceCIDRs[${i}]`, c, set, own);
      });
    }
    if (r.kind === 'IPPool' && r.spec.use !== 'ClusterCIDRs') {
      // ClusterCIDRs pools are meant to contain cluster CIDRs; the others must stay apart from them.
      const own = r.spec.use === 'LoadBalancer' && r.spec.network !== undefined ? { network: r.spec.network } : {};
      r.spec.cidrs.forEach((c, i) => {
        add(r, `spec.cidrs[${i}]`, c, '*', own);
      });
    }
    if (r.kind === 'Network') {
      for (const n of networkRanges(r)) add(r, n.field, n.cidr, '#', { network: r.metadata.name, range: n.observed ? 'observed' : 'declared' });
    }
  }
  const problems: SetProblem[] = [];
  const seen = new Set<string>();
  for (const family of [4, 6] as const) {
    const sorted = claims.filter((c) => c.family === family).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    // Active intervals (those whose end reaches past the current start); small in practice.
    let active: Claim[] = [];
    for (const c of sorted) {
      active = active.filter((a) => a.end >= c.start);
      for (const a of active) {
        if (!conflicts(a, c)) continue;
        if (a.owner === c.owner && a.field === c.field) continue;
        const pair = [refString(refOf(a.owner)), refString(refOf(c.owner))].sort().join(' ');
        const key = `${pair} ${a.cidr} ${c.cidr}`;
        if (seen.has(key)) continue;
        seen.add(key);
        // A Network's range is the other side: the problem is the cluster's or pool's, which can move.
        problems.push(c.range !== undefined ? overlapProblem(a, c, sources) : overlapProblem(c, a, sources));
      }
      active.push(c);
    }
  }
  return problems;
}

function overlapProblem(c: Claim, a: Claim, sources: ReadonlyMap<string, Source>): SetProblem {
  const ref = refString(refOf(c.owner));
  const other = refString(refOf(a.owner));
  const src = sources.get(ref) ?? sources.get(other) ?? {};
  const sameOwner = ref === other;
  const describe = (x: Claim): string => {
    const what = x.range === 'observed' ? 'observed prefix ' : x.range === 'declared' ? 'prefix ' : '';
    return `${x.owner.kind} "${x.owner.metadata.name}" ${what}${x.field.replace('spec.', '')} ${x.cidr}`;
  };
  const scope = a.range !== undefined ? '' : c.group !== '*' && a.group !== '*' ? ` (both in clusterset "${c.group}")` : '';
  const fix =
    a.range !== undefined
      ? `; only the ranges of a cluster's or pool's own Network may hold its addresses: pick a range outside Network "${a.owner.metadata.name}"`
      : '; pick non-overlapping ranges or set spec.ipam to have the hub allocate them';
  return {
    ...(src.file !== undefined ? { file: src.file } : {}),
    ...(src.document !== undefined ? { document: src.document } : {}),
    kind: c.owner.kind,
    name: c.owner.metadata.name,
    field: src.path !== undefined ? `${src.path}.${c.field}` : c.field,
    message: sameOwner
      ? `${c.cidr} overlaps ${a.field.replace('spec.', '')} ${a.cidr} of the same ${c.owner.kind}`
      : `${describe(c)} overlaps ${describe(a)}${scope}${fix}`,
    value: c.cidr,
    involves: [ref, other],
  };
}
