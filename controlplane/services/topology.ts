// What the service merge needs to know about where clusters sit: each cluster's place
// (clusterset, network, provider, region, availability, labels) and which networks can reach
// each other. Links are undirected and transitive, so reachability is "same connected component"
// and is computed once per set of Networks (union-find), not per pair per lookup.
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import type { ClusterResource, NetworkResource } from '../api/resources.ts';
import { DEFAULT_CLUSTER_SET } from '../api/semantic.ts';

export interface ClusterPlace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly clusterSet: string;
  readonly network: string;
  readonly provider: string;
  readonly region: string;
  /** False only when the cluster's `Available` condition is `False` (a stopped heartbeat). */
  readonly available: boolean;
}

export interface NetworkPlace {
  readonly provider: string;
  readonly region: string | undefined;
}

export interface Topology {
  /** Network name → the name of its component's representative; unknown networks are their own. */
  readonly component: ReadonlyMap<string, string>;
  readonly networks: ReadonlyMap<string, NetworkPlace>;
}

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({});

export function clusterPlace(c: ClusterResource): ClusterPlace {
  const available = c.status?.conditions?.find((x) => x.type === 'Available')?.status !== 'False';
  return {
    name: c.metadata.name,
    labels: c.metadata.labels ?? EMPTY_LABELS,
    clusterSet: c.spec.clusterSet ?? DEFAULT_CLUSTER_SET,
    network: c.spec.network,
    provider: c.spec.provider,
    region: c.spec.region,
    available,
  };
}

/** Connected components of the Network graph, links taken as undirected edges. */
export function buildTopology(networks: readonly NetworkResource[]): Topology {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    for (let p = parent.get(root); p !== undefined && p !== root; p = parent.get(root)) root = p;
    // Path compression keeps later finds flat.
    for (let cur = x; cur !== root;) {
      const next = parent.get(cur) ?? root;
      parent.set(cur, root);
      cur = next;
    }
    return root;
  };
  const add = (x: string): void => {
    if (!parent.has(x)) parent.set(x, x);
  };
  const union = (a: string, b: string): void => {
    add(a);
    add(b);
    const ra = find(a);
    const rb = find(b);
    // The smaller name represents the component, so the result does not depend on input order.
    if (ra !== rb) {
      if (ra < rb) parent.set(rb, ra);
      else parent.set(ra, rb);
    }
  };
  const places = new Map<string, NetworkPlace>();
  for (const n of networks) {
    add(n.metadata.name);
    places.set(n.metadata.name, { provider: n.spec.provider, region: n.spec.region });
    for (const l of n.spec.links ?? []) union(n.metadata.name, l.to);
  }
  const component = new Map<string, string>();
  for (const name of parent.keys()) component.set(name, find(name));
  return { component, networks: places };
}

export function componentOf(t: Topology, network: string): string {
  return t.component.get(network) ?? network;
}

export function reachable(t: Topology, a: string, b: string): boolean {
  return a === b || componentOf(t, a) === componentOf(t, b);
}

export const Proximity = { Self: 0, Region: 1, Provider: 2, Elsewhere: 3 } as const;
export type Proximity = (typeof Proximity)[keyof typeof Proximity];

/**
 * How near an exporter is to a consumer: its own cluster, then the same region of the same
 * provider (region names are per provider), then the same provider, then the rest.
 */
export function proximity(consumer: ClusterPlace, exporter: string, provider: string | undefined, region: string | undefined): Proximity {
  if (exporter === consumer.name && exporter !== RESERVED_CLUSTER_NAME) return Proximity.Self;
  if (provider === consumer.provider && region !== undefined && region === consumer.region) return Proximity.Region;
  if (provider === consumer.provider) return Proximity.Provider;
  return Proximity.Elsewhere;
}
