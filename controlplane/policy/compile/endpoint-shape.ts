// What one cluster's NetworkPolicies read of one cluster's workloads, as a string to compare
// before and after an endpoint change (compile/incremental.ts). Of a remote cluster's pods: the
// classes on the cluster's source keys that a rule targeting it selects (or every class, with
// `remotePeers: podCIDRs`), with the deciding rules whose `from` selects each, whether a pod no
// such rule selects is left to stand for its pod CIDR, and the selected classes' addresses apart.
// Of its own pods: the destination classes and the rules whose `to` selects each, the source
// classes and their deciding rules, and the egress rules that would refuse it. The evaluator never
// reads a workload's address (`cidrs` selects no workload), so equal shapes mean equal decisions,
// and the output differs at most in the addresses of the classes whose addresses differ.
import type { Workload } from '../model.ts';
import { classifyWithFirst, type ClassWithFirst, type CompileContext, type RuleInfo } from './context.ts';
import type { NetworkPolicyFacts } from './network-policy.ts';

export interface RemoteShape {
  readonly sig: string;
  /** Per class key, the addresses of the classes that are sources (none with `remotePeers: podCIDRs`: addresses are not written). */
  readonly ips: ReadonlyMap<string, readonly string[]>;
}

function activeOf(rules: Int32Array, active: ReadonlySet<number>): string {
  let out = '';
  for (let i = 0; i < rules.length; i++) if (active.has(rules[i] as number)) out += `${String(rules[i])},`;
  return out;
}

/** Cluster `cluster`'s view of `home`'s workloads, classified on given keys by `classesOn` (`home` is not `cluster`). */
export function remoteShape(
  ctx: CompileContext,
  facts: NetworkPolicyFacts,
  cluster: string,
  byPodCidrs: boolean,
  home: string,
  classesOn: (keys: readonly string[]) => readonly ClassWithFirst[],
): RemoteShape {
  const ips = new Map<string, readonly string[]>();
  if (facts.keys === undefined) return { sig: '', ips };
  let sig = '';
  let unselected = false;
  for (const { cls, first } of classesOn(facts.keys.src)) {
    const rules = ctx.fromRules(first);
    let selected = byPodCidrs;
    for (let i = 0; !selected && i < rules.length; i++) selected = ctx.targetsCluster(rules[i] as number, cluster);
    if (!selected) {
      unselected = true;
      continue;
    }
    sig += `${cls.key}\u0000${activeOf(rules, facts.active)}\n`;
    if (!byPodCidrs) ips.set(cls.key, cls.ips);
  }
  // Whether a known pod stands for the rest of the pod CIDR matters only where the cluster's own rules reach it.
  if (!byPodCidrs && ctx.openRules(home).some((pos) => ctx.targetsCluster(pos, cluster))) sig += unselected ? '+' : '-';
  return { sig, ips };
}

/** Cluster `cluster`'s view of its own workloads `ws`. */
export function localShape(ctx: CompileContext, facts: NetworkPolicyFacts, ws: readonly Workload[]): string {
  let sig = '';
  if (facts.keys !== undefined) {
    for (const { cls, first } of classifyWithFirst(ws, facts.keys.dst)) sig += `${cls.key}\u0000${Array.from(ctx.toRules(first)).join(',')}\n`;
    sig += '|';
    for (const { cls, first } of classifyWithFirst(ws, facts.keys.src)) sig += `${cls.key}\u0000${activeOf(ctx.fromRules(first), facts.active)}\n`;
  }
  if (ctx.toCidrRules.length > 0) {
    // A Deny or Pass from these pods to external CIDRs refuses the cluster (network-policy.ts).
    const refusing = new Set<number>();
    for (const w of ws) {
      for (const pos of ctx.fromRules(w)) {
        const info = ctx.rules[pos] as RuleInfo;
        if (info.toCidrs && info.rule.rule.action !== 'Allow') refusing.add(pos);
      }
    }
    sig += `|${[...refusing].sort((a, b) => a - b).join(',')}`;
  }
  return sig;
}
