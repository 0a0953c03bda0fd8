// GlobalPolicy → AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/
// v1alpha1, the API before ClusterNetworkPolicy) plus NetworkPolicies for the NetworkPolicy tier,
// for one cluster, exact or refused (what goes where: tiered.ts). AdminNetworkPolicy is the admin
// tier (priority 0..1000, actions Allow/Deny/Pass, at most 100 rules per direction and 100 peers
// and ports per rule, ports as `portNumber` / `portRange`); the baseline tier is the one
// BaselineAdminNetworkPolicy named `default`, with one subject and actions Allow/Deny only — a
// baseline Pass ends evaluation with the default allow, so it is written as Allow. Baseline rules
// that do not share one subject are left to the NetworkPolicy tier.
import { isPrepared, prepare, type Prepared } from '../evaluate.ts';
import type { Policy, PortRange, Problem, World } from '../model.ts';
import { selectorPeer, type CnpPeer } from './cluster-network-policy.ts';
import { objectName } from './names.ts';
import { compiledMetadata, finish, inexpressible, type CompileResult, type CompiledObject } from './result.ts';
import { assignPriorities, planTiers, splitRule, type TierUnit, type UnitRule } from './tiered.ts';

export const ANP_API_VERSION = 'policy.networking.k8s.io/v1alpha1';
/** The API admits exactly one BaselineAdminNetworkPolicy, and it must have this name. */
export const BANP_NAME = 'default';
const MAX = 100;
const MAX_NETWORKS = 25;

export type AnpPeer = CnpPeer;
export type AnpPort =
  | { portNumber: { protocol: 'TCP' | 'UDP' | 'SCTP'; port: number } }
  | { portRange: { protocol: 'TCP' | 'UDP' | 'SCTP'; start: number; end: number } }
  | { namedPort: string };
export interface AnpRule {
  name: string;
  action: 'Allow' | 'Deny' | 'Pass';
  from?: AnpPeer[];
  to?: (AnpPeer | { networks: string[] })[];
  ports?: AnpPort[];
}
export interface AdminNetworkPolicySpec {
  priority: number;
  subject: AnpPeer;
  ingress?: AnpRule[];
  egress?: AnpRule[];
}
export interface BaselineAdminNetworkPolicySpec {
  subject: AnpPeer;
  ingress?: AnpRule[];
  egress?: AnpRule[];
}

function ports(list: readonly PortRange[]): AnpPort[] {
  return list.map((p) => {
    const protocol = p.protocol ?? 'TCP';
    const end = p.endPort ?? p.port;
    return end > p.port ? { portRange: { protocol, start: p.port, end } } : { portNumber: { protocol, port: p.port } };
  });
}

function rules(r: UnitRule, baseline: boolean): AnpRule[] {
  const action: AnpRule['action'] = baseline && r.action === 'Pass' ? 'Allow' : r.action;
  return splitRule(r, { peers: MAX, networks: MAX_NETWORKS, ports: MAX }, selectorPeer, ports).map((x) => ({
    name: r.name,
    action,
    ...(r.from !== undefined ? { from: x.peers as AnpPeer[] } : { to: x.peers }),
    ...(x.ports === undefined ? {} : { ports: x.ports }),
  }));
}

function tooMany(u: { key: string; direction: string; rule?: { index: number } | undefined }, count: number, kind: string, cluster: string): Problem {
  return inexpressible(
    cluster,
    `${u.key} needs ${count} ${u.direction} rules in one ${kind} (at most ${MAX}): it names too many peers, ports or CIDRs`,
    [u.key],
    u.rule?.index,
  );
}

function adminObjects(units: readonly TierUnit[], cluster: string, problems: Problem[]): CompiledObject[] {
  if (units.length === 0) return [];
  const assigned = assignPriorities(units, cluster, 'AdminNetworkPolicy');
  if ('problem' in assigned) {
    problems.push(assigned.problem);
    return [];
  }
  return units.map((u) => {
    const list = u.rules.flatMap((r) => rules(r, false));
    if (list.length > MAX) problems.push(tooMany(u, list.length, 'AdminNetworkPolicy', cluster));
    const spec: AdminNetworkPolicySpec = {
      priority: assigned.priorities.get(u) ?? 0,
      subject: selectorPeer(u.subject),
      ...(u.direction === 'ingress' ? { ingress: list } : { egress: list }),
    };
    return {
      apiVersion: ANP_API_VERSION,
      kind: 'AdminNetworkPolicy',
      metadata: compiledMetadata(objectName(`causeway-${u.policy.name}`, u.identity), [u.key]),
      spec,
    };
  });
}

/** The baseline units (one subject, planTiers made sure) as the one BaselineAdminNetworkPolicy. */
function baselineObject(units: readonly TierUnit[], cluster: string, problems: Problem[]): CompiledObject[] {
  const first = units[0];
  if (first === undefined) return [];
  const ingress = units.filter((u) => u.direction === 'ingress').flatMap((u) => u.rules.flatMap((r) => rules(r, true)));
  const egress = units.filter((u) => u.direction === 'egress').flatMap((u) => u.rules.flatMap((r) => rules(r, true)));
  for (const [direction, list] of [
    ['ingress', ingress],
    ['egress', egress],
  ] as const) {
    if (list.length > MAX) problems.push(tooMany({ key: first.key, direction }, list.length, 'BaselineAdminNetworkPolicy', cluster));
  }
  const spec: BaselineAdminNetworkPolicySpec = {
    subject: selectorPeer(first.subject),
    ...(ingress.length > 0 ? { ingress } : {}),
    ...(egress.length > 0 ? { egress } : {}),
  };
  return [
    {
      apiVersion: ANP_API_VERSION,
      kind: 'BaselineAdminNetworkPolicy',
      metadata: compiledMetadata(
        BANP_NAME,
        units.map((u) => u.key),
      ),
      spec,
    },
  ];
}

export function compileAdminNetworkPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  const info = prepared.index.clusters.get(cluster);
  if (info === undefined) return finish([], [inexpressible(cluster, `cluster ${cluster} is not in the world`)]);
  const plan = planTiers(prepared, world, info, { format: 'AdminNetworkPolicy', singleBaseline: true });
  const problems = [...plan.problems];
  const objects = [...adminObjects(plan.admin, cluster, problems), ...baselineObject(plan.baseline, cluster, problems), ...plan.networkPolicies];
  return finish(objects, problems);
}
