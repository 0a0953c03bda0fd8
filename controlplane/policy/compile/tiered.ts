// The shared core of the formats with an admin tier, the NetworkPolicy tier and a baseline tier
// (sig-network ClusterNetworkPolicy v1alpha2 and AdminNetworkPolicy/BaselineAdminNetworkPolicy
// v1alpha1), exact or refused. Per destination pod, such a cluster evaluates: admin objects by
// priority, then rule order, first match (Accept/Allow, Deny, or Pass to the next tier); then, if
// a NetworkPolicy selects the pod, the NetworkPolicies decide (union of what they allow, the rest
// denied); else baseline objects, first match; else allowed. Their peers name this cluster's pods
// and namespaces only (egress also `networks`): they cannot name another cluster's pods or an
// external source at ingress.
//
// So: each platform rule becomes admin objects (one per local `to` subject, its local `from`
// peers, its ports, its action; a platform default deny a Deny from every pod, after every rule),
// each baseline rule baseline objects — exact for this cluster's sources by construction, as the
// tiers and first-match order are the evaluator's. Every destination class the NetworkPolicy tier
// must decide gets the NetworkPolicy compiler's object for it, which admits exactly what the
// evaluator allows from every source: a class a tenant rule or default deny selects (tenant →
// NetworkPolicy), and a class where the evaluator denies some remote or external source (only an
// ipBlock can say so). Sources the admin tier decides never reach it; those that do are decided
// there as by the evaluator's later tiers. A class no NetworkPolicy selects is decided by the
// baseline objects, or allowed. Egress towards external CIDRs (`to: cidrs`) becomes egress rules
// to `networks`, each object first passing pod destinations on (a pod's ingress decides those).
import { matchesSelector } from '../../api/labels.ts';
import { comparePolicies, type OrderedRule, type Prepared } from '../evaluate.ts';
import { policyKey, type Action, type ClusterInfo, type Policy, type PortRange, type Problem, type World } from '../model.ts';
import { rulesMayOverlap } from '../validate-set.ts';
import { compileNetworkPoliciesWithFacts, type DestinationChoice, type DestinationView } from './network-policy.ts';
import { inexpressible, type CompiledObject } from './result.ts';
import { ALL_PODS, localSelectors, namespacesNamed, type LocalSelector } from './selectors.ts';
import { stableJson } from './names.ts';

export type TierName = 'Admin' | 'Baseline';

export interface UnitRule {
  readonly name: string;
  readonly action: Action;
  /** Ingress: the sources. */
  readonly from?: readonly LocalSelector[];
  /** Egress: destination pods of this cluster and destination CIDRs. */
  readonly toPods?: readonly LocalSelector[];
  readonly toNetworks?: readonly string[];
  /** Undefined: every port of every protocol. */
  readonly ports?: readonly PortRange[] | undefined;
}

/** One object to write: a rule (or a default deny) of one policy for one subject, in one direction. */
export interface TierUnit {
  readonly tier: TierName;
  readonly policy: Policy;
  readonly key: string;
  /** The rule, or undefined for a default deny. */
  readonly rule: OrderedRule | undefined;
  readonly subject: LocalSelector;
  readonly direction: 'ingress' | 'egress';
  readonly rules: readonly UnitRule[];
  /** A stable identity to hash the object's name from. */
  readonly identity: string;
}

export interface TieredPlan {
  /** Admin and baseline units, each in evaluation order. */
  readonly admin: readonly TierUnit[];
  readonly baseline: readonly TierUnit[];
  /** The NetworkPolicy tier's objects. */
  readonly networkPolicies: readonly CompiledObject[];
  /** Errors refuse the cluster. */
  readonly problems: readonly Problem[];
}

export interface TieredOptions {
  /** The format's name, for messages. */
  readonly format: string;
  /**
   * The baseline tier is one object with one subject (BaselineAdminNetworkPolicy): when the
   * baseline rules do not share one, the classes they select are decided in the NetworkPolicy tier.
   */
  readonly singleBaseline: boolean;
}

const TIER_OF = { platform: 'Admin', baseline: 'Baseline' } as const;

export function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out.length === 0 ? [[]] : out;
}

/** A format's limits on one rule: peers per rule, CIDRs per `networks` peer, port entries per rule. */
export interface RuleLimits {
  readonly peers: number;
  readonly networks: number;
  readonly ports: number;
}

/**
 * A unit rule as the rules a format can hold: its peers (`from`, or `to` pods then `networks`
 * chunks) and port entries split where a list is longer than the format takes. The pieces are
 * consecutive rules of one action, so they decide as the one rule does.
 */
export function splitRule<Peer, Port>(
  r: UnitRule,
  limits: RuleLimits,
  peer: (s: LocalSelector) => Peer,
  ports: (p: readonly PortRange[]) => Port[],
): { peers: (Peer | { networks: string[] })[]; ports: Port[] | undefined }[] {
  const peers: (Peer | { networks: string[] })[] =
    r.from !== undefined
      ? r.from.map(peer)
      : [...(r.toPods ?? []).map(peer), ...chunks(r.toNetworks ?? [], limits.networks).flatMap((networks) => (networks.length > 0 ? [{ networks }] : []))];
  const portGroups = r.ports === undefined ? [undefined] : chunks(ports(r.ports), limits.ports);
  return chunks(peers, limits.peers).flatMap((group) => portGroups.map((p) => ({ peers: group, ports: p })));
}

/** Egress objects first pass traffic to pods on: those flows are decided at the destination pod's ingress. */
function passPods(world: World): UnitRule {
  return {
    name: 'pods: decided at their ingress',
    action: 'Pass',
    toPods: [ALL_PODS],
    toNetworks: [...new Set(world.clusters.flatMap((c) => c.podCIDRs))].sort(),
  };
}

const ruleName = (r: OrderedRule): string => `${r.key} rule ${r.index}`.slice(0, 100);

export function planTiers(prepared: Prepared, world: World, info: ClusterInfo, options: TieredOptions): TieredPlan {
  const cluster = info.name;
  const index = prepared.index;
  const problems: Problem[] = [];
  const units: Record<TierName, TierUnit[]> = { Admin: [], Baseline: [] };
  /** Tenant and baseline rules towards external CIDRs with sources here, for the egress check below. */
  const egressOf: Record<'tenant' | 'baseline', OrderedRule[]> = { tenant: [], baseline: [] };

  for (const r of prepared.rules) {
    const from = localSelectors(r.rule.from, info, index);
    if (from.length === 0) continue; // no source here: remote and external sources are the NetworkPolicy tier's
    const networks = [...new Set(r.rule.to.flatMap((p) => p.cidrs ?? []))].sort();
    const tierName = r.policy.tier === 'tenant' ? undefined : TIER_OF[r.policy.tier];
    if (networks.length > 0 && r.policy.tier !== 'platform') egressOf[r.policy.tier].push(r);
    if (tierName === undefined) continue;
    const base = { tier: tierName, policy: r.policy, key: r.key, rule: r };
    for (const subject of localSelectors(r.rule.to, info, index)) {
      units[tierName].push({
        ...base,
        subject,
        direction: 'ingress',
        rules: [{ name: ruleName(r), action: r.rule.action, from, ports: r.rule.ports }],
        identity: `${tierName}/${r.key}/${r.index}/ingress/${stableJson(subject)}`,
      });
    }
    if (networks.length > 0) {
      for (const subject of from) {
        units[tierName].push({
          ...base,
          subject,
          direction: 'egress',
          rules: [passPods(world), { name: ruleName(r), action: r.rule.action, toNetworks: networks, ports: r.rule.ports }],
          identity: `${tierName}/${r.key}/${r.index}/egress/${stableJson(subject)}`,
        });
      }
    }
  }
  // Default denies come after every rule of their tier.
  for (const [tier, tierName] of [
    ['platform', 'Admin'],
    ['baseline', 'Baseline'],
  ] as const) {
    for (const p of prepared.defaultDenies.get(tier) ?? []) {
      const dd = p.defaultDeny;
      if (dd === undefined || !coversCluster(p, info)) continue;
      const subject = namespacesNamed(dd.namespaces);
      const key = policyKey(p);
      units[tierName].push({
        tier: tierName,
        policy: p,
        key,
        rule: undefined,
        subject,
        direction: 'ingress',
        rules: [{ name: `${key} default deny`.slice(0, 100), action: 'Deny', from: [ALL_PODS] }],
        identity: `${tierName}/${key}/default-deny/${stableJson(subject)}`,
      });
    }
  }

  // The egress tiers the objects have are admin and baseline: a tenant rule towards external CIDRs
  // would be a NetworkPolicy egress rule, which is not compiled. A tenant Pass changes nothing (the
  // baseline decides next either way), a tenant Allow nothing unless a baseline Deny could follow.
  for (const t of egressOf.tenant) {
    const later = egressOf.baseline.find((b) => b.rule.action === 'Deny' && rulesMayOverlap(t, b));
    if (t.rule.action === 'Pass' || (t.rule.action === 'Allow' && later === undefined)) continue;
    problems.push(
      inexpressible(
        cluster,
        t.rule.action === 'Deny'
          ? `${t.key} rule ${t.index} denies traffic from ${cluster} to external CIDRs in the tenant tier: ${options.format} has no tenant egress tier and egress NetworkPolicy is not compiled yet; make it a platform or baseline policy`
          : `${t.key} rule ${t.index} allows traffic from ${cluster} to external CIDRs in the tenant tier before ${later?.key ?? ''} rule ${String(later?.index)} denies it in the baseline: ${options.format} has no tenant egress tier and egress NetworkPolicy is not compiled yet`,
        [t.key, ...(later === undefined ? [] : [later.key])],
        t.index,
      ),
    );
  }

  // One baseline object with one subject: the baseline units must share it.
  let baselineToNp = false;
  if (options.singleBaseline && new Set(units.Baseline.map((u) => stableJson(u.subject))).size > 1) {
    const egress = units.Baseline.filter((u) => u.direction === 'egress');
    if (new Set(egress.map((u) => stableJson(u.subject))).size > 1) {
      const [a, b] = egress;
      problems.push(
        inexpressible(
          cluster,
          `${a?.key ?? ''} and ${b?.key ?? ''} are baseline rules towards external CIDRs from different pods of ${cluster}: the one BaselineAdminNetworkPolicy has one subject`,
          egress.map((u) => u.key),
        ),
      );
    }
    baselineToNp = true;
    units.Baseline = egress;
  }

  // The NetworkPolicy tier: the classes it must decide, exactly as the evaluator does.
  const baselineRule = (v: DestinationView): boolean =>
    v.dd[2] !== undefined || Array.from(v.rules).some((pos) => prepared.rules[pos]?.policy.tier === 'baseline');
  const choose = (v: DestinationView): DestinationChoice => {
    const tenant = v.dd[1] !== undefined || Array.from(v.rules).some((pos) => prepared.rules[pos]?.policy.tier === 'tenant');
    if (!tenant && !(baselineToNp && baselineRule(v)) && !v.deniesNonLocal()) return 'none';
    // A NetworkPolicy must select the class even where it allows everything, or the baseline objects would decide it.
    return !baselineToNp && baselineRule(v) ? 'isolated' : 'exact';
  };
  const np = compileNetworkPoliciesWithFacts(prepared, world, cluster, { egress: 'skip', choose }).result;
  problems.push(...np.problems);
  return { admin: units.Admin, baseline: units.Baseline, networkPolicies: np.objects, problems };
}

function coversCluster(p: Policy, info: ClusterInfo): boolean {
  const sel = p.defaultDeny?.clusters;
  return sel === undefined || matchesSelector(sel, info.labels);
}

/**
 * Each unit's priority in its tier (0..1000, lower first): the policy's own priority, default
 * denies at 1000, when that keeps the evaluator's order — no default deny needs a slot after a
 * rule at 1000, and no two policies at one priority could match one flow with different actions
 * (their order would be the implementation's). Else each policy its rank in evaluation order,
 * default denies last; refused when a tier has more than 1001 of them.
 */
export function assignPriorities(units: readonly TierUnit[], cluster: string, format: string): { priorities: Map<TierUnit, number> } | { problem: Problem } {
  const rules = units.filter((u) => u.rule !== undefined);
  const dds = units.filter((u) => u.rule === undefined);
  let own = dds.length === 0 || rules.every((u) => u.policy.priority < 1000);
  for (let i = 0; own && i < rules.length; i++) {
    const a = rules[i] as TierUnit;
    for (let j = i + 1; j < rules.length; j++) {
      const b = rules[j] as TierUnit;
      if (b.policy.priority !== a.policy.priority) break;
      if (b.key === a.key || a.rule === undefined || b.rule === undefined || a.rule.rule.action === b.rule.rule.action) continue;
      if (rulesMayOverlap(a.rule, b.rule)) {
        own = false;
        break;
      }
    }
  }
  const priorities = new Map<TierUnit, number>();
  if (own) {
    for (const u of rules) priorities.set(u, u.policy.priority);
    for (const u of dds) priorities.set(u, 1000);
    return { priorities };
  }
  const policies = [...new Map(rules.map((u) => [u.key, u.policy])).values()].sort(comparePolicies).map(policyKey);
  const rank = new Map(policies.map((k, i) => [k, i]));
  const last = policies.length + (dds.length > 0 ? 1 : 0);
  if (last > 1001) {
    return {
      problem: inexpressible(
        cluster,
        `${units[0]?.tier ?? ''} tier of ${cluster}: ${policies.length} policies at priorities that ${format} cannot order (1001 priorities: 0..1000); give them distinct priorities`,
        policies.slice(0, 10),
      ),
    };
  }
  for (const u of rules) priorities.set(u, rank.get(u.key) ?? 0);
  for (const u of dds) priorities.set(u, policies.length);
  return { priorities };
}
