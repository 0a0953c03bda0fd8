// GlobalPolicy → CiliumClusterwideNetworkPolicy (cilium.io/v2) for one cluster, exact or refused.
// Cilium has no order and no Pass: an endpoint some policy's `ingress` selects admits the union of
// those rules and nothing else, and an `ingressDeny`/`egressDeny` rule denies whatever allows it.
// GlobalPolicy's verdicts depend on order (an Allow at a higher priority carves an exception out of
// a later Deny), so nothing is translated rule for rule; the order-free sets are written instead:
//
// - ingress: the NetworkPolicy compiler's objects (compile/network-policy.ts: per class of local
//   destination pods, exactly the sources and ports the evaluator allows, order already resolved)
//   as allow lists — `endpointSelector` the class in its namespace, local sources `fromEndpoints`,
//   remote pods and external regions `fromCIDRSet` with `except`, ports `toPorts` (`endPort` for
//   ranges, port 0 for a whole protocol);
// - egress towards external CIDRs: per region of the named CIDRs and port interval (atoms.ts), the
//   local pods the evaluator denies — the rules walked in order as set algebra over selectors
//   (cilium-selectors.ts), exact for present and future pods — as `egressDeny` rules with
//   `enableDefaultDeny` off, so that nothing else about those pods' egress changes.
//
// Refused: what the NetworkPolicy compiler refuses (pod CIDRs that cannot tell remote pods apart,
// one address for pods decided differently), and a rule set whose egress denials need more than
// MAX_SELECTORS selectors.
import { isPrepared, peerMatches, portsMatch, prepare, type OrderedRule, type Prepared } from '../evaluate.ts';
import { TIERS, type ClusterInfo, type Policy, type Problem, type World } from '../model.ts';
import { externalRegions, portAtoms, type ExternalRegion, type PortAtom } from './atoms.ts';
import {
  and,
  ciliumSelector,
  conjunctionOf,
  endpointSelector,
  EVERY_POD,
  not,
  or,
  TooManySelectors,
  type CiliumSelector,
  type Conjunction,
  type Union,
} from './cilium-selectors.ts';
import { objectName, stableJson } from './names.ts';
import { compileNetworkPoliciesWithFacts } from './network-policy.ts';
import type { NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec } from './np-ingress.ts';
import { compiledMetadata, finish, inexpressible, type CompileResult, type CompiledObject } from './result.ts';
import { localSelectors } from './selectors.ts';

export const CILIUM_API_VERSION = 'cilium.io/v2';
/** The CRD's limit on ports per PortRule. */
const MAX_PORTS = 40;
/** Beyond this many selectors for one cluster's egress denials the output is refused rather than written. */
const MAX_SELECTORS = 256;

export interface CiliumPortProtocol {
  port: string;
  endPort?: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}
export interface CiliumPortRule {
  ports: CiliumPortProtocol[];
}
export interface CiliumCidrRule {
  cidr: string;
  except?: string[];
}
export interface CiliumIngressRule {
  fromEndpoints?: CiliumSelector[];
  fromCIDRSet?: CiliumCidrRule[];
  toPorts?: CiliumPortRule[];
}
export interface CiliumEgressDenyRule {
  toCIDRSet: CiliumCidrRule[];
  toPorts?: CiliumPortRule[];
}
export interface CiliumClusterwideNetworkPolicySpec {
  endpointSelector: CiliumSelector;
  ingress?: CiliumIngressRule[];
  egressDeny?: CiliumEgressDenyRule[];
  enableDefaultDeny?: { ingress: boolean; egress: boolean };
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** NetworkPolicy ports (a protocol alone: every port of it) as Cilium PortRules; undefined: every port. */
function toPorts(ports: readonly NetworkPolicyPort[] | undefined): CiliumPortRule[] | undefined {
  if (ports === undefined) return undefined;
  const list = ports.map((p): CiliumPortProtocol => ({
    port: String(p.port ?? 0),
    ...(p.endPort !== undefined && p.port !== undefined && p.endPort > p.port ? { endPort: p.endPort } : {}),
    protocol: p.protocol,
  }));
  return chunks(list, MAX_PORTS).map((c) => ({ ports: c }));
}

/** Port intervals, adjacent ones of a protocol merged, as NetworkPolicy ports; undefined when they are every port of every protocol. */
function atomPorts(atoms: readonly PortAtom[]): NetworkPolicyPort[] | undefined {
  const merged: PortAtom[] = [];
  for (const a of [...atoms].sort((x, y) => (x.protocol < y.protocol ? -1 : x.protocol > y.protocol ? 1 : x.port - y.port))) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.protocol === a.protocol && last.endPort + 1 === a.port) merged[merged.length - 1] = { ...last, endPort: a.endPort };
    else merged.push(a);
  }
  if (merged.filter((m) => m.port === 1 && m.endPort === 65_535).length === 3) return undefined;
  return merged.map((m) =>
    m.port === 1 && m.endPort === 65_535
      ? { protocol: m.protocol }
      : { protocol: m.protocol, port: m.port, ...(m.endPort > m.port ? { endPort: m.endPort } : {}) },
  );
}

/** A NetworkPolicy peer's pods: its namespace selector (or the policy's namespace) and pod selector. */
function endpointsOf(peer: NetworkPolicyPeer, namespace: string): CiliumSelector {
  const namespaceSelector = peer.namespaceSelector ?? { matchLabels: { 'kubernetes.io/metadata.name': namespace } };
  return endpointSelector({ namespaceSelector, podSelector: peer.podSelector ?? {} });
}

/** One NetworkPolicy of the NetworkPolicy compiler as the equivalent CiliumClusterwideNetworkPolicy. */
function fromNetworkPolicy(np: CompiledObject): CompiledObject {
  const namespace = np.metadata.namespace ?? 'default';
  const spec = np.spec as NetworkPolicySpec;
  const ingress: CiliumIngressRule[] = [];
  for (const r of spec.ingress) {
    const ports = toPorts(r.ports);
    const from = r.from ?? [];
    const endpoints = from.filter((p) => p.ipBlock === undefined).map((p) => endpointsOf(p, namespace));
    const cidrs = from.flatMap((p) =>
      p.ipBlock === undefined ? [] : [{ cidr: p.ipBlock.cidr, ...(p.ipBlock.except === undefined ? {} : { except: [...p.ipBlock.except] }) }],
    );
    // An ingress rule with no peer admits every source (the NetworkPolicy compiler writes it only for a class it isolates).
    if (from.length === 0)
      ingress.push({ fromEndpoints: [{}], fromCIDRSet: [{ cidr: '0.0.0.0/0' }, { cidr: '::/0' }], ...(ports === undefined ? {} : { toPorts: ports }) });
    if (endpoints.length > 0) ingress.push({ fromEndpoints: endpoints, ...(ports === undefined ? {} : { toPorts: ports }) });
    if (cidrs.length > 0) ingress.push({ fromCIDRSet: cidrs, ...(ports === undefined ? {} : { toPorts: ports }) });
  }
  const out: CiliumClusterwideNetworkPolicySpec = {
    endpointSelector: endpointSelector({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } }, podSelector: spec.podSelector }),
    // Nothing admitted: Cilium's "deny all" is one empty rule, which selects no peer but makes the endpoint default-deny.
    ingress: ingress.length > 0 ? ingress : [{}],
    enableDefaultDeny: { ingress: true, egress: false },
  };
  const policies = (np.metadata.annotations['causeway.dev/policies'] ?? '').split(',').filter((x) => x !== '');
  return { apiVersion: CILIUM_API_VERSION, kind: 'CiliumClusterwideNetworkPolicy', metadata: compiledMetadata(np.metadata.name, policies), spec: out };
}

/** The local pods the evaluator denies towards one external region at one port interval: the matching rules walked in order. */
function deniedTowards(rules: readonly { r: OrderedRule; from: Union }[]): { denied: Union; hits: { key: string; hit: Union }[] } {
  let rest: Union = EVERY_POD;
  let denied: Union = [];
  const hits: { key: string; hit: Union }[] = [];
  for (let t = 0; t < TIERS.length; t++) {
    let passed: Union = [];
    for (const { r, from } of rules) {
      if (r.tierIndex !== t) continue;
      const hit = and(rest, from);
      if (hit.length > 0 && r.rule.action === 'Deny') {
        denied = or(denied, hit);
        hits.push({ key: r.key, hit });
      }
      if (r.rule.action === 'Pass') passed = or(passed, hit);
      rest = and(rest, not(from));
    }
    // Passed flows continue in the next tier; no default deny covers an external destination.
    rest = or(rest, passed);
  }
  return { denied, hits };
}

/** Egress denials towards external CIDRs, one object per selector of local pods. */
function egressObjects(prepared: Prepared, world: World, info: ClusterInfo, problems: Problem[]): CompiledObject[] {
  const rules = prepared.rules.flatMap((r) => {
    if (!r.rule.to.some((p) => p.cidrs !== undefined)) return [];
    const from: Union = localSelectors(r.rule.from, info, prepared.index)
      .map(conjunctionOf)
      .filter((c): c is Conjunction => c !== undefined);
    return from.length === 0 ? [] : [{ r, from }];
  });
  if (!rules.some(({ r }) => r.rule.action === 'Deny')) return [];
  const regions = externalRegions(
    rules.flatMap(({ r }) => r.rule.to.flatMap((p) => p.cidrs ?? [])),
    world.clusters.flatMap((c) => c.podCIDRs),
  );
  const atoms = portAtoms(rules.map(({ r }) => r.rule));
  /** Per selector: per port interval, the regions denied. */
  const bySelector = new Map<string, { c: Conjunction; atoms: Map<PortAtom, ExternalRegion[]>; policies: Set<string> }>();
  const refuse = (count: string): CompiledObject[] => {
    const keys = [...new Set(rules.filter(({ r }) => r.rule.action === 'Deny').map(({ r }) => r.key))];
    problems.push(
      inexpressible(
        info.name,
        `the egress denials towards external CIDRs from ${info.name} need ${count} Cilium selectors (at most ${MAX_SELECTORS} are written)`,
        keys,
      ),
    );
    return [];
  };
  for (const g of regions) {
    for (const a of atoms) {
      const matching = rules.filter(({ r }) => portsMatch(r.rule.ports, a.protocol, a.port) && r.rule.to.some((p) => peerMatches(p, g.rep, prepared.index)));
      if (!matching.some(({ r }) => r.rule.action === 'Deny')) continue;
      let walked: ReturnType<typeof deniedTowards>;
      try {
        walked = deniedTowards(matching);
      } catch (e) {
        if (e instanceof TooManySelectors) return refuse('more than 1024');
        throw e;
      }
      // Which Deny a selector came from (for the policies annotation): the hits it is one of.
      const from = walked.hits.map((h) => ({ key: h.key, of: new Set(h.hit.map((c) => stableJson(c))) }));
      for (const c of walked.denied) {
        const key = stableJson(c);
        const entry = bySelector.get(key) ?? { c, atoms: new Map<PortAtom, ExternalRegion[]>(), policies: new Set<string>() };
        entry.atoms.set(a, [...(entry.atoms.get(a) ?? []), g]);
        const owners = from.filter((h) => h.of.has(key));
        for (const h of owners.length > 0 ? owners : from) entry.policies.add(h.key);
        bySelector.set(key, entry);
      }
      if (bySelector.size > MAX_SELECTORS) return refuse(String(bySelector.size));
    }
  }
  const objects: CompiledObject[] = [];
  for (const [key, e] of [...bySelector.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Port intervals denied towards the same regions share one rule.
    const groups = new Map<string, { regions: ExternalRegion[]; atoms: PortAtom[] }>();
    for (const [a, gs] of e.atoms) {
      const sig = gs.map((g) => g.cidr).join(',');
      const group = groups.get(sig) ?? { regions: gs, atoms: [] };
      group.atoms.push(a);
      groups.set(sig, group);
    }
    const egressDeny = [...groups.values()].map((g): CiliumEgressDenyRule => {
      const ports = toPorts(atomPorts(g.atoms));
      return {
        toCIDRSet: [
          ...new Map(
            g.regions.map((r) => [`${r.cidr} ${r.except.join(',')}`, { cidr: r.cidr, ...(r.except.length > 0 ? { except: [...r.except] } : {}) }]),
          ).values(),
        ],
        ...(ports === undefined ? {} : { toPorts: ports }),
      };
    });
    const spec: CiliumClusterwideNetworkPolicySpec = {
      endpointSelector: ciliumSelector(e.c),
      egressDeny,
      enableDefaultDeny: { ingress: false, egress: false },
    };
    objects.push({
      apiVersion: CILIUM_API_VERSION,
      kind: 'CiliumClusterwideNetworkPolicy',
      metadata: compiledMetadata(objectName('causeway-egress', key), e.policies),
      spec,
    });
  }
  return objects;
}

export function compileCiliumPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  const prepared = isPrepared(policies) ? policies : prepare(policies, world);
  const info = prepared.index.clusters.get(cluster);
  if (info === undefined) return finish([], [inexpressible(cluster, `cluster ${cluster} is not in the world`)]);
  const np = compileNetworkPoliciesWithFacts(prepared, world, cluster, { egress: 'skip' }).result;
  const problems: Problem[] = [...np.problems];
  const objects = [...np.objects.map(fromNetworkPolicy), ...egressObjects(prepared, world, info, problems)];
  return finish(objects, problems);
}
