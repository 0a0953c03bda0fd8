// Checks across the whole set of resources, run on the set as it would be after a change:
// references resolve, providers agree, and no two clusters that share routing (one clusterset)
// have overlapping pod or service CIDRs — nor any cluster with a pool of clusterset VIPs.
import { parseCidr } from 'cidr-tools';
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

interface Claim {
  readonly owner: Resource;
  readonly field: string;
  readonly cidr: string;
  readonly start: bigint;
  readonly end: bigint;
  readonly family: 4 | 6;
  /** Claims in different groups never conflict (clusters of different clustersets). */
  readonly group: string;
}

/**
 * Address space that must not overlap: cluster pod/service CIDRs within one clusterset, and
 * every IPPool against every other pool and against the clusters. A sweep over intervals sorted
 * by start finds overlaps in O(n log n), which matters at a thousand clusters.
 */
function checkAddressSpace(resources: readonly Resource[], sources: ReadonlyMap<string, Source>): SetProblem[] {
  const claims: Claim[] = [];
  const add = (owner: Resource, field: string, cidr: string, group: string): void => {
    const p = parseCidr(cidr);
    claims.push({ owner, field, cidr, start: p.start, end: p.end, family: p.version, group });
  };
  for (const r of resources) {
    if (r.kind === 'Cluster') {
      const set = r.spec.clusterSet ?? DEFAULT_CLUSTER_SET;
      const { pod, service } = effectiveCidrs(r);
      pod.forEach((c, i) => {
        add(r, `spec.podCIDRs[${i}]`, c, set);
      });
      service.forEach((c, i) => {
        add(r, `spec.serviceCIDRs[${i}]`, c, set);
      });
    }
    if (r.kind === 'IPPool' && r.spec.use !== 'ClusterCIDRs') {
      // ClusterCIDRs pools are meant to contain cluster CIDRs; the others must stay apart from them.
      r.spec.cidrs.forEach((c, i) => {
        add(r, `spec.cidrs[${i}]`, c, '*');
      });
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
        if (a.group !== '*' && c.group !== '*' && a.group !== c.group) continue;
        if (a.owner === c.owner && a.field === c.field) continue;
        const pair = [refString(refOf(a.owner)), refString(refOf(c.owner))].sort().join(' ');
        const key = `${pair} ${a.cidr} ${c.cidr}`;
        if (seen.has(key)) continue;
        seen.add(key);
        problems.push(overlapProblem(c, a, sources));
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
  const describe = (x: Claim): string => `${x.owner.kind} "${x.owner.metadata.name}" ${x.field.replace('spec.', '')} ${x.cidr}`;
  const scope = c.group !== '*' && a.group !== '*' ? ` (both in clusterset "${c.group}")` : '';
  return {
    ...(src.file !== undefined ? { file: src.file } : {}),
    ...(src.document !== undefined ? { document: src.document } : {}),
    kind: c.owner.kind,
    name: c.owner.metadata.name,
    field: src.path !== undefined ? `${src.path}.${c.field}` : c.field,
    message: sameOwner
      ? `${c.cidr} overlaps ${a.field.replace('spec.', '')} ${a.cidr} of the same ${c.owner.kind}`
      : `${describe(c)} overlaps ${describe(a)}${scope}; pick non-overlapping ranges or set spec.ipam to have the hub allocate them`,
    value: c.cidr,
    involves: [ref, other],
  };
}
