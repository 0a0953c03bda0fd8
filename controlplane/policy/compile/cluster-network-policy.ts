// GlobalPolicy → sig-network ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, tiers Admin
// and Baseline) plus NetworkPolicies for the NetworkPolicy tier, for one cluster, exact or refused
// (what goes where: tiered.ts). This file writes the units in the v1alpha2 shape: `subject` and
// peers as `namespaces` or `pods: {namespaceSelector, podSelector}`, actions Accept/Deny/Pass,
// ports as `protocols: [{tcp|udp|sctp: {destinationPort: {number} | {range: {start, end}}}}]`
// (none: every protocol), egress CIDRs as `networks`; at most 25 rules per direction, 25 peers
// and 25 protocols per rule, 25 CIDRs per peer (longer lists are split into consecutive rules of
// the same action, which decide alike).
import type { LabelSelector } from '../../api/labels.ts';
import { isPrepared, prepare, type Prepared } from '../evaluate.ts';
import type { Action, Policy, PortRange, Problem, World } from '../model.ts';
import { objectName } from './names.ts';
import { compiledMetadata, finish, inexpressible, type CompileResult, type CompiledObject } from './result.ts';
import { isEmptySelector, type LocalSelector } from './selectors.ts';
import { assignPriorities, planTiers, splitRule, type TierName, type TierUnit, type UnitRule } from './tiered.ts';

export const CNP_API_VERSION = 'policy.networking.k8s.io/v1alpha2';
const MAX = 25;

export type CnpPeer = { namespaces: LabelSelector } | { pods: { namespaceSelector: LabelSelector; podSelector: LabelSelector } };
export type CnpProtocol =
  { tcp: { destinationPort: CnpPort } } | { udp: { destinationPort: CnpPort } } | { sctp: { destinationPort: CnpPort } } | { destinationNamedPort: string };
export type CnpPort = { number: number } | { range: { start: number; end: number } };
export interface CnpRule {
  name: string;
  action: 'Accept' | 'Deny' | 'Pass';
  from?: CnpPeer[];
  to?: (CnpPeer | { networks: string[] })[];
  protocols?: CnpProtocol[];
}
export interface ClusterNetworkPolicySpec {
  tier: TierName;
  priority: number;
  subject: CnpPeer;
  ingress?: CnpRule[];
  egress?: CnpRule[];
}

/** A subject or peer: every pod of some namespaces is a `namespaces` selector. */
export function selectorPeer(s: LocalSelector): CnpPeer {
  return isEmptySelector(s.podSelector)
    ? { namespaces: s.namespaceSelector }
    : { pods: { namespaceSelector: s.namespaceSelector, podSelector: s.podSelector } };
}

function protocols(ports: readonly PortRange[]): CnpProtocol[] {
  return ports.map((p) => {
    const end = p.endPort ?? p.port;
    const destinationPort: CnpPort = end > p.port ? { range: { start: p.port, end } } : { number: p.port };
    switch (p.protocol ?? 'TCP') {
      case 'TCP':
        return { tcp: { destinationPort } };
      case 'UDP':
        return { udp: { destinationPort } };
      case 'SCTP':
        return { sctp: { destinationPort } };
    }
  });
}

const ACTION: Record<Action, CnpRule['action']> = { Allow: 'Accept', Deny: 'Deny', Pass: 'Pass' };

/** One unit rule as v1alpha2 rules. */
function rules(r: UnitRule): CnpRule[] {
  return splitRule(r, { peers: MAX, networks: MAX, ports: MAX }, selectorPeer, protocols).map(({ peers, ports }) => ({
    name: r.name,
    action: ACTION[r.action],
    ...(r.from !== undefined ? { from: peers as CnpPeer[] } : { to: peers }),
    ...(ports === undefined ? {} : { protocols: ports }),
  }));
}

/** The units of one tier as ClusterNetworkPolicies, or the problem that refuses them. */
function objectsOf(units: readonly TierUnit[], cluster: string, problems: Problem[]): CompiledObject[] {
  if (units.length === 0) return [];
  const assigned = assignPriorities(units, cluster, 'ClusterNetworkPolicy');
  if ('problem' in assigned) {
    problems.push(assigned.problem);
    return [];
  }
  return units.map((u) => {
    const list = u.rules.flatMap(rules);
    if (list.length > MAX) {
      problems.push(
        inexpressible(
          cluster,
          `${u.key} needs ${list.length} ${u.direction} rules in one ClusterNetworkPolicy (at most ${MAX}): it names too many peers, ports or CIDRs`,
          [u.key],
          u.rule?.index,
        ),
      );
    }
    const spec: ClusterNetworkPolicySpec = {
      tier: u.tier,
      priority: assigned.priorities.get(u) ?? 0,
      subject: selectorPeer(u.subject),
      ...(u.direction === 'ingress' ? { ingress: list } : { egress: list }),
    };
    const name = objectName(`causeway-${u.policy.name}`, u.identity);
    return { apiVersion: CNP_API_VERSION, kind: 'ClusterNetworkPolicy', metadata: compiledMetadata(name, [u.key]), spec };
  });
}

export function compileClusterNetworkPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  const info = prepared.index.clusters.get(cluster);
  if (info === undefined) return finish([], [inexpressible(cluster, `cluster ${cluster} is not in the world`)]);
  const plan = planTiers(prepared, world, info, { format: 'ClusterNetworkPolicy', singleBaseline: false });
  const problems = [...plan.problems];
  const objects = [...objectsOf(plan.admin, cluster, problems), ...objectsOf(plan.baseline, cluster, problems), ...plan.networkPolicies];
  return finish(objects, problems);
}
