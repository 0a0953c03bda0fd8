// A GlobalPolicy peer as the selectors of one cluster's own pods, for the formats whose peers are
// label selectors over live pods and namespaces (ClusterNetworkPolicy, AdminNetworkPolicy, Calico,
// Cilium): exact for present and future pods, because each peer field becomes a selector term with
// the evaluator's meaning. `clusters` is decided here, at compile time (this cluster matches or the
// peer selects nothing in it); `namespaces` becomes an `In` on the namespace's name label; a
// `service` is its selector in its namespace where this cluster exports it.
import { matchesSelector, type LabelSelector } from '../../api/labels.ts';
import type { WorldIndex } from '../evaluate.ts';
import type { ClusterInfo, Peer } from '../model.ts';
import { stableJson } from './names.ts';
import { NAMESPACE_NAME_LABEL } from './result.ts';

/** Pods of this cluster: those in namespaces `namespaceSelector` matches whose labels `podSelector` matches. */
export interface LocalSelector {
  readonly namespaceSelector: LabelSelector;
  readonly podSelector: LabelSelector;
}

type Requirement = NonNullable<LabelSelector['matchExpressions']>[number];

/** Both selectors must hold: one selector (a conflicting matchLabels value becomes an `In`, which then selects nothing, as both do). */
export function andSelectors(a: LabelSelector, b: LabelSelector): LabelSelector {
  const matchLabels: Record<string, string> = { ...(a.matchLabels ?? {}) };
  const matchExpressions: Requirement[] = [...(a.matchExpressions ?? [])];
  for (const [k, v] of Object.entries(b.matchLabels ?? {})) {
    const have = matchLabels[k];
    if (have === undefined) matchLabels[k] = v;
    else if (have !== v) matchExpressions.push({ key: k, operator: 'In', values: [v] });
  }
  matchExpressions.push(...(b.matchExpressions ?? []));
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

export function isEmptySelector(s: LabelSelector): boolean {
  return Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0;
}

const nameIn = (names: readonly string[]): LabelSelector => ({
  matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: [...new Set(names)].sort() }],
});

/** The peer's pods in `cluster`, or undefined when it selects none there (external CIDRs, another cluster, a service not exported here). */
export function localSelector(peer: Peer, cluster: ClusterInfo, index: WorldIndex): LocalSelector | undefined {
  if (peer.cidrs !== undefined) return undefined;
  if (peer.clusters !== undefined && !matchesSelector(peer.clusters, cluster.labels)) return undefined;
  let namespaceSelector: LabelSelector = peer.namespaces === undefined ? {} : nameIn(peer.namespaces);
  if (peer.namespaceSelector !== undefined) namespaceSelector = andSelectors(namespaceSelector, peer.namespaceSelector);
  let podSelector: LabelSelector = peer.pods ?? {};
  if (peer.service !== undefined) {
    const s = index.services.get(`${peer.service.namespace}/${peer.service.name}`);
    if (s === undefined || !s.exporters.includes(cluster.name)) return undefined;
    namespaceSelector = andSelectors(namespaceSelector, nameIn([s.namespace]));
    podSelector = andSelectors(podSelector, s.selectors?.[cluster.name] ?? s.selector);
  }
  return { namespaceSelector, podSelector };
}

/** The distinct local selectors of some peers, in order. */
export function localSelectors(peers: readonly Peer[], cluster: ClusterInfo, index: WorldIndex): LocalSelector[] {
  const out = new Map<string, LocalSelector>();
  for (const p of peers) {
    const s = localSelector(p, cluster, index);
    if (s !== undefined) out.set(stableJson(s), s);
  }
  return [...out.values()];
}

/** Every pod of the cluster. */
export const ALL_PODS: LocalSelector = { namespaceSelector: {}, podSelector: {} };

/** Pods of these namespaces (a default deny's subject). */
export function namespacesNamed(names: readonly string[]): LocalSelector {
  return { namespaceSelector: nameIn(names), podSelector: {} };
}
