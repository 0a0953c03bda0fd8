// GlobalPolicy → Kubernetes NetworkPolicy (networking.k8s.io/v1) for one cluster, exact or
// refused. NetworkPolicy has no Deny and no order: a pod no policy selects allows everything, a
// selected pod allows the union of its policies' rules. So the compiler works per class of local
// destination pods (atoms.ts): it decides every (source class, port interval) with the reference
// evaluator (in bulk, np-decide.ts) and writes down, for each class that is not allowed
// everything, exactly the sources (np-sources.ts) and ports allowed (np-ingress.ts). What the
// format cannot say, it refuses for the whole cluster with a problem. The tiered formats
// (tiered.ts) reuse it for their NetworkPolicy tier, choosing which classes it writes.
import { cidrContains } from '../../api/cidr.ts';
import { defaultDenyCovers, evaluateEndpoints, isPrepared, prepare, type OrderedRule, type Prepared } from '../evaluate.ts';
import { TIERS, type DecidedBy, type Policy, type Problem, type World } from '../model.ts';
import { projectionSelector, type WorkloadClass } from './atoms.ts';
import { compileContext, classifyWithFirst, type CompileContext, type RuleInfo } from './context.ts';
import { decideDestination, has, sourceMask, type Decision } from './np-decide.ts';
import { renderIngress, type NetworkPolicyIngressRule, type NetworkPolicyPeer, type NetworkPolicySpec, type RuleSlot } from './np-ingress.ts';
import { clusterSources, type Src } from './np-sources.ts';
import { compiledMetadata, finish, inexpressible, type CompileResult, type CompiledObject } from './result.ts';
import { objectName } from './names.ts';

export { COMPILED_LABEL, COMPILED_VALUE, NAMESPACE_NAME_LABEL, POLICIES_ANNOTATION } from './result.ts';
export type { CompileResult, CompiledObject } from './result.ts';
export type { NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec } from './np-ingress.ts';

/** What an incremental recompile needs to know about one cluster's compile (compile/incremental.ts). */
export interface NetworkPolicyFacts {
  /** Rules that decide something for a local destination class (their `to` selects it). */
  readonly active: ReadonlySet<number>;
  /** Remote clusters whose pods no rule selects have no pod-CIDR stand-in (every pod there is selected). */
  readonly restMissing: ReadonlySet<string>;
  /** Remote clusters with a pod an active rule's `from` selects. */
  readonly activeRemote: ReadonlySet<string>;
  /** Pod label keys source and destination classes are told apart by; undefined: no workload but the cluster's own changes the output. */
  readonly keys?: { readonly src: readonly string[]; readonly dst: readonly string[] } | undefined;
  /** With `record`: per remote class key, where its addresses are in the objects (compile/address-patch.ts). */
  readonly slots?: ReadonlyMap<string, readonly AddressSlot[]> | undefined;
}

/** A RuleSlot of the object at `object` (in the result's order). */
export type AddressSlot = (RuleSlot & { readonly object: number }) | { readonly kind: 'dropped' };

/** One local destination class, as a caller choosing what to write for it sees it. */
export interface DestinationView {
  readonly cls: WorkloadClass;
  /** Positions (evaluation order) of the rules whose `to` selects the class. */
  readonly rules: ArrayLike<number>;
  /** Per tier, the policy whose default deny covers the class. */
  readonly dd: readonly (Policy | undefined)[];
  /** Does the reference deny some source that is not a pod of this cluster (a remote pod, an external address) at some port? */
  deniesNonLocal(): boolean;
}

/**
 * `exact`: the class's allowed sources (no object when it is allowed everything); `isolated`: the
 * same, and an object admitting everything when it is allowed everything (so that a NetworkPolicy
 * selects it); `none`: no object.
 */
export type DestinationChoice = 'exact' | 'isolated' | 'none';

export interface NetworkPolicyOptions {
  /** `refuse` (default): a Deny or Pass towards external CIDRs from this cluster's pods is refused; `skip`: the caller compiles egress. */
  readonly egress?: 'refuse' | 'skip';
  /** What to write per destination class; default `exact` for every class. */
  readonly choose?: (d: DestinationView) => DestinationChoice;
  /** Record where remote classes' addresses are written (facts.slots), for patching them later. */
  readonly record?: boolean;
}

export function compileNetworkPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  return compileNetworkPoliciesWithFacts(policies, world, cluster).result;
}

const NO_FACTS: NetworkPolicyFacts = { active: new Set(), restMissing: new Set(), activeRemote: new Set() };

export function compileNetworkPoliciesWithFacts(
  policies: readonly Policy[] | Prepared,
  world: World,
  cluster: string,
  options: NetworkPolicyOptions = {},
): { result: CompileResult; facts: NetworkPolicyFacts } {
  const full = isPrepared(policies) ? policies : prepare(policies, world);
  const info = full.index.clusters.get(cluster);
  const problems: Problem[] = [];
  if (info === undefined) return { result: finish([], [inexpressible(cluster, `cluster ${cluster} is not in the world`)]), facts: NO_FACTS };

  const ctx = compileContext(full);
  const ws = world.workloads;
  ctx.cover(ws);
  const local = ctx.byCluster(ws).get(cluster) ?? [];
  const specific = ctx.specific.get(cluster) ?? [];

  // Egress to external addresses is not compiled into NetworkPolicy (yet): refuse where it would matter.
  if (ctx.toCidrRules.length > 0 && options.egress !== 'skip') {
    const external = new Set<number>();
    for (const w of local) for (const pos of ctx.fromRules(w)) if ((ctx.rules[pos] as RuleInfo).toCidrs) external.add(pos);
    for (const pos of [...external].sort((a, b) => a - b)) {
      const r = full.rules[pos] as OrderedRule;
      if (r.rule.action === 'Allow') continue;
      problems.push(
        inexpressible(
          cluster,
          `${r.key} rule ${r.index} ${r.rule.action === 'Deny' ? 'denies' : 'passes'} traffic from ${cluster} to external CIDRs: egress NetworkPolicy is not compiled yet, so ${cluster} cannot enforce it`,
          [r.key],
          r.index,
        ),
      );
    }
  }
  const anyDefaultDeny = [...full.defaultDenies.values()].some((l) => l.length > 0);
  if (ctx.allTargeting.length === 0 && specific.length === 0 && !anyDefaultDeny) return { result: finish([], problems), facts: NO_FACTS };

  const set = clusterSources(full, ctx, world, info);
  const { sources } = set;

  // Local destination classes and the rules that can decide for each (their `to` selects it).
  const dsts = classifyWithFirst(local, set.dstKeys).map(({ cls, first }) => {
    const rules = ctx.toRules(first);
    const dd = TIERS.map((t) => (full.defaultDenies.get(t) ?? []).find((p) => defaultDenyCovers(p, cls.rep, full.index)));
    return { cls, rules, dd };
  });
  // Each needed rule's sources as a bitset, filled in one pass over the sources.
  const { nWords, mask } = sourceMask(sources.length);
  const fromBits = new Map<number, Uint32Array>();
  for (const d of dsts) for (const pos of d.rules) if (!fromBits.has(pos)) fromBits.set(pos, new Uint32Array(nWords));
  const activeRemote = new Set<string>();
  sources.forEach((s, i) => {
    for (let k = 0; k < s.rules.length; k++) {
      const bits = fromBits.get(s.rules[k] as number);
      if (bits === undefined) continue;
      bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31));
      if (s.kind === 'remote' && s.cls !== undefined) activeRemote.add(s.cls.cluster);
    }
  });
  const keys = { src: set.srcKeys, dst: set.dstKeys };
  const bits = { nWords, mask, fromBits };

  const wholeBlock = (cidr: string): NetworkPolicyPeer => sharedBlock(ctx, cidr);
  const podCidrsOf = (c: string): readonly string[] => full.index.clusters.get(c)?.podCIDRs ?? [];
  const outside = new Map<WorkloadClass, readonly string[]>();
  const outsidePodCidrs = (c: WorkloadClass): readonly string[] => {
    let out = outside.get(c);
    if (out === undefined) {
      const cidrs = podCidrsOf(c.cluster);
      out = c.ips.filter((ip) => !cidrs.some((x) => cidrContains(x, ip)));
      outside.set(c, out);
    }
    return out;
  };
  const inputs = { world, cluster, set, podCidrsOf, wholeBlock, regionBlock: (r: Region) => regionBlock(ctx, r), outsidePodCidrs };

  const objects: CompiledObject[] = [];
  const recorded: [string, RuleSlot, number][] = [];
  const record = options.record === true ? (key: string, slot: RuleSlot): void => void recorded.push([key, slot, objects.length]) : undefined;
  for (const dst of dsts) {
    // Nothing decides for a class no rule or default deny selects: it is allowed everything.
    const nothing = dst.rules.length === 0 && dst.dd.every((x) => x === undefined);
    const decided = nothing ? { ports: [], decisions: [] } : decideDestination(full, dst.rules, dst.dd, bits);
    const { ports, decisions } = decided;
    const choice =
      options.choose?.({
        cls: dst.cls,
        rules: dst.rules,
        dd: dst.dd,
        deniesNonLocal: () => decisions.some((d) => !d.full && sources.some((s, i) => s.kind !== 'local' && !has(d.allowed, i))),
      }) ?? 'exact';
    if (choice === 'none') continue;
    const allowedEverything = decisions.every((d) => d.full);
    if (allowedEverything && choice === 'exact') continue;
    let ingress: NetworkPolicyIngressRule[];
    let policies: readonly string[];
    if (allowedEverything) {
      ingress = [{}];
      policies = [...new Set(Array.from(dst.rules, (pos) => (full.rules[pos] as OrderedRule).key))];
    } else {
      const sub: Prepared = { ...full, rules: Array.from(dst.rules, (pos) => full.rules[pos] as OrderedRule) };
      const why = (i: number, j: number): DecidedBy | undefined => {
        const p = ports[j];
        return p === undefined ? undefined : evaluateEndpoints(sub, (sources[i] as Src).rep, dst.cls.rep, p.protocol, p.port).decidedBy;
      };
      ingress = renderIngress(inputs, dst.cls, ports, decisions, why, problems, record);
      policies = decisions.flatMap((d: Decision) => d.policies);
    }
    const podSelector = projectionSelector(dst.cls.labels, set.dstKeys);
    const spec: NetworkPolicySpec = { podSelector, policyTypes: ['Ingress'], ingress };
    const stem = `causeway-${Object.values(dst.cls.labels).join('-') || 'all'}`;
    const name = objectName(stem, `${dst.cls.namespace}/${JSON.stringify(podSelector)}`);
    objects.push({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: compiledMetadata(name, policies, dst.cls.namespace), spec });
  }
  const result = finish(objects, problems);
  const facts: NetworkPolicyFacts = {
    active: new Set(fromBits.keys()),
    restMissing: set.restMissing,
    activeRemote,
    keys,
    slots: record === undefined ? undefined : slotsOf(recorded, objects, result),
  };
  return { result, facts };
}

/** One shared, frozen peer per whole CIDR (it recurs in most objects of most clusters). */
export function sharedBlock(ctx: CompileContext, cidr: string): NetworkPolicyPeer {
  const key = `block\u0000${cidr}`;
  let peer = ctx.memo.get(key) as NetworkPolicyPeer | undefined;
  if (peer === undefined) {
    peer = Object.freeze({ ipBlock: Object.freeze({ cidr }) });
    ctx.memo.set(key, peer);
  }
  return peer;
}

type Region = { readonly cidr: string; readonly except: readonly string[] };

/** One shared, frozen peer per external region: the regions (and their `except` arrays) are memoised per context, so is the peer. */
function regionBlock(ctx: CompileContext, r: Region): NetworkPolicyPeer {
  let peers = ctx.memo.get('region-peers') as WeakMap<readonly string[], NetworkPolicyPeer> | undefined;
  if (peers === undefined) {
    peers = new WeakMap();
    ctx.memo.set('region-peers', peers);
  }
  let peer = peers.get(r.except);
  if (peer?.ipBlock?.cidr !== r.cidr) {
    peer = Object.freeze({
      ipBlock: Object.freeze(r.except.length > 0 ? { cidr: r.cidr, except: Object.freeze([...r.except]) as string[] } : { cidr: r.cidr }),
    });
    peers.set(r.except, peer);
  }
  return peer;
}

/** The recorded slots by class key, with each object's index in the (sorted) result; none for a refusal. */
function slotsOf(
  recorded: readonly [string, RuleSlot, number][],
  written: readonly CompiledObject[],
  result: CompileResult,
): Map<string, AddressSlot[]> | undefined {
  if (result.objects.length !== written.length) return undefined;
  const at = new Map(result.objects.map((o, i) => [o, i]));
  const slots = new Map<string, AddressSlot[]>();
  for (const [key, slot, i] of recorded) {
    const list = slots.get(key) ?? [];
    list.push(slot.kind === 'dropped' ? slot : { ...slot, object: at.get(written[i] as CompiledObject) as number });
    slots.set(key, list);
  }
  return slots;
}
