// Compile every cluster once, then keep the result current as endpoints change: the hub's policy
// controller holds a Compilation and, on a workload added, removed, moved or relabelled, asks
// `recompileAfterEndpointChange` for the next one. An endpoint change leaves policies, clusters,
// namespaces and services alone, so the prepared rule order, the dependency index and the compile
// context are reused. Of the clusters the change may reach (dependencies.ts and the rules below),
// a NetworkPolicy cluster is compared on what it reads of the changed clusters' workloads
// (endpoint-shape.ts): the same shape leaves it as it is, the same shape but other addresses has
// them patched into its objects (address-patch.ts), any other difference compiles it again. Any
// other world change takes a new Compilation.
import { cidrContains } from '../../api/cidr.ts';
import { dependencies, type DependencyIndex } from '../dependencies.ts';
import { prepare, type Prepared } from '../evaluate.ts';
import type { ClusterInfo, Policy, Workload, World } from '../model.ts';
import { patchAddresses, type AddressChange } from './address-patch.ts';
import { project } from './atoms.ts';
import { classifyWithFirst, compileContext, type ClassWithFirst, type CompileContext } from './context.ts';
import { localShape, remoteShape } from './endpoint-shape.ts';
import { compileForCluster, PolicyFormat, type CompileResult } from './index.ts';
import { compileNetworkPoliciesWithFacts, sharedBlock, type NetworkPolicyFacts } from './network-policy.ts';

export interface Compilation {
  readonly prepared: Prepared;
  readonly dependencies: DependencyIndex;
  readonly formatOf: (cluster: ClusterInfo) => PolicyFormat;
  /** Per cluster name; a cluster missing is not compiled yet (`compileCluster` compiles it from the current world). */
  readonly results: ReadonlyMap<string, CompileResult>;
  /** Per NetworkPolicy cluster compiled, what its last compile read and where it wrote remote addresses. */
  readonly facts: ReadonlyMap<string, NetworkPolicyFacts>;
}

export interface EndpointChange {
  /** Undefined: the workload is new. */
  readonly before?: Workload | undefined;
  /** Undefined: the workload is gone. */
  readonly after?: Workload | undefined;
}

export interface RecompileOptions {
  /** Leave the clusters that need a compile out of the result (listed in `stale`), for the caller to `compileCluster` later. */
  readonly defer?: boolean;
}

export interface Recompiled {
  readonly compilation: Compilation;
  /** Clusters compiled again, sorted. */
  readonly recompiled: readonly string[];
  /** Clusters whose objects had addresses patched, sorted. */
  readonly patched: readonly string[];
  /** Of the clusters compiled or patched, those whose result differs (what the hub must send again), sorted. */
  readonly changed: readonly string[];
  /** With `defer`: clusters that need a compile, left out of the results, sorted. */
  readonly stale: readonly string[];
}

const NETWORK_POLICY = (): PolicyFormat => PolicyFormat.NetworkPolicy;

function compileOne(
  prepared: Prepared,
  world: World,
  cluster: ClusterInfo,
  format: PolicyFormat,
): { result: CompileResult; facts: NetworkPolicyFacts | undefined } {
  if (format !== PolicyFormat.NetworkPolicy) return { result: compileForCluster(prepared, world, cluster.name, format), facts: undefined };
  return compileNetworkPoliciesWithFacts(prepared, world, cluster.name, { record: true });
}

/** A Compilation with no cluster compiled yet: prepare and the dependency index only. */
export function startCompilation(policies: readonly Policy[], world: World, formatOf: (cluster: ClusterInfo) => PolicyFormat = NETWORK_POLICY): Compilation {
  const prepared = prepare(policies, world);
  return { prepared, dependencies: dependencies(prepared, world), formatOf, results: new Map(), facts: new Map() };
}

export function compileAll(policies: readonly Policy[], world: World, formatOf: (cluster: ClusterInfo) => PolicyFormat = NETWORK_POLICY): Compilation {
  const start = startCompilation(policies, world, formatOf);
  const results = new Map<string, CompileResult>();
  const facts = new Map<string, NetworkPolicyFacts>();
  for (const c of world.clusters) {
    const r = compileOne(start.prepared, world, c, formatOf(c));
    results.set(c.name, r.result);
    if (r.facts !== undefined) facts.set(c.name, r.facts);
  }
  return { ...start, results, facts };
}

/** The compilation with `cluster` compiled (again) from its current world. */
export function compileCluster(compilation: Compilation, cluster: string): Compilation {
  const info = compilation.prepared.index.clusters.get(cluster);
  if (info === undefined) return compilation;
  const r = compileOne(compilation.prepared, compilation.prepared.index.world, info, compilation.formatOf(info));
  const results = new Map(compilation.results).set(cluster, r.result);
  const facts = new Map(compilation.facts);
  if (r.facts === undefined) facts.delete(cluster);
  else facts.set(cluster, r.facts);
  return { ...compilation, results, facts };
}

function refused(r: CompileResult | undefined): boolean {
  return r === undefined || r.problems.some((p) => p.severity === 'error');
}

/**
 * `world` is the previous world with the change applied (same clusters, namespaces and services).
 * Candidates: a remote pod reaches cluster C's NetworkPolicies only when a rule that decides
 * something in C selects it, when its cluster has no pod-CIDR stand-in in C (every pod there is
 * selected), when the change adds or removes the last pod no rule selects there, or — with
 * `remotePeers: podCIDRs` — when its cluster has a pod some deciding rule selects or gets its
 * first pod or loses its last. Otherwise it is decided like its cluster's pod CIDR and travels
 * inside it, so C is left alone. An address shared with another workload compiles every candidate.
 */
export function recompileAfterEndpointChange(previous: Compilation, world: World, change: EndpointChange, options: RecompileOptions = {}): Recompiled {
  const prepared: Prepared = { ...previous.prepared, index: { ...previous.prepared.index, world } };
  const deps: DependencyIndex = { ...previous.dependencies, prepared };
  const before = previous.prepared.index.world;
  const ctx = compileContext(prepared);
  ctx.cover(before.workloads);
  ctx.cover(world.workloads);
  const changed = [change.before, change.after].filter((w): w is Workload => w !== undefined);
  const shared = changed.some((w) => sharesAddress(w, before) || sharesAddress(w, world));
  const todo = candidates(previous, ctx, before, world, changed, shared);

  const homes = [...new Set(changed.map((w) => w.cluster))];
  // A workload whose addresses alone changed leaves every class where it was: only addresses can differ.
  const move = change.before !== undefined && change.after !== undefined && sameIdentity(change.before, change.after) ? change.after : undefined;
  const was = ctx.byCluster(before.workloads);
  const now = ctx.byCluster(world.workloads);
  // Classes of a home's workloads per key set, shared by the clusters that classify on the same keys.
  const classCache = new Map<string, readonly ClassWithFirst[]>();
  const classesOf = (side: 'was' | 'now', home: string) => (keys: readonly string[]) => {
    const k = `${side}\u0000${home}\u0000${keys.join('\u0000')}`;
    let out = classCache.get(k);
    if (out === undefined) {
      out = classifyWithFirst((side === 'was' ? was : now).get(home) ?? [], keys);
      classCache.set(k, out);
    }
    return out;
  };

  const results = new Map(previous.results);
  const facts = new Map(previous.facts);
  const recompiled: string[] = [];
  const patched: string[] = [];
  const differs: string[] = [];
  const stale: string[] = [];
  for (const name of [...todo].sort()) {
    const info = prepared.index.clusters.get(name);
    const last = previous.results.get(name);
    if (info === undefined || last === undefined) continue;
    const f = previous.facts.get(name);
    const verdict =
      shared || f === undefined
        ? 'compile'
        : move !== undefined
          ? judgeMove(ctx, f, info, move, classesOf, refused(last))
          : judge(ctx, f, info, homes, was, now, classesOf, refused(last));
    if (verdict === 'same') continue;
    if (verdict !== 'compile') {
      const p = patchAddresses(last, f?.slots ?? new Map(), verdict, (cidr) => sharedBlock(ctx, cidr));
      if (p === 'unchanged') continue;
      if (p !== undefined) {
        patched.push(name);
        differs.push(name);
        results.set(name, p);
        continue;
      }
    }
    if (options.defer === true) {
      stale.push(name);
      results.delete(name);
      facts.delete(name);
      continue;
    }
    const r = compileOne(prepared, world, info, previous.formatOf(info));
    recompiled.push(name);
    if (!sameResult(last, r.result)) differs.push(name);
    results.set(name, r.result);
    if (r.facts === undefined) facts.delete(name);
    else facts.set(name, r.facts);
  }
  return { compilation: { prepared, dependencies: deps, formatOf: previous.formatOf, results, facts }, recompiled, patched, changed: differs, stale };
}

/** `same`: the cluster's output is what it was; the address changes to patch in; or `compile`. */
function judge(
  ctx: CompileContext,
  f: NetworkPolicyFacts,
  info: ClusterInfo,
  homes: readonly string[],
  was: ReadonlyMap<string, readonly Workload[]>,
  now: ReadonlyMap<string, readonly Workload[]>,
  classesOf: (side: 'was' | 'now', home: string) => (keys: readonly string[]) => readonly ClassWithFirst[],
  isRefused: boolean,
): 'same' | 'compile' | AddressChange[] {
  const byPodCidrs = info.remotePeers === 'podCIDRs';
  const changes: AddressChange[] = [];
  for (const home of homes) {
    if (home === info.name) {
      // The cluster's own pods are written as selectors, never as addresses.
      if (localShape(ctx, f, was.get(home) ?? []) !== localShape(ctx, f, now.get(home) ?? [])) return 'compile';
      continue;
    }
    const a = remoteShape(ctx, f, info.name, byPodCidrs, home, classesOf('was', home));
    const b = remoteShape(ctx, f, info.name, byPodCidrs, home, classesOf('now', home));
    if (a.sig !== b.sig) return 'compile';
    const podCIDRs = ctx.index.clusters.get(home)?.podCIDRs ?? [];
    for (const [key, ips] of b.ips) {
      const c = addressChange(key, a.ips.get(key) ?? [], ips, podCIDRs);
      if (c === 'compile') return 'compile';
      if (c !== undefined) changes.push(c);
    }
  }
  // A refusal names no address but a shared one (and shared addresses compile): its problems stay.
  if (changes.length === 0 || isRefused) return 'same';
  return f.slots === undefined ? 'compile' : changes;
}

/** judge for a move: its class in the cluster keeps its key, selection and rules; its addresses are written where the class is a source. */
function judgeMove(
  ctx: CompileContext,
  f: NetworkPolicyFacts,
  info: ClusterInfo,
  w: Workload,
  classesOf: (side: 'was' | 'now', home: string) => (keys: readonly string[]) => readonly ClassWithFirst[],
  isRefused: boolean,
): 'same' | 'compile' | AddressChange[] {
  // Its own pods are written as selectors; pod-CIDR peers write no pod address; a refusal names none.
  if (w.cluster === info.name || info.remotePeers === 'podCIDRs' || f.keys === undefined || isRefused) return 'same';
  let selected = false;
  for (const pos of ctx.fromRules(w)) if ((selected = ctx.targetsCluster(pos, info.name))) break;
  if (!selected) return 'same';
  const keys = f.keys.src;
  const key = `${w.cluster}/${w.namespace}/${JSON.stringify(project(w.labels, keys))}`;
  const ipsOf = (side: 'was' | 'now'): readonly string[] => classesOf(side, w.cluster)(keys).find((c) => c.cls.key === key)?.cls.ips ?? [];
  const c = addressChange(key, ipsOf('was'), ipsOf('now'), ctx.index.clusters.get(w.cluster)?.podCIDRs ?? []);
  if (c === undefined) return 'same';
  return c === 'compile' || f.slots === undefined ? 'compile' : [c];
}

/** What changed of one class's addresses; `compile` when an address lies outside its pod CIDRs (those are not recorded). */
function addressChange(key: string, old: readonly string[], ips: readonly string[], podCIDRs: readonly string[]): AddressChange | 'compile' | undefined {
  if (old.length === ips.length && old.every((ip, i) => ip === ips[i])) return undefined;
  const keep = new Set(ips);
  const gone = new Set(old);
  const removed = old.filter((ip) => !keep.has(ip));
  const added = ips.filter((ip) => !gone.has(ip));
  if ([...removed, ...added].some((ip) => !podCIDRs.some((c) => cidrContains(c, ip)))) return 'compile';
  return { key, removed, added };
}

function sameIdentity(a: Workload, b: Workload): boolean {
  if (a.cluster !== b.cluster || a.namespace !== b.namespace) return false;
  const ka = Object.keys(a.labels);
  return ka.length === Object.keys(b.labels).length && ka.every((k) => a.labels[k] === b.labels[k]);
}

/** The clusters an endpoint change may reach (see recompileAfterEndpointChange). */
function candidates(previous: Compilation, ctx: CompileContext, before: World, world: World, changed: readonly Workload[], shared: boolean): Set<string> {
  const prepared = ctx.index === previous.prepared.index ? previous.prepared : { ...previous.prepared, index: ctx.index };
  const deps = previous.dependencies;
  // A refused cluster's messages name particular classes: a candidate whenever a change may reach it.
  const factsMemo = new Map<string, NetworkPolicyFacts | undefined>();
  const factsOf = (c: string): NetworkPolicyFacts | undefined => {
    if (!factsMemo.has(c)) factsMemo.set(c, refused(previous.results.get(c)) ? undefined : previous.facts.get(c));
    return factsMemo.get(c);
  };
  const todo = new Set<string>();
  for (const w of changed) if (deps.targeted.has(w.cluster)) todo.add(w.cluster);
  const byPodCidrs = world.clusters.filter((c) => c.remotePeers === 'podCIDRs').map((c) => c.name);
  const podCidrPeers = new Set(byPodCidrs);
  const names = world.clusters.map((c) => c.name);
  const selectedIn = (w: Workload, cluster: string): boolean => {
    for (const pos of ctx.fromRules(w)) if (ctx.targetsCluster(pos, cluster)) return true;
    return false;
  };
  // An address outside its pod CIDR is written wherever its class is a source; a shared one may be anywhere.
  const outside = shared || changed.some((w) => outsidePodCidrs(w, prepared));
  const looked = new Set<string>();
  for (const w of changed) {
    const home = w.cluster;
    // What follows reads the workload's cluster, namespace and labels: a move is looked at once.
    const sig = `${home}\u0000${w.namespace}\u0000${JSON.stringify(w.labels)}`;
    if (looked.has(sig)) continue;
    looked.add(sig);
    // Per cluster not taken whatever the rule: the rules that decide something there.
    const deciding = new Map<string, ReadonlySet<number>>();
    for (const pos of ctx.fromRules(w)) {
      const info = ctx.rules[pos];
      if (info === undefined) continue;
      for (const c of info.targetsAll ? names : info.targets) {
        if (c === home || todo.has(c)) continue;
        let active = deciding.get(c);
        if (active === undefined) {
          const f = factsOf(c);
          if (outside || f === undefined || f.restMissing.has(home) || (podCidrPeers.has(c) && f.activeRemote.has(home))) {
            todo.add(c);
            continue;
          }
          active = f.active;
          deciding.set(c, active);
        }
        if (active.has(pos)) todo.add(c);
      }
    }
    // Pods no rule selects: in a pod-CIDR cluster they are sources of their own; elsewhere they
    // matter only by whether any is left to stand for its cluster's pod CIDR.
    // (There, a cluster whose pods no deciding rule selects is its pod CIDR as soon as it has a pod.)
    const populated = (ctx.byCluster(before.workloads).get(home)?.length ?? 0) > 0 !== (ctx.byCluster(world.workloads).get(home)?.length ?? 0) > 0;
    for (const c of byPodCidrs) {
      if (c === home || todo.has(c) || !deps.targeted.has(c)) continue;
      const f = factsOf(c);
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
  return todo;
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
  return (ctx.byCluster(world.workloads).get(home) ?? []).some((w) => {
    for (const pos of ctx.fromRules(w)) if (ctx.targetsCluster(pos, cluster)) return false;
    return true;
  });
}

function sameResult(a: CompileResult | undefined, b: CompileResult): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
