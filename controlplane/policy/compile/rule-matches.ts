// Which rules select each workload, for the compile context (context.ts): per workload, the
// positions of the rules whose `from` and whose `to` peers select it. A few workloads are matched
// against every rule; many at once go through indexes by namespace, pod, namespace and cluster
// label, so a peer is checked only against the smallest list one of its constraints narrows it to.
// Every match is confirmed with the evaluator's own `peerMatches`, so nothing here can disagree
// with evaluate.ts. What a peer reads of a workload is its cluster, namespace and labels, never its
// addresses: a workload that moved is matched like its earlier self (memoised by that signature).
import { peerMatches, type OrderedRule, type WorldIndex } from '../evaluate.ts';
import type { Endpoint, Peer, Workload } from '../model.ts';

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
const NONE = new Int32Array(0);

export interface RuleMatcher {
  /** Positions (ascending) of the rules with a `from` peer selecting the workload. */
  readonly fromRules: (w: Workload) => Int32Array;
  /** Positions (ascending) of the rules with a `to` peer selecting the workload. */
  readonly toRules: (w: Workload) => Int32Array;
  /** Makes sure every workload of the array has its rule sets (in bulk through indexes). */
  readonly cover: (workloads: readonly Workload[]) => void;
}

/** The rules in evaluation order, each with its position (context.ts RuleInfo). */
export interface PositionedRule {
  readonly pos: number;
  readonly rule: OrderedRule;
}

export function ruleMatcher(rules: readonly PositionedRule[], index: WorldIndex): RuleMatcher {
  const fromCache = new WeakMap<Workload, Int32Array>();
  const toCache = new WeakMap<Workload, Int32Array>();
  const covered = new WeakSet<readonly Workload[]>();
  const endpoint = (w: Workload): Endpoint => ({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels });

  // What a peer reads of a workload is its cluster, namespace and labels, never its addresses: a
  // workload that moved (or came back with a new address) is matched like its earlier self.
  const scanned = new Map<string, readonly [Int32Array, Int32Array]>();
  const signature = (w: Workload): string =>
    `${w.cluster}\u0000${w.namespace}\u0000${JSON.stringify(Object.entries(w.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
  const scan = (w: Workload): void => {
    const sig = signature(w);
    let known = scanned.get(sig);
    if (known === undefined) {
      const e = endpoint(w);
      const from: number[] = [];
      const to: number[] = [];
      for (const info of rules) {
        if (info.rule.rule.from.some((p) => peerMatches(p, e, index))) from.push(info.pos);
        if (info.rule.rule.to.some((p) => peerMatches(p, e, index))) to.push(info.pos);
      }
      known = [from.length === 0 ? NONE : Int32Array.from(from), to.length === 0 ? NONE : Int32Array.from(to)];
      scanned.set(sig, known);
    }
    fromCache.set(w, known[0]);
    toCache.set(w, known[1]);
  };

  const bulk = (ws: readonly Workload[]): void => {
    // Indexes over the workloads: a peer is checked only against the smallest list one of its
    // constraints narrows it to.
    const byNs = new Map<string, Workload[]>();
    const byPod = new Map<string, Workload[]>();
    const byNsLabel = new Map<string, Workload[]>();
    const byClusterLabel = new Map<string, Workload[]>();
    const push = (m: Map<string, Workload[]>, k: string, w: Workload): void => {
      const l = m.get(k);
      if (l === undefined) m.set(k, [w]);
      else l.push(w);
    };
    for (const w of ws) {
      push(byNs, w.namespace, w);
      for (const [k, v] of Object.entries(w.labels)) push(byPod, `${k}\u0000${v}`, w);
      for (const [k, v] of Object.entries(index.namespaceLabels.get(`${w.cluster}/${w.namespace}`) ?? EMPTY)) push(byNsLabel, `${k}\u0000${v}`, w);
      for (const [k, v] of Object.entries(index.clusters.get(w.cluster)?.labels ?? EMPTY)) push(byClusterLabel, `${k}\u0000${v}`, w);
    }
    const none: Workload[] = [];
    const candidates = (p: Peer): readonly Workload[] => {
      let best: readonly Workload[] = ws;
      const consider = (l: readonly Workload[]): void => {
        if (l.length < best.length) best = l;
      };
      if (p.namespaces !== undefined) consider(p.namespaces.flatMap((n) => byNs.get(n) ?? none));
      if (p.service !== undefined) consider(byNs.get(p.service.namespace) ?? none);
      for (const [k, v] of Object.entries(p.pods?.matchLabels ?? EMPTY)) consider(byPod.get(`${k}\u0000${v}`) ?? none);
      for (const [k, v] of Object.entries(p.namespaceSelector?.matchLabels ?? EMPTY)) consider(byNsLabel.get(`${k}\u0000${v}`) ?? none);
      for (const [k, v] of Object.entries(p.clusters?.matchLabels ?? EMPTY)) consider(byClusterLabel.get(`${k}\u0000${v}`) ?? none);
      return best;
    };
    const from = new Map<Workload, number[]>();
    const to = new Map<Workload, number[]>();
    const add = (m: Map<Workload, number[]>, w: Workload, pos: number): void => {
      const l = m.get(w);
      if (l === undefined) m.set(w, [pos]);
      else if (l[l.length - 1] !== pos) l.push(pos);
    };
    for (const info of rules) {
      for (const [peers, m] of [
        [info.rule.rule.from, from],
        [info.rule.rule.to, to],
      ] as const) {
        for (const p of peers) {
          if (p.cidrs !== undefined) continue;
          for (const w of candidates(p)) if (peerMatches(p, endpoint(w), index)) add(m, w, info.pos);
        }
      }
    }
    for (const w of ws) {
      // Two peers of one rule may add it out of order with other rules in between: sort.
      const f = from.get(w);
      const t = to.get(w);
      const fromRules = f === undefined ? NONE : Int32Array.from(new Set(f)).sort();
      const toRules = t === undefined ? NONE : Int32Array.from(new Set(t)).sort();
      fromCache.set(w, fromRules);
      toCache.set(w, toRules);
      const sig = signature(w);
      if (!scanned.has(sig)) scanned.set(sig, [fromRules, toRules]);
    }
  };

  const cover = (ws: readonly Workload[]): void => {
    if (covered.has(ws)) return;
    const missing = ws.filter((w) => !fromCache.has(w));
    if (missing.length > 16) bulk(missing);
    else for (const w of missing) scan(w);
    covered.add(ws);
  };
  const lookup = (cache: WeakMap<Workload, Int32Array>, w: Workload): Int32Array => {
    let v = cache.get(w);
    if (v === undefined) {
      scan(w);
      v = cache.get(w) ?? NONE;
    }
    return v;
  };

  return { fromRules: (w) => lookup(fromCache, w), toRules: (w) => lookup(toCache, w), cover };
}
