// GlobalPolicy → Kubernetes NetworkPolicy (networking.k8s.io/v1) for one cluster, exact or
// refused. NetworkPolicy has no Deny and no order: a pod no policy selects allows everything, a
// selected pod allows the union of its policies' rules. So the compiler works per class of local
// destination pods (atoms.ts): it decides every (source class, port interval) with the reference
// evaluator and writes down, for each class that is not allowed everything, exactly the sources and
// ports allowed. Local sources become namespace + pod selectors, remote pods their current
// addresses as /32 (/128) blocks (or their clusters' pod CIDRs where the cluster asks), external
// addresses ipBlocks. What the format cannot say, it refuses for the whole cluster with a problem.
import { cidrContains } from '../../api/cidr.ts';
import type { LabelSelector } from '../../api/labels.ts';
import { defaultDenyCovers, evaluateEndpoints, isPrepared, peerMatches, portsMatch, prepare, type OrderedRule, type Prepared } from '../evaluate.ts';
import { ProblemCode, TIERS, policyKey, type DecidedBy, type Policy, type Problem, type Workload, type World } from '../model.ts';
import { externalRegions, podKeys, portAtoms, projectionSelector, type ExternalRegion, type PortAtom, type WorkloadClass } from './atoms.ts';
import { classifyWithFirst, compileContext, type RuleInfo } from './context.ts';
import { objectName } from './names.ts';

export const COMPILED_LABEL = 'causeway.dev/compiled-from';
export const COMPILED_VALUE = 'globalpolicy';
/** The policies whose rules shaped the object, `namespace/name` comma-separated. */
export const POLICIES_ANNOTATION = 'causeway.dev/policies';
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface CompiledObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly spec: unknown;
}

export interface CompileResult {
  /** Sorted by kind, namespace and name; empty whenever a problem is an error (refused). */
  readonly objects: readonly CompiledObject[];
  readonly problems: readonly Problem[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyPort {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port?: number;
  endPort?: number;
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: ['Ingress'];
  ingress: { from: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
}

interface Source {
  /** `remote-rest`: a remote cluster's pods that no `from` peer here selects, decided alike, as its pod CIDRs. */
  readonly kind: 'local' | 'remote' | 'remote-rest' | 'external';
  readonly cluster?: string;
  readonly cls?: WorkloadClass;
  readonly peerCidr?: { cidr: string; except: readonly string[] };
  readonly rep: WorkloadClass['rep'];
  readonly label: string;
}

function hostBlock(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

function describeDecision(d: DecidedBy | undefined): string {
  return d === undefined ? 'no rule (allowed by default)' : `${d.policy} rule ${String(d.rule)} (${d.tier})`;
}

/** Adjacent intervals of one protocol merged, `port`/`endPort` as NetworkPolicy writes them. */
function toPorts(atoms: readonly PortAtom[]): NetworkPolicyPort[] | undefined {
  const merged: PortAtom[] = [];
  for (const a of atoms) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.protocol === a.protocol && last.endPort + 1 === a.port) merged[merged.length - 1] = { ...last, endPort: a.endPort };
    else merged.push(a);
  }
  const protocolsWhole = merged.filter((m) => m.port === 1 && m.endPort === 65_535);
  if (protocolsWhole.length === 3) return undefined;
  return merged.map((m) =>
    m.port === 1 && m.endPort === 65_535
      ? { protocol: m.protocol }
      : m.port === m.endPort
        ? { protocol: m.protocol, port: m.port }
        : { protocol: m.protocol, port: m.port, endPort: m.endPort },
  );
}

interface Src extends Omit<Source, 'label'> {
  /** Positions of the rules whose `from` selects the source's representative. */
  readonly rules: ArrayLike<number>;
}

/** How problems name a source (built only for messages). */
function labelOf(s: Src): string {
  if (s.kind === 'remote-rest') return `${s.cluster ?? ''}/(pods no rule selects)`;
  if (s.kind === 'external') return s.peerCidr?.cidr ?? '';
  const c = s.cls as WorkloadClass;
  return s.kind === 'local' ? `${c.namespace}/${JSON.stringify(c.labels)}` : `${c.cluster}/${c.namespace}/${JSON.stringify(c.labels)}`;
}

/** What an incremental recompile needs to know about one cluster's compile (compile/incremental.ts). */
export interface NetworkPolicyFacts {
  /** Rules that decide something for a local destination class (their `to` selects it). */
  readonly active: ReadonlySet<number>;
  /** Remote clusters whose pods no rule selects have no pod-CIDR stand-in (every pod there is selected). */
  readonly restMissing: ReadonlySet<string>;
  /** Remote clusters with a pod an active rule's `from` selects. */
  readonly activeRemote: ReadonlySet<string>;
}

const WORD = 32;

/** Bit i set: source i. */
function has(bits: Uint32Array, i: number): boolean {
  return ((bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
}

interface Decision {
  readonly allowed: Uint32Array;
  readonly full: boolean;
  readonly policies: readonly string[];
  sig?: string;
}

export function compileNetworkPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  return compileNetworkPoliciesWithFacts(policies, world, cluster).result;
}

const NO_FACTS: NetworkPolicyFacts = { active: new Set(), restMissing: new Set(), activeRemote: new Set() };

export function compileNetworkPoliciesWithFacts(
  policies: readonly Policy[] | Prepared,
  world: World,
  cluster: string,
): { result: CompileResult; facts: NetworkPolicyFacts } {
  const full = isPrepared(policies) ? policies : prepare(policies, world);
  const info = full.index.clusters.get(cluster);
  const problems: Problem[] = [];
  if (info === undefined) {
    return {
      result: { objects: [], problems: [{ severity: 'error', code: ProblemCode.Inexpressible, cluster, message: `cluster ${cluster} is not in the world` }] },
      facts: NO_FACTS,
    };
  }

  const ctx = compileContext(full);
  const ws = world.workloads;
  ctx.cover(ws);
  const byCluster = ctx.byCluster(ws);
  const local = byCluster.get(cluster) ?? [];
  const specific = ctx.specific.get(cluster) ?? [];
  const targets = (pos: number): boolean => ctx.targetsCluster(pos, cluster);

  // Egress to external addresses is not compiled into NetworkPolicy (yet): refuse where it would matter.
  if (ctx.toCidrRules.length > 0) {
    const external = new Set<number>();
    for (const w of local) for (const pos of ctx.fromRules(w)) if ((ctx.rules[pos] as RuleInfo).toCidrs) external.add(pos);
    for (const pos of [...external].sort((a, b) => a - b)) {
      const r = full.rules[pos] as OrderedRule;
      if (r.rule.action === 'Allow') continue;
      problems.push({
        severity: 'error',
        code: ProblemCode.Inexpressible,
        cluster,
        policies: [r.key],
        rule: r.index,
        message: `${r.key} rule ${r.index} ${r.rule.action === 'Deny' ? 'denies' : 'passes'} traffic from ${cluster} to external CIDRs: egress NetworkPolicy is not compiled yet, so ${cluster} cannot enforce it`,
      });
    }
  }
  const anyDefaultDeny = [...full.defaultDenies.values()].some((l) => l.length > 0);
  if (ctx.allTargeting.length === 0 && specific.length === 0 && !anyDefaultDeny) return { result: { objects: [], problems }, facts: NO_FACTS };

  // The keys and CIDRs of every rule that targets this cluster (rules targeting all clusters are pre-merged).
  const dstKeySet = new Set(ctx.allToKeys);
  const srcKeySet = new Set(ctx.allFromKeys);
  const named = [...ctx.allCidrs];
  for (const pos of specific) {
    const ri = ctx.rules[pos] as RuleInfo;
    for (const k of ri.fromKeys) srcKeySet.add(k);
    for (const k of ri.toKeys ?? podKeys(ri.rule.rule.to, full.index, cluster)) dstKeySet.add(k);
    named.push(...ri.fromCidrs);
  }
  for (const pos of ctx.allPerClusterKeys) {
    const ri = ctx.rules[pos] as RuleInfo;
    for (const k of podKeys(ri.rule.rule.to, full.index, cluster)) dstKeySet.add(k);
  }
  const dstKeys = [...dstKeySet].sort();
  const srcKeys = [...srcKeySet].sort();

  const byPodCidrs = info.remotePeers === 'podCIDRs';
  // Remote pods no `from` peer selects are decided alike (by the rules' absence), so they travel as
  // their cluster's pod CIDRs and the output depends only on the addresses of pods rules select:
  // an endpoint change elsewhere leaves this cluster's objects alone (dependencies.ts). Members of
  // one class are selected alike (the class keys are every key a targeting `from` peer reads).
  const selected = (w: Workload): boolean => {
    for (const pos of ctx.fromRules(w)) if (targets(pos)) return true;
    return false;
  };
  const classes = ctx.classes(ws, srcKeys);
  const sources: Src[] = [];
  const restMissing = new Set<string>();
  for (const { cls, first } of classes) {
    if (cls.cluster === cluster) sources.push({ kind: 'local', cls, rep: cls.rep, rules: ctx.fromRules(first) });
  }
  const remoteByCluster = new Map<string, number[]>();
  for (const { cls, first } of classes) {
    if (cls.cluster === cluster || !(byPodCidrs || selected(first))) continue;
    const list = remoteByCluster.get(cls.cluster) ?? [];
    list.push(sources.length);
    remoteByCluster.set(cls.cluster, list);
    sources.push({ kind: 'remote', cls, rep: cls.rep, rules: ctx.fromRules(first) });
  }
  if (!byPodCidrs) {
    for (const c of world.clusters) {
      if (c.name === cluster) continue;
      const open = ctx.openRules(c.name);
      if (!open.some(targets)) {
        sources.push({ kind: 'remote-rest', cluster: c.name, rep: { kind: 'workload', cluster: c.name, namespace: '~', labels: {} }, rules: open });
        continue;
      }
      const known = (byCluster.get(c.name) ?? []).find((w) => !selected(w));
      if (known === undefined) {
        // Every known pod there is selected, or none is known yet: the rest of its pod CIDR is pods
        // this hub has not heard of (not reported yet, or started since). They get exactly what a
        // pod no label or namespace rule selects gets — the rules on the cluster alone —, never the
        // default allow: unknown pods fail closed, they are never let through by omission.
        restMissing.add(c.name);
        sources.push({ kind: 'remote-rest', cluster: c.name, rep: { kind: 'workload', cluster: c.name, namespace: '~', labels: {} }, rules: open });
        continue;
      }
      sources.push({
        kind: 'remote-rest',
        cluster: c.name,
        rep: { kind: 'workload', cluster: c.name, namespace: known.namespace, labels: known.labels },
        rules: ctx.fromRules(known),
      });
    }
  }
  const allCidrs = world.clusters.flatMap((c) => c.podCIDRs);
  const regionKey = `regions\u0000${[...new Set(named)].sort().join(',')}\u0000${allCidrs.join(',')}`;
  let regions = ctx.memo.get(regionKey) as ExternalRegion[] | undefined;
  if (regions === undefined) {
    regions = externalRegions(named, allCidrs);
    ctx.memo.set(regionKey, regions);
  }
  for (const r of regions) {
    const rules = ctx.cidrFromRules.filter((pos) => targets(pos) && (full.rules[pos] as OrderedRule).rule.from.some((p) => peerMatches(p, r.rep, full.index)));
    sources.push({ kind: 'external', peerCidr: { cidr: r.cidr, except: r.except }, rep: r.rep, rules });
  }

  // Local destination classes and the rules that can decide for each (their `to` selects it).
  const dsts = classifyWithFirst(local, dstKeys).map(({ cls, first }) => {
    const rules = ctx.toRules(first);
    const dd = TIERS.map((t) => (full.defaultDenies.get(t) ?? []).find((p) => defaultDenyCovers(p, cls.rep, full.index)));
    return { cls, rules, dd };
  });
  // Each needed rule's sources as a bitset, filled in one pass over the sources.
  const nWords = Math.ceil(sources.length / WORD);
  const mask = new Uint32Array(nWords).fill(0xffffffff);
  if (sources.length % WORD !== 0) mask[nWords - 1] = (1 << (sources.length % WORD)) - 1;
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
  const facts: NetworkPolicyFacts = { active: new Set(fromBits.keys()), restMissing, activeRemote };

  // A remote cluster's whole pod CIDR recurs in most objects of most clusters: one shared (never
  // mutated) peer per CIDR keeps a full compile's output from growing with clusters².
  const wholeBlock = (cidr: string): NetworkPolicyPeer => {
    const key = `block\u0000${cidr}`;
    let peer = ctx.memo.get(key) as NetworkPolicyPeer | undefined;
    if (peer === undefined) {
      peer = Object.freeze({ ipBlock: Object.freeze({ cidr }) });
      ctx.memo.set(key, peer);
    }
    return peer;
  };
  const outside = new Map<WorkloadClass, readonly string[]>();
  const outsidePodCidrs = (c: WorkloadClass): readonly string[] => {
    let out = outside.get(c);
    if (out === undefined) {
      const cidrs = full.index.clusters.get(c.cluster)?.podCIDRs ?? [];
      out = c.ips.filter((ip) => !cidrs.some((x) => cidrContains(x, ip)));
      outside.set(c, out);
    }
    return out;
  };
  const objects: { ns: string; name: string; obj: CompiledObject }[] = [];
  for (const dst of dsts) {
    if (dst.rules.length === 0 && dst.dd.every((x) => x === undefined)) continue; // nothing decides for it: allowed everything
    const ruleList = [...dst.rules].map((pos) => full.rules[pos] as OrderedRule);
    const ports = portAtoms(ruleList.map((r) => r.rule));
    // Ports that the same rules cover are decided alike: decide each rule subset once, every source at a time.
    const bySubset = new Map<string, Decision>();
    const decisions: Decision[] = ports.map((p) => {
      const subset: number[] = [];
      for (const pos of dst.rules) if (portsMatch((full.rules[pos] as OrderedRule).rule.ports, p.protocol, p.port)) subset.push(pos);
      const sig = subset.join(',');
      let d = bySubset.get(sig);
      if (d === undefined) {
        d = decide(full, subset, fromBits, dst.dd, nWords, mask);
        bySubset.set(sig, d);
      }
      return d;
    });
    if (decisions.every((d) => d.full)) continue;
    const decided = new Set(decisions.flatMap((d) => d.policies));
    const sub: Prepared = { ...full, rules: ruleList };
    const why = (i: number, j: number): DecidedBy | undefined => {
      const p = ports[j] as PortAtom;
      return evaluateEndpoints(sub, (sources[i] as Src).rep, dst.cls.rep, p.protocol, p.port).decidedBy;
    };

    // Port intervals with the same allowed sources share one ingress rule.
    const groups = new Map<string, { sources: number[]; bits: Uint32Array; ports: PortAtom[]; first: number }>();
    ports.forEach((p, j) => {
      const d = decisions[j] as Decision;
      d.sig ??= Array.from(d.allowed).join(',');
      let g = groups.get(d.sig);
      if (g === undefined) {
        const idx: number[] = [];
        for (let i = 0; i < sources.length; i++) if (has(d.allowed, i)) idx.push(i);
        g = { sources: idx, bits: d.allowed, ports: [], first: j };
        groups.set(d.sig, g);
      }
      g.ports.push(p);
    });

    const ingress: NetworkPolicySpec['ingress'] = [];
    for (const g of groups.values()) {
      if (g.sources.length === 0) continue;
      const from: NetworkPolicyPeer[] = [];
      const blocks = new Set<string>();
      const inGroup = (i: number): boolean => has(g.bits, i);
      const restIn = new Set(g.sources.flatMap((i) => (sources[i]?.kind === 'remote-rest' ? [sources[i].cluster] : [])));
      for (const i of g.sources) {
        const s = sources[i] as Src;
        if (s.kind === 'remote-rest' && s.cluster !== undefined) {
          const except = (remoteByCluster.get(s.cluster) ?? []).flatMap((k) => (inGroup(k) ? [] : ((sources[k] as Src).cls?.ips ?? []).map(hostBlock))).sort();
          const podCIDRs = full.index.clusters.get(s.cluster)?.podCIDRs ?? [];
          for (const cidr of podCIDRs) {
            const inside = podCIDRs.length === 1 && except.length === 0 ? except : except.filter((e) => cidrContains(cidr, e));
            from.push(inside.length > 0 ? { ipBlock: { cidr, except: inside } } : wholeBlock(cidr));
          }
          continue;
        }
        if (s.kind === 'remote' && s.cls !== undefined && restIn.has(s.cls.cluster)) {
          // Covered by the cluster's pod CIDR block, unless the address lies outside it.
          for (const ip of outsidePodCidrs(s.cls)) blocks.add(hostBlock(ip));
          continue;
        }
        if (s.kind === 'local' && s.cls !== undefined) {
          from.push({
            namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: s.cls.namespace } },
            podSelector: projectionSelector(s.cls.labels, srcKeys),
          });
        } else if (s.kind === 'remote' && s.cls !== undefined && !byPodCidrs) {
          for (const ip of s.cls.ips) blocks.add(hostBlock(ip));
        } else if (s.kind === 'external' && s.peerCidr !== undefined) {
          from.push({ ipBlock: { cidr: s.peerCidr.cidr, ...(s.peerCidr.except.length > 0 ? { except: [...s.peerCidr.except] } : {}) } });
        }
      }
      const j = g.first;
      if (byPodCidrs) {
        for (const c of world.clusters) {
          if (c.name === cluster) continue;
          const mine = remoteByCluster.get(c.name) ?? [];
          const yes = mine.filter(inGroup);
          if (yes.length === 0) continue;
          const no = mine.find((i) => !inGroup(i));
          if (no !== undefined) {
            const a = yes[0] as number;
            const wa = why(a, j);
            const wb = why(no, j);
            problems.push({
              severity: 'error',
              code: ProblemCode.Inexpressible,
              cluster,
              policies: [...new Set([wa?.policy, wb?.policy].filter((x): x is string => x !== undefined))].sort(),
              message:
                `${cluster} takes remote peers as pod CIDRs, but pods of ${c.name} are decided differently towards ${dst.cls.namespace} pods ${JSON.stringify(dst.cls.labels)}: ` +
                `${labelOf(sources[a] as Src)} by ${describeDecision(wa)}, ${labelOf(sources[no] as Src)} by ${describeDecision(wb)}; a pod CIDR cannot tell them apart`,
            });
            continue;
          }
          for (const cidr of c.podCIDRs) blocks.add(cidr);
        }
      } else {
        // One address in two classes decided differently cannot be told apart by address.
        for (const list of remoteByCluster.values()) {
          for (const i of list) {
            const s = sources[i] as Src;
            if (inGroup(i) || s.cls === undefined) continue;
            const shared = s.cls.ips.filter((ip) => blocks.has(hostBlock(ip)));
            if (shared.length > 0) {
              const w = why(i, j);
              problems.push({
                severity: 'error',
                code: ProblemCode.Inexpressible,
                cluster,
                policies: [w?.policy].filter((x): x is string => x !== undefined),
                message: `address ${shared[0] ?? ''} belongs to pods decided differently (${labelOf(s)} by ${describeDecision(w)}): an ipBlock cannot tell them apart`,
              });
            }
          }
        }
      }
      for (const b of [...blocks].sort()) from.push({ ipBlock: { cidr: b } });
      if (from.length === 0) continue;
      const p = toPorts(g.ports);
      ingress.push(p === undefined ? { from } : { from, ports: p });
    }

    const podSelector = projectionSelector(dst.cls.labels, dstKeys);
    const spec: NetworkPolicySpec = { podSelector, policyTypes: ['Ingress'], ingress };
    const stem = `causeway-${Object.values(dst.cls.labels).join('-') || 'all'}`;
    const name = objectName(stem, `${dst.cls.namespace}/${JSON.stringify(podSelector)}`);
    objects.push({
      ns: dst.cls.namespace,
      name,
      obj: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name,
          namespace: dst.cls.namespace,
          labels: { [COMPILED_LABEL]: COMPILED_VALUE },
          annotations: { [POLICIES_ANNOTATION]: [...decided].sort().join(',') },
        },
        spec,
      },
    });
  }
  if (problems.some((p) => p.severity === 'error')) return { result: { objects: [], problems: dedupe(problems) }, facts };
  objects.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { result: { objects: objects.map((o) => o.obj), problems: dedupe(problems) }, facts };
}

/**
 * The reference evaluator's verdicts for every source at once, for one destination class and the
 * rules that match at one port interval (in evaluation order): first match per tier, Pass skips the
 * rest of its tier and its default deny, nothing matched is allowed.
 */
function decide(
  prepared: Prepared,
  subset: readonly number[],
  fromBits: ReadonlyMap<number, Uint32Array>,
  dd: readonly (Policy | undefined)[],
  nWords: number,
  mask: Uint32Array,
): Decision {
  const decided = new Uint32Array(nWords);
  const allowed = new Uint32Array(nWords);
  const passed = new Uint32Array(nWords);
  const policies = new Set<string>();
  let k = 0;
  for (let t = 0; t < TIERS.length; t++) {
    passed.fill(0);
    for (; k < subset.length; k++) {
      const r = prepared.rules[subset[k] as number] as OrderedRule;
      if (r.tierIndex !== t) break;
      const bits = fromBits.get(subset[k] as number) as Uint32Array;
      const action = r.rule.action;
      let any = 0;
      for (let w = 0; w < nWords; w++) {
        const hit = (bits[w] as number) & ~(decided[w] as number) & ~(passed[w] as number);
        if (hit === 0) continue;
        any |= hit;
        if (action === 'Pass') passed[w] = (passed[w] as number) | hit;
        else {
          decided[w] = (decided[w] as number) | hit;
          if (action === 'Allow') allowed[w] = (allowed[w] as number) | hit;
        }
      }
      if (any !== 0 && action !== 'Pass') policies.add(r.key);
    }
    const d = dd[t];
    if (d !== undefined) {
      let any = 0;
      for (let w = 0; w < nWords; w++) {
        const rest = ~(decided[w] as number) & ~(passed[w] as number) & (mask[w] as number);
        any |= rest;
        decided[w] = (decided[w] as number) | rest;
      }
      if (any !== 0) policies.add(policyKey(d));
    }
  }
  let full = true;
  for (let w = 0; w < nWords; w++) {
    allowed[w] = ((allowed[w] as number) | (~(decided[w] as number) & (mask[w] as number))) >>> 0;
    if (allowed[w] !== (mask[w] as number) >>> 0) full = false;
  }
  return { allowed, full, policies: [...policies] };
}

function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.code}|${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
