// Which compiled outputs an endpoint change can alter, so the hub recompiles only those. A
// cluster's NetworkPolicies (compile/network-policy.ts) depend on: its own pods; the addresses of
// remote pods some `from` peer of a rule targeting it selects (other remote pods travel as their
// cluster's pod CIDRs); the pod CIDRs and labels of clusters; and the policies. So a remote pod
// matters to cluster C only through rules that select it and target C.
import { matchesSelector } from '../api/labels.ts';
import { defaultDenyCovers, isPrepared, peerMatches, prepare, type OrderedRule, type Prepared } from './evaluate.ts';
import { compileContext } from './compile/context.ts';
import type { Endpoint, Policy, Workload, World } from './model.ts';

export interface DependencyIndex {
  readonly prepared: Prepared;
  /** Per rule (in prepared order), the clusters where its `to` can select something. */
  readonly targets: ReadonlyMap<OrderedRule, readonly string[]>;
  /** Clusters that any rule or default deny targets: their own pods' changes matter to them. */
  readonly targeted: ReadonlySet<string>;
}

export interface Affected {
  readonly cluster: string;
  /** `namespace/name` of a policy whose rule selects the changed endpoint there. */
  readonly policy: string;
}

export function dependencies(policies: readonly Policy[] | Prepared, world: World): DependencyIndex {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  // Which clusters each rule targets is worked out once per cluster label set (compile/context.ts).
  const ctx = compileContext(prepared);
  const names = world.clusters.map((c) => c.name);
  const targets = new Map<OrderedRule, readonly string[]>();
  const targeted = new Set<string>();
  for (const info of ctx.rules) {
    const list = info.targetsAll ? names : names.filter((c) => info.targets.has(c));
    targets.set(info.rule, list);
    for (const c of list) targeted.add(c);
  }
  for (const list of prepared.defaultDenies.values()) {
    for (const p of list)
      for (const c of world.clusters) if (p.defaultDeny?.clusters === undefined || matchesSelector(p.defaultDeny.clusters, c.labels)) targeted.add(c.name);
  }
  return { prepared, targets, targeted };
}

/**
 * The (cluster, policy) pairs whose compiled output a change of one endpoint (added: only
 * `after`; removed: only `before`; moved or relabelled: both) can alter. The endpoint's own
 * cluster is recompiled whenever anything targets it, since its pods are its policies' subjects.
 */
export function affectedBy(index: DependencyIndex, change: { readonly before?: Workload | undefined; readonly after?: Workload | undefined }): Affected[] {
  const out = new Map<string, Affected>();
  const add = (cluster: string, policy: string): void => {
    out.set(`${cluster}\u0000${policy}`, { cluster, policy });
  };
  for (const w of [change.before, change.after]) {
    if (w === undefined) continue;
    const e: Endpoint = { kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels };
    for (const r of index.prepared.rules) {
      if (r.rule.from.some((p) => peerMatches(p, e, index.prepared.index))) for (const c of index.targets.get(r) ?? []) add(c, r.key);
      if (r.rule.to.some((p) => peerMatches(p, e, index.prepared.index))) add(w.cluster, r.key);
    }
    for (const list of index.prepared.defaultDenies.values()) {
      for (const p of list) if (defaultDenyCovers(p, e, index.prepared.index)) add(w.cluster, `${p.namespace}/${p.name}`);
    }
  }
  return [...out.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0));
}
