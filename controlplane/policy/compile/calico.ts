// GlobalPolicy → Calico tiered policy (projectcalico.org/v3 Tier and GlobalNetworkPolicy) for one
// cluster, exact or refused. Calico evaluates, per endpoint and direction, the tiers in `order`,
// each tier's policies that select the endpoint in `order`, their rules in order, first match:
// Allow and Deny are final, Pass leaves the tier; a tier that selected the endpoint and matched
// nothing applies its `defaultAction`; after the last tier the namespace profile allows. That is
// GlobalPolicy's own order, so the translation is rule for rule:
//
// - one Tier per GlobalPolicy tier (`causeway-platform` 100, `-tenant` 200, `-baseline` 300) with
//   `defaultAction: Pass`, so that "nothing matched" continues as in the evaluator;
// - each rule one ingress policy per `to` peer selecting pods here (`namespaceSelector` +
//   `selector`, exact for present and future pods: selectors.ts), at `order` = its priority (ties
//   get thousandths in evaluation order); one Calico rule per `from` peer and protocol: this
//   cluster's pods as selectors, other clusters' pods as `nets` (a peer that selects every pod of a
//   cluster is its pod CIDRs, else the current addresses of the pods it selects there), external
//   CIDRs as `nets` minus every in-cluster address (`notNets`), one rule per address family;
// - each rule towards external CIDRs one egress policy per local `from` peer, its CIDRs as
//   destination `nets` minus the in-cluster addresses (flows to pods are decided at their ingress);
// - a default deny a Deny from everything at order 1001, after every rule of its tier.
//
// Refused (naming the rule): a cluster taking remote peers as pod CIDRs while a rule selects a
// remote cluster's pods by more than the cluster (namespace, labels, service); an address that
// belongs both to a pod a rule selects and to one it does not.
import { matchesSelector } from '../../api/labels.ts';
import { isPrepared, peerMatches, prepare, type OrderedRule, type Prepared } from '../evaluate.ts';
import { TIERS, policyKey, type ClusterInfo, type Peer, type Policy, type Problem, type Tier, type Workload, type World } from '../model.ts';
import {
  CALICO_API_VERSION,
  calicoPorts,
  calicoSelector,
  ofFamily,
  type CalicoEntityRule,
  type CalicoRule,
  type GlobalNetworkPolicySpec,
  type TierSpec,
} from './calico-selectors.ts';
import { objectName, stableJson } from './names.ts';
import { hostBlock } from './np-ingress.ts';
import { compiledMetadata, finish, inexpressible, type CompileResult, type CompiledObject } from './result.ts';
import { isEmptySelector, localSelectors, namespacesNamed, type LocalSelector } from './selectors.ts';

export const CALICO_TIERS: Readonly<Record<Tier, { readonly name: string; readonly order: number }>> = {
  platform: { name: 'causeway-platform', order: 100 },
  tenant: { name: 'causeway-tenant', order: 200 },
  baseline: { name: 'causeway-baseline', order: 300 },
};
/** After every rule: priorities are 0..1000, ties take thousandths. */
const DEFAULT_DENY_ORDER = 1001;

interface Unit {
  readonly tier: Tier;
  readonly key: string;
  readonly policy: Policy;
  readonly order: number;
  readonly subject: LocalSelector;
  readonly direction: 'ingress' | 'egress';
  readonly rules: readonly CalicoRule[];
  readonly identity: string;
}

interface Inputs {
  readonly info: ClusterInfo;
  readonly prepared: Prepared;
  readonly world: World;
  /** Every cluster's pod CIDRs: never an external address. */
  readonly inCluster: readonly string[];
  readonly byIp: ReadonlyMap<string, readonly Workload[]>;
  readonly problems: Problem[];
}

const endpointOf = (w: Workload): Parameters<typeof peerMatches>[1] => ({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels });

/** Does the peer select every pod of a cluster it matches, known or not (only `clusters` constrains it)? */
function wholeCluster(p: Peer): boolean {
  return (
    p.service === undefined &&
    p.namespaces === undefined &&
    (p.namespaceSelector === undefined || isEmptySelector(p.namespaceSelector)) &&
    (p.pods === undefined || isEmptySelector(p.pods))
  );
}

/**
 * The addresses by which this cluster tells the peer's pods in other clusters apart: a cluster the
 * peer selects whole is its pod CIDRs (pods the hub has not heard of included), else the current
 * addresses of the pods it selects there — or, where the cluster takes remote peers as pod CIDRs,
 * a refusal (a pod CIDR would also admit the cluster's other pods, present or future).
 */
function remoteNets(p: Peer, r: OrderedRule, x: Inputs): string[] {
  const { info, prepared, world } = x;
  const nets: string[] = [];
  for (const c of world.clusters) {
    if (c.name === info.name || (p.clusters !== undefined && !matchesSelector(p.clusters, c.labels))) continue;
    if (wholeCluster(p)) {
      nets.push(...c.podCIDRs);
      continue;
    }
    const matched = world.workloads.filter((w) => w.cluster === c.name && peerMatches(p, endpointOf(w), prepared.index));
    if (matched.length === 0) continue;
    if (info.remotePeers === 'podCIDRs') {
      x.problems.push(
        inexpressible(
          info.name,
          `${info.name} takes remote peers as pod CIDRs, but ${r.key} rule ${r.index} selects pods of ${c.name} by namespace, labels or service: a pod CIDR cannot tell them from its other pods`,
          [r.key],
          r.index,
        ),
      );
      continue;
    }
    for (const w of matched) {
      for (const ip of w.ips) {
        const other = (x.byIp.get(ip) ?? []).find((o) => !peerMatches(p, endpointOf(o), prepared.index));
        if (other !== undefined)
          x.problems.push(
            inexpressible(
              info.name,
              `address ${ip} belongs to pods ${r.key} rule ${r.index} selects (${w.cluster}/${w.namespace}) and does not (${other.cluster}/${other.namespace} ${JSON.stringify(other.labels)}): Calico nets cannot tell them apart`,
              [r.key],
              r.index,
            ),
          );
        nets.push(hostBlock(ip));
      }
    }
  }
  return nets;
}

function byFamily(nets: readonly string[], notNets: readonly string[]): CalicoEntityRule[] {
  return ([4, 6] as const).flatMap((f) => {
    const n = ofFamily(nets, f);
    const not = ofFamily(notNets, f);
    return n.length === 0 ? [] : [{ nets: n, ...(not.length > 0 ? { notNets: not } : {}) }];
  });
}

const entityOf = (s: LocalSelector): CalicoEntityRule => ({ namespaceSelector: calicoSelector(s.namespaceSelector), selector: calicoSelector(s.podSelector) });

/** The sources of a rule at ingress here, as Calico entity rules. */
function sourcesOf(r: OrderedRule, x: Inputs): CalicoEntityRule[] {
  const out = new Map<string, CalicoEntityRule>();
  const add = (e: CalicoEntityRule): void => void out.set(stableJson(e), e);
  for (const p of r.rule.from) {
    if (p.cidrs !== undefined) {
      byFamily(p.cidrs, x.inCluster).forEach(add);
      continue;
    }
    localSelectors([p], x.info, x.prepared.index).map(entityOf).forEach(add);
    byFamily(remoteNets(p, r, x), []).forEach(add);
  }
  return [...out.values()];
}

/** Calico rules: each peer × each protocol group of the ports. */
function rulesOf(action: CalicoRule['action'], peers: readonly CalicoEntityRule[], side: 'source' | 'destination', r: OrderedRule): CalicoRule[] {
  const groups = calicoPorts(r.rule.ports);
  return peers.flatMap((peer) =>
    groups.map((g) => {
      const destination: CalicoEntityRule = side === 'destination' ? { ...peer } : {};
      if (g.ports !== undefined) destination.ports = g.ports;
      return {
        action,
        ...(g.protocol === undefined ? {} : { protocol: g.protocol }),
        ...(side === 'source' ? { source: peer } : {}),
        ...(Object.keys(destination).length > 0 ? { destination } : {}),
      };
    }),
  );
}

/** Each rule's `order`: its priority, and thousandths for the rules after the first at one priority of one tier. */
function ruleOrders(prepared: Prepared, cluster: string, problems: Problem[]): Map<OrderedRule, number> {
  const seen = new Map<string, number>();
  const orders = new Map<OrderedRule, number>();
  for (const r of prepared.rules) {
    const at = `${r.policy.tier}/${r.policy.priority}`;
    const k = seen.get(at) ?? 0;
    seen.set(at, k + 1);
    if (k > 999)
      problems.push(
        inexpressible(
          cluster,
          `more than 1000 rules at priority ${r.policy.priority} of the ${r.policy.tier} tier: give them distinct priorities`,
          [r.key],
          r.index,
        ),
      );
    orders.set(r, Number((r.policy.priority + k / 1000).toFixed(3)));
  }
  return orders;
}

/** Every cluster's pod CIDRs: never an external address (as the NetworkPolicy compiler carves them out). */
function inClusterBlocks(world: World): string[] {
  return [...new Set(world.clusters.flatMap((c) => c.podCIDRs))].sort();
}

function planUnits(x: Inputs): Unit[] {
  const { prepared, info } = x;
  const index = prepared.index;
  const orders = ruleOrders(prepared, info.name, x.problems);
  const units: Unit[] = [];
  for (const r of prepared.rules) {
    const tier = r.policy.tier;
    const base = { tier, key: r.key, policy: r.policy, order: orders.get(r) ?? 0 };
    const action = r.rule.action;
    const subjects = localSelectors(r.rule.to, info, index);
    const sources = subjects.length === 0 ? [] : sourcesOf(r, x);
    if (sources.length > 0) {
      const rules = rulesOf(action, sources, 'source', r);
      for (const subject of subjects)
        units.push({ ...base, subject, direction: 'ingress', rules, identity: `${tier}/${r.key}/${r.index}/ingress/${stableJson(subject)}` });
    }
    const cidrs = r.rule.to.flatMap((p) => p.cidrs ?? []);
    if (cidrs.length === 0) continue;
    const rules = rulesOf(action, byFamily(cidrs, x.inCluster), 'destination', r);
    for (const subject of localSelectors(r.rule.from, info, index))
      units.push({ ...base, subject, direction: 'egress', rules, identity: `${tier}/${r.key}/${r.index}/egress/${stableJson(subject)}` });
  }
  for (const tier of TIERS) {
    for (const p of prepared.defaultDenies.get(tier) ?? []) {
      const dd = p.defaultDeny;
      if (dd === undefined || (dd.clusters !== undefined && !matchesSelector(dd.clusters, info.labels))) continue;
      const key = policyKey(p);
      const subject = namespacesNamed(dd.namespaces);
      units.push({
        tier,
        key,
        policy: p,
        order: DEFAULT_DENY_ORDER,
        subject,
        direction: 'ingress',
        rules: [{ action: 'Deny' }],
        identity: `${tier}/${key}/default-deny/${stableJson(subject)}`,
      });
    }
  }
  return units;
}

export function compileCalicoPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  const info = prepared.index.clusters.get(cluster);
  if (info === undefined) return finish([], [inexpressible(cluster, `cluster ${cluster} is not in the world`)]);
  const byIp = new Map<string, Workload[]>();
  for (const w of world.workloads) for (const ip of w.ips) byIp.set(ip, [...(byIp.get(ip) ?? []), w]);
  const problems: Problem[] = [];
  const units = planUnits({ info, prepared, world, inCluster: inClusterBlocks(world), byIp, problems });

  const objects: CompiledObject[] = [];
  for (const tier of TIERS) {
    const mine = units.filter((u) => u.tier === tier);
    if (mine.length === 0) continue;
    const t = CALICO_TIERS[tier];
    const spec: TierSpec = { order: t.order, defaultAction: 'Pass' };
    objects.push({
      apiVersion: CALICO_API_VERSION,
      kind: 'Tier',
      metadata: compiledMetadata(
        t.name,
        mine.map((u) => u.key),
      ),
      spec,
    });
  }
  for (const u of units) {
    const t = CALICO_TIERS[u.tier];
    const spec: GlobalNetworkPolicySpec = {
      tier: t.name,
      order: u.order,
      namespaceSelector: calicoSelector(u.subject.namespaceSelector),
      selector: calicoSelector(u.subject.podSelector),
      types: [u.direction === 'ingress' ? 'Ingress' : 'Egress'],
      ...(u.direction === 'ingress' ? { ingress: [...u.rules] } : { egress: [...u.rules] }),
    };
    // A policy of a tier other than `default` is named `<tier>.<name>` (required by Calico before 3.28, accepted since).
    const name = `${t.name}.${objectName(`causeway-${u.policy.name}`, u.identity)}`;
    objects.push({ apiVersion: CALICO_API_VERSION, kind: 'GlobalNetworkPolicy', metadata: compiledMetadata(name, [u.key]), spec });
  }
  return finish(objects, problems);
}
