// The reference evaluator of GlobalPolicy (docs/policy.md): given policies, the world and one
// flow, the verdict and the rule that decides it. Compilers, explain and impact all agree with
// this function; the property test in test/unit/policy checks the NetworkPolicy compiler against it.
import { cidrContains, ipFamily } from '../api/cidr.ts';
import { matchesSelector } from '../api/labels.ts';
import {
  TIERS,
  policyKey,
  type ClusterInfo,
  type DecidedBy,
  type Endpoint,
  type Evaluation,
  type Flow,
  type Peer,
  type Policy,
  type PortRange,
  type Protocol,
  type Rule,
  type ServiceInfo,
  type Tier,
  type TraceStep,
  type Workload,
  type World,
} from './model.ts';

/** One rule in evaluation order, with what naming it takes. */
export interface OrderedRule {
  readonly policy: Policy;
  readonly key: string;
  readonly tierIndex: number;
  readonly index: number;
  readonly rule: Rule;
}

/** The world indexed for lookups that evaluation makes per flow. */
export interface WorldIndex {
  readonly world: World;
  readonly clusters: ReadonlyMap<string, ClusterInfo>;
  /** `cluster/namespace` → labels. */
  readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** `namespace/name` → service. */
  readonly services: ReadonlyMap<string, ServiceInfo>;
}

export interface Prepared {
  readonly rules: readonly OrderedRule[];
  /** Policies with a default deny, in evaluation order, per tier. */
  readonly defaultDenies: ReadonlyMap<Tier, readonly Policy[]>;
  readonly index: WorldIndex;
}

export function tierIndex(t: Tier): number {
  return TIERS.indexOf(t);
}

/** Tier, then priority (lower first), then `namespace/name` (ties are refused by validateSet; this only keeps evaluation deterministic). */
export function comparePolicies(a: Policy, b: Policy): number {
  return tierIndex(a.tier) - tierIndex(b.tier) || a.priority - b.priority || compareStrings(policyKey(a), policyKey(b));
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function indexWorld(world: World): WorldIndex {
  return {
    world,
    clusters: new Map(world.clusters.map((c) => [c.name, c])),
    namespaceLabels: new Map(world.namespaces.map((n) => [`${n.cluster}/${n.name}`, n.labels])),
    services: new Map(world.services.map((s) => [`${s.namespace}/${s.name}`, s])),
  };
}

export function isPrepared(p: readonly Policy[] | Prepared): p is Prepared {
  return !Array.isArray(p);
}

export function prepare(policies: readonly Policy[], world: World | WorldIndex): Prepared {
  const index = 'world' in world ? world : indexWorld(world);
  const sorted = [...policies].sort(comparePolicies);
  const rules: OrderedRule[] = [];
  const defaultDenies = new Map<Tier, Policy[]>();
  for (const p of sorted) {
    const key = policyKey(p);
    p.rules.forEach((rule, i) => rules.push({ policy: p, key, tierIndex: tierIndex(p.tier), index: i, rule }));
    if (p.defaultDeny !== undefined) {
      const list = defaultDenies.get(p.tier) ?? [];
      list.push(p);
      defaultDenies.set(p.tier, list);
    }
  }
  return { rules, defaultDenies, index };
}

// ---- matching --------------------------------------------------------------------------------

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

export function serviceSelects(s: ServiceInfo, cluster: string, namespace: string, labels: Readonly<Record<string, string>>): boolean {
  if (namespace !== s.namespace || !s.exporters.includes(cluster)) return false;
  return matchesSelector(s.selectors?.[cluster] ?? s.selector, labels);
}

/** Does `peer` select endpoint `e`? Workload peers never select external addresses and `cidrs` never selects a workload. */
export function peerMatches(peer: Peer, e: Endpoint, index: WorldIndex): boolean {
  if (e.kind === 'external') {
    return peer.cidrs !== undefined && peer.cidrs.some((c) => ipFamily(c) === ipFamily(e.ip) && cidrContains(c, e.ip));
  }
  if (peer.cidrs !== undefined) return false;
  if (peer.clusters !== undefined) {
    const c = index.clusters.get(e.cluster);
    if (!matchesSelector(peer.clusters, c?.labels ?? EMPTY)) return false;
  }
  if (peer.namespaces !== undefined && !peer.namespaces.includes(e.namespace)) return false;
  if (peer.namespaceSelector !== undefined && !matchesSelector(peer.namespaceSelector, index.namespaceLabels.get(`${e.cluster}/${e.namespace}`) ?? EMPTY)) {
    return false;
  }
  if (peer.pods !== undefined && !matchesSelector(peer.pods, e.labels)) return false;
  if (peer.service !== undefined) {
    const s = index.services.get(`${peer.service.namespace}/${peer.service.name}`);
    if (s === undefined || !serviceSelects(s, e.cluster, e.namespace, e.labels)) return false;
  }
  return true;
}

export function portsMatch(ports: readonly PortRange[] | undefined, protocol: Protocol, port: number): boolean {
  if (ports === undefined) return true;
  return ports.some((p) => (p.protocol ?? 'TCP') === protocol && port >= p.port && port <= (p.endPort ?? p.port));
}

export function ruleMatches(rule: Rule, from: Endpoint, to: Endpoint, protocol: Protocol, port: number, index: WorldIndex): boolean {
  return portsMatch(rule.ports, protocol, port) && rule.from.some((p) => peerMatches(p, from, index)) && rule.to.some((p) => peerMatches(p, to, index));
}

export function defaultDenyCovers(p: Policy, to: Endpoint, index: WorldIndex): boolean {
  const dd = p.defaultDeny;
  if (dd === undefined || to.kind !== 'workload' || !dd.namespaces.includes(to.namespace)) return false;
  return dd.clusters === undefined || matchesSelector(dd.clusters, index.clusters.get(to.cluster)?.labels ?? EMPTY);
}

// ---- evaluation ------------------------------------------------------------------------------

/** The pods of a service flow's destination: its selector's pods in every exporting cluster. */
export function serviceBackends(s: ServiceInfo, world: World): Workload[] {
  return world.workloads.filter((w) => serviceSelects(s, w.cluster, w.namespace, w.labels));
}

/** Evaluates a flow whose destination is one endpoint (a workload or an external address). */
export function evaluateEndpoints(prepared: Prepared, from: Endpoint, to: Endpoint, protocol: Protocol, port: number): Evaluation {
  const trace: TraceStep[] = [];
  const { rules, index } = prepared;
  let i = 0;
  for (let t = 0; t < TIERS.length; t++) {
    const tier = TIERS[t] as Tier;
    let passed = false;
    for (; i < rules.length && (rules[i] as OrderedRule).tierIndex === t; i++) {
      const r = rules[i] as OrderedRule;
      if (!ruleMatches(r.rule, from, to, protocol, port, index)) continue;
      const decidedBy: DecidedBy = { policy: r.key, tier, rule: r.index };
      if (r.rule.action === 'Pass') {
        trace.push({ tier, policy: r.key, rule: r.index, event: 'passed', detail: `${r.key} rule ${r.index} passes the flow to the next tier` });
        passed = true;
        break;
      }
      trace.push({ tier, policy: r.key, rule: r.index, event: 'matched', detail: `${r.key} rule ${r.index} (${r.rule.action}) matches` });
      return { verdict: r.rule.action === 'Allow' ? 'allowed' : 'denied', decidedBy, trace };
    }
    // Skip what is left of a tier a Pass left.
    while (i < rules.length && (rules[i] as OrderedRule).tierIndex === t) i++;
    if (!passed) {
      const dd = (prepared.defaultDenies.get(tier) ?? []).find((p) => defaultDenyCovers(p, to, index));
      if (dd !== undefined) {
        const key = policyKey(dd);
        trace.push({ tier, policy: key, rule: 'default-deny', event: 'default-deny', detail: `no ${tier} rule matched; ${key} denies the rest by default` });
        return { verdict: 'denied', decidedBy: { policy: key, tier, rule: 'default-deny' }, trace };
      }
    }
    trace.push({ tier, event: 'tier-end', detail: passed ? `left the ${tier} tier by Pass` : `no ${tier} rule matched` });
  }
  trace.push({ tier: 'baseline', event: 'default-allow', detail: 'no rule matched: allowed, as Kubernetes allows unselected traffic' });
  return { verdict: 'allowed', trace };
}

/**
 * The reference evaluator. A flow to a global service is allowed only when it is allowed to every
 * pod behind the service (the service may send it to any of them); the first pod it is denied to
 * names the deciding rule.
 */
export function evaluate(policies: readonly Policy[] | Prepared, world: World, flow: Flow): Evaluation {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  if (flow.to.kind !== 'service') return evaluateEndpoints(prepared, flow.from, flow.to, flow.protocol, flow.port);
  const s = prepared.index.services.get(`${flow.to.namespace}/${flow.to.name}`);
  const backends = s === undefined ? [] : serviceBackends(s, prepared.index.world);
  if (backends.length === 0) {
    return {
      verdict: 'denied',
      trace: [{ tier: 'platform', event: 'tier-end', detail: `${flow.to.namespace}/${flow.to.name} has no known pods: nothing to reach` }],
    };
  }
  let first: Evaluation | undefined;
  for (const b of backends) {
    const e = evaluateEndpoints(
      prepared,
      flow.from,
      { kind: 'workload', cluster: b.cluster, namespace: b.namespace, labels: b.labels, ip: b.ips[0] },
      flow.protocol,
      flow.port,
    );
    if (e.verdict === 'denied') return e;
    first ??= e;
  }
  return first as Evaluation;
}
