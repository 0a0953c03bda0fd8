// One destination class's NetworkPolicy ingress rules from its decisions (np-decide.ts): port
// intervals with the same allowed sources share one rule; local sources become namespace + pod
// selectors, remote pods their addresses (or, with `remotePeers: podCIDRs`, their clusters' pod
// CIDRs), the rest of a remote cluster its pod CIDR with the selected pods decided otherwise
// carved out, external regions ipBlocks. What an address cannot tell apart is a problem.
import { cidrContains } from '../../api/cidr.ts';
import type { LabelSelector } from '../../api/labels.ts';
import type { DecidedBy, Problem, World } from '../model.ts';
import { projectionSelector, type PortAtom, type WorkloadClass } from './atoms.ts';
import { has, type Decision } from './np-decide.ts';
import { labelOf, type SourceSet, type Src } from './np-sources.ts';
import { NAMESPACE_NAME_LABEL, inexpressible } from './result.ts';

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

/** An ingress rule; one without `from` and `ports` admits everything (an isolated class allowed everything). */
export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: ['Ingress'];
  ingress: NetworkPolicyIngressRule[];
}

/** What rendering reads besides the decisions: shared, never mutated peers and per-class address caches. */
export interface IngressInputs {
  readonly world: World;
  readonly cluster: string;
  readonly set: SourceSet;
  readonly podCidrsOf: (cluster: string) => readonly string[];
  /** One shared, frozen peer per whole remote pod CIDR (it recurs in most objects of most clusters). */
  readonly wholeBlock: (cidr: string) => NetworkPolicyPeer;
  /** One shared, frozen peer per external region (its `except` lists every cluster's pod CIDRs). */
  readonly regionBlock: (region: { readonly cidr: string; readonly except: readonly string[] }) => NetworkPolicyPeer;
  /** A remote class's addresses outside its cluster's pod CIDRs. */
  readonly outsidePodCidrs: (c: WorkloadClass) => readonly string[];
}

/**
 * Where one remote class's addresses inside its cluster's pod CIDRs went in a cluster's output, so
 * that an endpoint change that only moves such addresses can patch them there
 * (compile/address-patch.ts): the `ipBlock` peers at the end of an ingress rule's `from`, from index
 * `start`, or the `except` of the peer at `peer` (those inside `cidr`). `dropped`: a rule left out
 * because it had no peer (patching cannot bring it back).
 */
export type RuleSlot =
  | { readonly kind: 'blocks'; readonly rule: number; readonly start: number }
  | { readonly kind: 'except'; readonly rule: number; readonly peer: number; readonly cidr: string }
  | { readonly kind: 'dropped' };

export function hostBlock(ip: string): string {
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

/**
 * The ingress rules of destination class `dst`. `why(i, j)` names what decides source i at port
 * interval j (for messages); problems are pushed to `problems`.
 */
export function renderIngress(
  input: IngressInputs,
  dst: WorkloadClass,
  ports: readonly PortAtom[],
  decisions: readonly Decision[],
  why: (i: number, j: number) => DecidedBy | undefined,
  problems: Problem[],
  record?: (classKey: string, slot: RuleSlot) => void,
): NetworkPolicyIngressRule[] {
  const { world, cluster, set } = input;
  const { sources, remoteByCluster, byPodCidrs, srcKeys } = set;
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

  const ingress: NetworkPolicyIngressRule[] = [];
  for (const g of groups.values()) {
    if (g.sources.length === 0) continue;
    const from: NetworkPolicyPeer[] = [];
    const blocks = new Set<string>();
    // Slots of this rule, by class key (the rule's index and where its blocks start are known at the end).
    const slots: [string, { kind: 'blocks' } | { kind: 'except'; peer: number; cidr: string }][] = [];
    const inGroup = (i: number): boolean => has(g.bits, i);
    const restIn = new Set(g.sources.flatMap((i) => (sources[i]?.kind === 'remote-rest' ? [sources[i].cluster] : [])));
    for (const i of g.sources) {
      const s = sources[i] as Src;
      if (s.kind === 'remote-rest' && s.cluster !== undefined) {
        const except = (remoteByCluster.get(s.cluster) ?? []).flatMap((k) => (inGroup(k) ? [] : ((sources[k] as Src).cls?.ips ?? []).map(hostBlock))).sort();
        const podCIDRs = input.podCidrsOf(s.cluster);
        if (record !== undefined) {
          for (const k of remoteByCluster.get(s.cluster) ?? []) {
            const key = (sources[k] as Src).cls?.key;
            if (inGroup(k) || key === undefined) continue;
            podCIDRs.forEach((cidr, p) => slots.push([key, { kind: 'except', peer: from.length + p, cidr }]));
          }
        }
        for (const cidr of podCIDRs) {
          const inside = podCIDRs.length === 1 && except.length === 0 ? except : except.filter((e) => cidrContains(cidr, e));
          from.push(inside.length > 0 ? { ipBlock: { cidr, except: inside } } : input.wholeBlock(cidr));
        }
        continue;
      }
      if (s.kind === 'remote' && s.cls !== undefined && restIn.has(s.cls.cluster)) {
        // Covered by the cluster's pod CIDR block, unless the address lies outside it.
        // (Not recorded: a change of an address outside its cluster's pod CIDRs is compiled, not patched.)
        for (const ip of input.outsidePodCidrs(s.cls)) blocks.add(hostBlock(ip));
        continue;
      }
      if (s.kind === 'local' && s.cls !== undefined) {
        from.push({
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: s.cls.namespace } },
          podSelector: projectionSelector(s.cls.labels, srcKeys),
        });
      } else if (s.kind === 'remote' && s.cls !== undefined && !byPodCidrs) {
        for (const ip of s.cls.ips) blocks.add(hostBlock(ip));
        if (record !== undefined) slots.push([s.cls.key, { kind: 'blocks' }]);
      } else if (s.kind === 'external' && s.peerCidr !== undefined) {
        from.push(input.regionBlock(s.peerCidr));
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
          problems.push(
            inexpressible(
              cluster,
              `${cluster} takes remote peers as pod CIDRs, but pods of ${c.name} are decided differently towards ${dst.namespace} pods ${JSON.stringify(dst.labels)}: ` +
                `${labelOf(sources[a] as Src)} by ${describeDecision(wa)}, ${labelOf(sources[no] as Src)} by ${describeDecision(wb)}; a pod CIDR cannot tell them apart`,
              [wa?.policy, wb?.policy].filter((x): x is string => x !== undefined),
            ),
          );
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
            problems.push(
              inexpressible(
                cluster,
                `address ${shared[0] ?? ''} belongs to pods decided differently (${labelOf(s)} by ${describeDecision(w)}): an ipBlock cannot tell them apart`,
                [w?.policy].filter((x): x is string => x !== undefined),
              ),
            );
          }
        }
      }
    }
    const start = from.length;
    for (const b of [...blocks].sort()) from.push({ ipBlock: { cidr: b } });
    if (from.length === 0) {
      if (record !== undefined) for (const [key] of slots) record(key, { kind: 'dropped' });
      continue;
    }
    if (record !== undefined) {
      const rule = ingress.length;
      for (const [key, slot] of slots) record(key, slot.kind === 'blocks' ? { kind: 'blocks', rule, start } : { ...slot, rule });
    }
    const p = toPorts(g.ports);
    ingress.push(p === undefined ? { from } : { from, ports: p });
  }
  return ingress;
}
