// Compile every cluster once, then keep the result current as endpoints change: the hub's policy
// controller holds a Compilation and, on a workload added, removed, moved or relabelled, asks
// `recompileAfterEndpointChange` for the next one. Only the clusters `affectedBy` names (and the
// endpoint's own, when something targets it) that the change can actually alter are compiled again; every other cluster's result, the
// prepared rule order and the dependency index are reused as they are, which is sound because an
// endpoint change leaves policies, clusters, namespaces and services alone (dependencies.ts says
// which outputs a pod can reach). Any other world change takes a new `compileAll`.
import { cidrContains } from '../../api/cidr.ts';
import { dependencies, type DependencyIndex } from '../dependencies.ts';
import { prepare, type Prepared } from '../evaluate.ts';
import type { ClusterInfo, Policy, Workload, World } from '../model.ts';
import { compileContext, type CompileContext } from './context.ts';
import { compileForCluster, PolicyFormat, type CompileResult } from './index.ts';
import { compileNetworkPoliciesWithFacts, type NetworkPolicyFacts } from './network-policy.ts';

export interface Compilation {
  readonly prepared: Prepared;
  readonly dependencies: DependencyIndex;
  readonly formatOf: (cluster: ClusterInfo) => PolicyFormat;
  /** Per cluster name, in the world's cluster order. */
  readonly results: ReadonlyMap<string, CompileResult>;
  /** Per NetworkPolicy cluster, what its last compile read (undefined: recompile on any change it may see). */
  readonly facts: ReadonlyMap<string, NetworkPolicyFacts>;
}

export interface EndpointChange {
  /** Undefined: the workload is new. */
  readonly before?: Workload | undefined;
  /** Undefined: the workload is gone. */
  readonly after?: Workload | undefined;
}

export interface Recompiled {
  readonly compilation: Compilation;
  /** Clusters compiled again, sorted. */
  readonly recompiled: readonly string[];
  /** Of those, the clusters whose result differs (what the hub must send again), sorted. */
  readonly changed: readonly string[];
}

const NETWORK_POLICY = (): PolicyFormat => PolicyFormat.NetworkPolicy;

function compileOne(
  prepared: Prepared,
  world: World,
  cluster: ClusterInfo,
  format: PolicyFormat,
): { result: CompileResult; facts: NetworkPolicyFacts | undefined } {
  if (format !== PolicyFormat.NetworkPolicy) return { result: compileForCluster(prepared, world, cluster.name, format), facts: undefined };
  const { result, facts } = compileNetworkPoliciesWithFacts(prepared, world, cluster.name);
  // A refused cluster's messages name particular classes: recompile it whenever a change may reach it.
  return { result, facts: result.problems.some((p) => p.severity === 'error') ? undefined : facts };
}

export function compileAll(policies: readonly Policy[], world: World, formatOf: (cluster: ClusterInfo) => PolicyFormat = NETWORK_POLICY): Compilation {
  const prepared = prepare(policies, world);
  const deps = dependencies(prepared, world);
  const results = new Map<string, CompileResult>();
  const facts = new Map<string, NetworkPolicyFacts>();
  for (const c of world.clusters) {
    const r = compileOne(prepared, world, c, formatOf(c));
    results.set(c.name, r.result);
    if (r.facts !== undefined) facts.set(c.name, r.facts);
  }
  return { prepared, dependencies: deps, formatOf, results, facts };
}

/**
 * `world` is the previous world with the change applied (same clusters, namespaces and services).
 * A remote pod reaches cluster C's NetworkPolicies only when a rule that decides something in C
 * selects it, when its cluster has no pod-CIDR stand-in in C (every pod there is selected), when
 * the change adds or removes the last pod no rule selects there, or — with `remotePeers: podCIDRs`
 * — when its cluster has a pod some deciding rule selects or gets its first pod or loses its last. Otherwise it is decided like its
 * cluster's pod CIDR and travels inside it, so C is left alone. Addresses outside their cluster's
 * pod CIDRs or shared with another workload fall back to every cluster `affectedBy` names.
 */
export function recompileAfterEndpointChange(previous: Compilation, world: World, change: EndpointChange): Recompiled {
  const prepared: Prepared = { ...previous.prepared, index: { ...previous.prepared.index, world } };
  const deps: DependencyIndex = { ...previous.dependencies, prepared };
  const before = previous.prepared.index.world;
  const ctx = compileContext(prepared);
  ctx.cover(world.workloads);
  const changed = [change.before, change.after].filter((w): w is Workload => w !== undefined);
  const todo = new Set<string>();
  for (const w of changed) if (deps.targeted.has(w.cluster)) todo.add(w.cluster);
  const byPodCidrs = world.clusters.filter((c) => c.remotePeers === 'podCIDRs').map((c) => c.name);
  const names = world.clusters.map((c) => c.name);
  const selectedIn = (w: Workload, cluster: string): boolean => {
    for (const pos of ctx.fromRules(w)) if (ctx.targetsCluster(pos, cluster)) return true;
    return false;
  };
  const conservative = changed.some((w) => outsidePodCidrs(w, prepared) || sharesAddress(w, before) || sharesAddress(w, world));
  for (const w of changed) {
    const home = w.cluster;
    for (const pos of ctx.fromRules(w)) {
      const info = ctx.rules[pos];
      if (info === undefined) continue;
      for (const c of info.targetsAll ? names : info.targets) {
        if (c === home || todo.has(c)) continue;
        const f = previous.facts.get(c);
        if (conservative || f === undefined || f.active.has(pos) || f.restMissing.has(home) || (byPodCidrs.includes(c) && f.activeRemote.has(home)))
          todo.add(c);
      }
    }
    // Pods no rule selects: in a pod-CIDR cluster they are sources of their own; elsewhere they
    // matter only by whether any is left to stand for its cluster's pod CIDR.
    // (There, a cluster whose pods no deciding rule selects is its pod CIDR as soon as it has a pod.)
    const populated = (ctx.byCluster(before.workloads).get(home)?.length ?? 0) > 0 !== (ctx.byCluster(world.workloads).get(home)?.length ?? 0) > 0;
    for (const c of byPodCidrs) {
      if (c === home || todo.has(c) || !deps.targeted.has(c)) continue;
      const f = previous.facts.get(c);
      if (f === undefined || f.activeRemote.has(home) || populated) todo.add(c);
    }
    const checked = new Set<string>();
    for (const pos of ctx.openRules(home)) {
      const info = ctx.rules[pos];
      if (info === undefined) continue;
      for (const c of info.targetsAll ? names : info.targets) {
        if (c === home || todo.has(c) || checked.has(c)) continue;
        checked.add(c);
        if (selectedIn(w, c)) continue;
        if (anyUnselected(ctx, before, home, c) !== anyUnselected(ctx, world, home, c)) todo.add(c);
      }
    }
  }
  const recompiled = [...todo].sort();
  const results = new Map(previous.results);
  const facts = new Map(previous.facts);
  const differs: string[] = [];
  for (const name of recompiled) {
    const info = prepared.index.clusters.get(name);
    if (info === undefined) continue;
    const r = compileOne(prepared, world, info, previous.formatOf(info));
    if (!sameResult(previous.results.get(name), r.result)) differs.push(name);
    results.set(name, r.result);
    if (r.facts === undefined) facts.delete(name);
    else facts.set(name, r.facts);
  }
  return { compilation: { prepared, dependencies: deps, formatOf: previous.formatOf, results, facts }, recompiled, changed: differs };
}

function outsidePodCidrs(w: Workload, prepared: Prepared): boolean {
  const cidrs = prepared.index.clusters.get(w.cluster)?.podCIDRs ?? [];
  return w.ips.some((ip) => !cidrs.some((c) => cidrContains(c, ip)));
}

function sharesAddress(w: Workload, world: World): boolean {
  const mine = new Set(w.ips);
  return world.workloads.some((o) => o !== w && o.ips.some((ip) => mine.has(ip)));
}

/** Is some pod of `home` selected by no rule targeting `cluster` (so that its pod CIDR stands for them)? */
function anyUnselected(ctx: CompileContext, world: World, home: string, cluster: string): boolean {
  ctx.cover(world.workloads);
  return (ctx.byCluster(world.workloads).get(home) ?? []).some((w) => {
    for (const pos of ctx.fromRules(w)) if (ctx.targetsCluster(pos, cluster)) return false;
    return true;
  });
}

function sameResult(a: CompileResult | undefined, b: CompileResult): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
