// What every cluster's compilation shares, worked out once per prepared policy set instead of
// once per cluster × class × port × rule: which clusters each rule targets, the pod label keys and
// CIDRs each rule reads, and — per workload — the rules whose `from` and whose `to` select it
// (found through indexes by namespace and label, then confirmed with the evaluator's own
// `peerMatches`, so nothing here can disagree with evaluate.ts). Compilers then only combine these
// sets (network-policy.ts). It is memoised on the prepared rule list and checked against the world
// index it was built from, so a Prepared whose index keeps the same clusters, namespaces and
// services (an endpoint change, compile/incremental.ts) reuses it, and a workload seen before is
// never matched again.
import { matchesSelector, type LabelSelector } from '../../api/labels.ts';
import { peerMatches, type OrderedRule, type Prepared, type WorldIndex } from '../evaluate.ts';
import type { ClusterInfo, Endpoint, Peer, Workload } from '../model.ts';
import { podKeys, type WorkloadClass } from './atoms.ts';
import { ruleMatcher } from './rule-matches.ts';

export interface RuleInfo {
  /** Position in `prepared.rules` (evaluation order). */
  readonly pos: number;
  readonly rule: OrderedRule;
  /** Some `to` peer can select something in every cluster. */
  readonly targetsAll: boolean;
  /** When not every cluster: those where a `to` peer can select something. */
  readonly targets: ReadonlySet<string>;
  /** Pod label keys the `from` peers read (services: every exporter's selector). */
  readonly fromKeys: readonly string[];
  /** Pod label keys the `to` peers read, unless a service has per-cluster selectors (then per cluster). */
  readonly toKeys: readonly string[] | undefined;
  readonly fromCidrs: readonly string[];
  readonly toCidrs: boolean;
  /** `from` peers that may select a remote cluster's pods no namespace, service or pod label picks. */
  readonly openFrom: readonly Peer[];
}

export interface CompileContext {
  readonly rules: readonly RuleInfo[];
  /** Per cluster, positions of the rules that target it but not every cluster. */
  readonly specific: ReadonlyMap<string, readonly number[]>;
  readonly allTargeting: readonly number[];
  /** Of those, rules naming a service with per-cluster selectors: their `to` keys differ per cluster. */
  readonly allPerClusterKeys: readonly number[];
  readonly allFromKeys: ReadonlySet<string>;
  readonly allToKeys: ReadonlySet<string>;
  readonly allCidrs: readonly string[];
  readonly toCidrRules: readonly number[];
  readonly cidrFromRules: readonly number[];
  readonly index: WorldIndex;
  targetsCluster(pos: number, cluster: string): boolean;
  /** Positions (ascending) of the rules with a `from` peer selecting the workload. */
  fromRules(w: Workload): Int32Array;
  /** Positions (ascending) of the rules with a `to` peer selecting the workload. */
  toRules(w: Workload): Int32Array;
  /** Rules whose `from` selects a pod of `cluster` that no namespace, service or pod label picks. */
  openRules(cluster: string): readonly number[];
  /** Makes sure every workload of the array has its rule sets (in bulk through indexes). */
  cover(workloads: readonly Workload[]): void;
  /** The world's workloads classified on `keys` (atoms.classify), with each class's first workload. */
  classes(workloads: readonly Workload[], keys: readonly string[]): readonly ClassWithFirst[];
  /** The world's workloads by cluster, in world order. */
  byCluster(workloads: readonly Workload[]): ReadonlyMap<string, readonly Workload[]>;
  /** A cache the compilers may keep per key (external regions, for one). */
  readonly memo: Map<string, unknown>;
}

export interface ClassWithFirst {
  readonly cls: WorkloadClass;
  readonly first: Workload;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

const contexts = new WeakMap<readonly OrderedRule[], CompileContext>();

export function compileContext(prepared: Prepared): CompileContext {
  const known = contexts.get(prepared.rules);
  const ix = prepared.index;
  if (
    known !== undefined &&
    known.index.clusters === ix.clusters &&
    known.index.services === ix.services &&
    known.index.namespaceLabels === ix.namespaceLabels
  ) {
    return known;
  }
  const ctx = build(prepared);
  contexts.set(prepared.rules, ctx);
  return ctx;
}

function selectorKey(s: LabelSelector): string {
  return JSON.stringify(s);
}

function build(prepared: Prepared): CompileContext {
  const index = prepared.index;
  const clusters = [...index.clusters.values()];
  // Clusters with equal labels are targeted alike: decide each selector once per label set.
  const byLabels = new Map<string, ClusterInfo[]>();
  for (const c of clusters) {
    const k = JSON.stringify(Object.entries(c.labels).sort());
    const list = byLabels.get(k) ?? [];
    list.push(c);
    byLabels.set(k, list);
  }
  const selected = new Map<string, ReadonlySet<string>>();
  const clustersMatching = (s: LabelSelector): ReadonlySet<string> => {
    const k = selectorKey(s);
    let out = selected.get(k);
    if (out === undefined) {
      const set = new Set<string>();
      for (const group of byLabels.values()) if (matchesSelector(s, (group[0] as ClusterInfo).labels)) for (const c of group) set.add(c.name);
      out = set;
      selected.set(k, out);
    }
    return out;
  };

  const rules: RuleInfo[] = [];
  const specific = new Map<string, number[]>();
  const allTargeting: number[] = [];
  const allPerClusterKeys: number[] = [];
  const allFromKeys = new Set<string>();
  const allToKeys = new Set<string>();
  const allCidrs: string[] = [];
  const toCidrRules: number[] = [];
  const cidrFromRules: number[] = [];
  prepared.rules.forEach((r, pos) => {
    let all = false;
    const targets = new Set<string>();
    for (const p of r.rule.to) {
      if (p.cidrs !== undefined) continue;
      const svc = p.service === undefined ? undefined : index.services.get(`${p.service.namespace}/${p.service.name}`);
      if (p.service !== undefined && svc === undefined) continue;
      if (p.clusters === undefined && svc === undefined) {
        all = true;
        break;
      }
      const inClusters = p.clusters === undefined ? undefined : clustersMatching(p.clusters);
      if (svc !== undefined) {
        for (const e of svc.exporters) if (inClusters === undefined || inClusters.has(e)) targets.add(e);
      } else if (inClusters !== undefined) {
        for (const c of inClusters) targets.add(c);
      }
    }
    const perClusterSelectors = r.rule.to.some((p) => {
      if (p.service === undefined) return false;
      const s = index.services.get(`${p.service.namespace}/${p.service.name}`);
      return s?.selectors !== undefined && Object.keys(s.selectors).length > 0;
    });
    const fromKeys = [...podKeys(r.rule.from, index)];
    const toKeys = perClusterSelectors ? undefined : [...podKeys(r.rule.to, index, '')];
    const fromCidrs = r.rule.from.flatMap((p) => p.cidrs ?? []);
    const info: RuleInfo = {
      pos,
      rule: r,
      targetsAll: all,
      targets: all ? new Set() : targets,
      fromKeys,
      toKeys,
      fromCidrs,
      toCidrs: r.rule.to.some((p) => p.cidrs !== undefined),
      // The synthetic stand-in (namespace `~`, no labels) escapes every namespace, service and pod
      // label constraint that needs something present: only the cluster selector is left to decide.
      openFrom: r.rule.from.filter(
        (p) =>
          p.cidrs === undefined &&
          p.namespaces === undefined &&
          p.service === undefined &&
          (p.pods === undefined || matchesSelector(p.pods, EMPTY)) &&
          (p.namespaceSelector === undefined || matchesSelector(p.namespaceSelector, EMPTY)),
      ),
    };
    rules.push(info);
    if (info.toCidrs) toCidrRules.push(pos);
    if (fromCidrs.length > 0) cidrFromRules.push(pos);
    if (all) {
      allTargeting.push(pos);
      if (toKeys === undefined) allPerClusterKeys.push(pos);
      for (const k of fromKeys) allFromKeys.add(k);
      for (const k of toKeys ?? []) allToKeys.add(k);
      allCidrs.push(...fromCidrs);
    } else {
      for (const c of targets) {
        const list = specific.get(c) ?? [];
        list.push(pos);
        specific.set(c, list);
      }
    }
  });
  // Specific lists come out in rule order since rules are visited in order.

  const matches = ruleMatcher(rules, index);

  const openCandidates = rules.filter((r) => r.openFrom.length > 0);
  const openByLabels = new Map<string, readonly number[]>();
  const open = new Map<string, readonly number[]>();
  const openRules = (cluster: string): readonly number[] => {
    let out = open.get(cluster);
    if (out === undefined) {
      const labels = index.clusters.get(cluster)?.labels ?? EMPTY;
      const key = `${JSON.stringify(Object.entries(labels).sort())}\u0000${JSON.stringify(index.namespaceLabels.get(`${cluster}/~`) ?? EMPTY)}`;
      out = openByLabels.get(key);
      if (out === undefined) {
        const synthetic: Endpoint = { kind: 'workload', cluster, namespace: '~', labels: {} };
        out = openCandidates.filter((r) => r.openFrom.some((p) => peerMatches(p, synthetic, index))).map((r) => r.pos);
        openByLabels.set(key, out);
      }
      open.set(cluster, out);
    }
    return out;
  };

  const classCache = new WeakMap<readonly Workload[], Map<string, readonly ClassWithFirst[]>>();
  const classes = (ws: readonly Workload[], keys: readonly string[]): readonly ClassWithFirst[] => {
    let perKeys = classCache.get(ws);
    if (perKeys === undefined) {
      perKeys = new Map();
      classCache.set(ws, perKeys);
    }
    const sig = keys.join('\u0000');
    let out = perKeys.get(sig);
    if (out === undefined) {
      out = classifyWithFirst(ws, keys);
      perKeys.set(sig, out);
    }
    return out;
  };
  const clusterCache = new WeakMap<readonly Workload[], Map<string, Workload[]>>();
  const byCluster = (ws: readonly Workload[]): ReadonlyMap<string, readonly Workload[]> => {
    let m = clusterCache.get(ws);
    if (m === undefined) {
      m = new Map();
      for (const w of ws) {
        const l = m.get(w.cluster);
        if (l === undefined) m.set(w.cluster, [w]);
        else l.push(w);
      }
      clusterCache.set(ws, m);
    }
    return m;
  };

  return {
    rules,
    specific,
    allTargeting,
    allPerClusterKeys,
    allFromKeys,
    allToKeys,
    allCidrs,
    toCidrRules,
    cidrFromRules,
    index,
    targetsCluster: (pos, cluster) => {
      const r = rules[pos] as RuleInfo;
      return r.targetsAll || r.targets.has(cluster);
    },
    fromRules: matches.fromRules,
    toRules: matches.toRules,
    openRules,
    cover: matches.cover,
    classes,
    byCluster,
    memo: new Map(),
  };
}

/** atoms.classify, keeping each class's first workload (world order). */
export function classifyWithFirst(workloads: readonly Workload[], keys: readonly string[]): ClassWithFirst[] {
  const classes = new Map<string, { first: Workload; labels: Record<string, string>; ips: Set<string> }>();
  for (const w of workloads) {
    const labels: Record<string, string> = {};
    for (const k of keys) {
      const v = w.labels[k];
      if (v !== undefined) labels[k] = v;
    }
    const key = `${w.cluster}/${w.namespace}/${JSON.stringify(labels)}`;
    let entry = classes.get(key);
    if (entry === undefined) {
      entry = { first: w, labels, ips: new Set() };
      classes.set(key, entry);
    }
    for (const ip of w.ips) entry.ips.add(ip);
  }
  return [...classes.entries()]
    .map(([key, { first, labels, ips }]) => ({
      first,
      cls: {
        cluster: first.cluster,
        namespace: first.namespace,
        labels,
        key,
        rep: { kind: 'workload' as const, cluster: first.cluster, namespace: first.namespace, labels: first.labels, ip: first.ips[0] },
        ips: [...ips].sort(),
      },
    }))
    .sort((a, b) => (a.cls.key < b.cls.key ? -1 : a.cls.key > b.cls.key ? 1 : 0));
}
