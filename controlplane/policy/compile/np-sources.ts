// The sources a cluster's NetworkPolicies tell apart (compile/network-policy.ts): classes of this
// cluster's pods, remote pods that a `from` peer of a rule targeting the cluster selects (or every
// remote pod, where the cluster takes remote peers as pod CIDRs), per remote cluster the rest of
// its pods (its pod CIDR), and the external regions of the CIDRs rules name. Each carries the
// rules whose `from` selects its representative, for the bitsets np-decide.ts works on.
import { peerMatches, type OrderedRule, type Prepared } from '../evaluate.ts';
import type { ClusterInfo, Workload, World } from '../model.ts';
import { externalRegions, podKeys, type ExternalRegion, type WorkloadClass } from './atoms.ts';
import type { CompileContext, RuleInfo } from './context.ts';

export interface Src {
  /** `remote-rest`: a remote cluster's pods that no `from` peer here selects, decided alike, as its pod CIDRs. */
  readonly kind: 'local' | 'remote' | 'remote-rest' | 'external';
  readonly cluster?: string;
  readonly cls?: WorkloadClass;
  readonly peerCidr?: { cidr: string; except: readonly string[] };
  readonly rep: WorkloadClass['rep'];
  /** Positions of the rules whose `from` selects the source's representative. */
  readonly rules: ArrayLike<number>;
}

export interface SourceSet {
  readonly sources: readonly Src[];
  /** Per remote cluster, the indexes of its `remote` sources. */
  readonly remoteByCluster: ReadonlyMap<string, readonly number[]>;
  /** Remote clusters whose pods no rule selects have no pod-CIDR stand-in (every pod there is selected). */
  readonly restMissing: ReadonlySet<string>;
  /** Pod label keys that source classes are told apart by. */
  readonly srcKeys: readonly string[];
  /** Pod label keys that destination classes are told apart by. */
  readonly dstKeys: readonly string[];
  readonly byPodCidrs: boolean;
}

/** How problems name a source (built only for messages). */
export function labelOf(s: Src): string {
  if (s.kind === 'remote-rest') return `${s.cluster ?? ''}/(pods no rule selects)`;
  if (s.kind === 'external') return s.peerCidr?.cidr ?? '';
  const c = s.cls as WorkloadClass;
  return s.kind === 'local' ? `${c.namespace}/${JSON.stringify(c.labels)}` : `${c.cluster}/${c.namespace}/${JSON.stringify(c.labels)}`;
}

export function clusterSources(full: Prepared, ctx: CompileContext, world: World, info: ClusterInfo): SourceSet {
  const cluster = info.name;
  const ws = world.workloads;
  const byCluster = ctx.byCluster(ws);
  const specific = ctx.specific.get(cluster) ?? [];
  const targets = (pos: number): boolean => ctx.targetsCluster(pos, cluster);

  // The keys and CIDRs of every rule that targets this cluster (rules targeting all clusters are pre-merged).
  const dstKeySet = new Set(ctx.allToKeys);
  const srcKeySet = new Set(ctx.allFromKeys);
  const named = [...ctx.allCidrs];
  for (const pos of specific) {
    const ri = ctx.rules[pos] as RuleInfo;
    for (const k of ri.fromKeys) srcKeySet.add(k);
    for (const k of ri.toKeys ?? podKeys(ri.rule.rule.to, full.index, cluster)) dstKeySet.add(k);
    named.push(...ri.fromCidrs);
  }
  for (const pos of ctx.allPerClusterKeys) {
    const ri = ctx.rules[pos] as RuleInfo;
    for (const k of podKeys(ri.rule.rule.to, full.index, cluster)) dstKeySet.add(k);
  }
  const dstKeys = [...dstKeySet].sort();
  const srcKeys = [...srcKeySet].sort();

  const byPodCidrs = info.remotePeers === 'podCIDRs';
  // Remote pods no `from` peer selects are decided alike (by the rules' absence), so they travel as
  // their cluster's pod CIDRs and the output depends only on the addresses of pods rules select:
  // an endpoint change elsewhere leaves this cluster's objects alone (dependencies.ts). Members of
  // one class are selected alike (the class keys are every key a targeting `from` peer reads).
  const selected = (w: Workload): boolean => {
    for (const pos of ctx.fromRules(w)) if (targets(pos)) return true;
    return false;
  };
  const classes = ctx.classes(ws, srcKeys);
  const sources: Src[] = [];
  const restMissing = new Set<string>();
  for (const { cls, first } of classes) {
    if (cls.cluster === cluster) sources.push({ kind: 'local', cls, rep: cls.rep, rules: ctx.fromRules(first) });
  }
  const remoteByCluster = new Map<string, number[]>();
  for (const { cls, first } of classes) {
    if (cls.cluster === cluster || !(byPodCidrs || selected(first))) continue;
    const list = remoteByCluster.get(cls.cluster) ?? [];
    list.push(sources.length);
    remoteByCluster.set(cls.cluster, list);
    sources.push({ kind: 'remote', cls, rep: cls.rep, rules: ctx.fromRules(first) });
  }
  if (!byPodCidrs) {
    for (const c of world.clusters) {
      if (c.name === cluster) continue;
      const open = ctx.openRules(c.name);
      if (!open.some(targets)) {
        sources.push({ kind: 'remote-rest', cluster: c.name, rep: { kind: 'workload', cluster: c.name, namespace: '~', labels: {} }, rules: open });
        continue;
      }
      const known = (byCluster.get(c.name) ?? []).find((w) => !selected(w));
      if (known === undefined) {
        // Every known pod there is selected, or none is known yet: the rest of its pod CIDR is pods
        // this hub has not heard of (not reported yet, or started since). They get exactly what a
        // pod no label or namespace rule selects gets — the rules on the cluster alone —, never the
        // default allow: unknown pods fail closed, they are never let through by omission.
        restMissing.add(c.name);
        sources.push({ kind: 'remote-rest', cluster: c.name, rep: { kind: 'workload', cluster: c.name, namespace: '~', labels: {} }, rules: open });
        continue;
      }
      sources.push({
        kind: 'remote-rest',
        cluster: c.name,
        rep: { kind: 'workload', cluster: c.name, namespace: known.namespace, labels: known.labels },
        rules: ctx.fromRules(known),
      });
    }
  }
  const allCidrs = world.clusters.flatMap((c) => c.podCIDRs);
  const regionKey = `regions\u0000${[...new Set(named)].sort().join(',')}\u0000${allCidrs.join(',')}`;
  let regions = ctx.memo.get(regionKey) as ExternalRegion[] | undefined;
  if (regions === undefined) {
    regions = externalRegions(named, allCidrs);
    ctx.memo.set(regionKey, regions);
  }
  for (const r of regions) {
    const rules = ctx.cidrFromRules.filter((pos) => targets(pos) && (full.rules[pos] as OrderedRule).rule.from.some((p) => peerMatches(p, r.rep, full.index)));
    sources.push({ kind: 'external', peerCidr: { cidr: r.cidr, except: r.except }, rep: r.rep, rules });
  }
  return { sources, remoteByCluster, restMissing, srcKeys, dstKeys, byPodCidrs };
}
