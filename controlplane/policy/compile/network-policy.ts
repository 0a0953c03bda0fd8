// GlobalPolicy → Kubernetes NetworkPolicy (networking.k8s.io/v1) for one cluster, exact or
// refused. NetworkPolicy has no Deny and no order: a pod no policy selects allows everything, a
// selected pod allows the union of its policies' rules. So the compiler works per class of local
// destination pods (atoms.ts): it decides every (source class, port interval) with the reference
// evaluator and writes down, for each class that is not allowed everything, exactly the sources and
// ports allowed. Local sources become namespace + pod selectors, remote pods their current
// addresses as /32 (/128) blocks (or their clusters' pod CIDRs where the cluster asks), external
// addresses ipBlocks. What the format cannot say, it refuses for the whole cluster with a problem.
import { cidrContains } from '../../api/cidr.ts';
import { evaluateEndpoints, isPrepared, peerMatches, prepare, type Prepared } from '../evaluate.ts';
import { ProblemCode, type DecidedBy, type Endpoint, type Policy, type Problem, type Workload, type World } from '../model.ts';
import {
  classify,
  externalRegions,
  podKeys,
  portAtoms,
  projectionSelector,
  rulesTargeting,
  rulesToExternalFrom,
  type PortAtom,
  type WorkloadClass,
} from './atoms.ts';
import { objectName } from './names.ts';
import type { LabelSelector } from '../../api/labels.ts';

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

export function compileNetworkPolicies(policies: readonly Policy[] | Prepared, world: World, cluster: string): CompileResult {
  const full = isPrepared(policies) ? policies : prepare(policies, world);
  const info = full.index.clusters.get(cluster);
  const problems: Problem[] = [];
  if (info === undefined)
    return { objects: [], problems: [{ severity: 'error', code: ProblemCode.Inexpressible, cluster, message: `cluster ${cluster} is not in the world` }] };

  const targeting = rulesTargeting(full, cluster);
  const ddPolicies = [...full.defaultDenies.values()].flat().filter((p) => p.defaultDeny !== undefined);
  // Only rules that can select a pod here decide anything here: evaluate with those alone.
  const sub: Prepared = {
    ...full,
    rules: targeting,
  };

  const local = world.workloads.filter((w) => w.cluster === cluster);
  const remote = world.workloads.filter((w) => w.cluster !== cluster);

  // Egress to external addresses is not compiled into NetworkPolicy (yet): refuse where it would matter.
  for (const r of rulesToExternalFrom(full, cluster, local)) {
    if (r.rule.action !== 'Allow') {
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
  if (targeting.length === 0 && ddPolicies.length === 0) return { objects: [], problems };

  const dstKeys = [
    ...podKeys(
      targeting.flatMap((r) => r.rule.to),
      full.index,
      cluster,
    ),
  ].sort();
  const srcKeys = [
    ...podKeys(
      targeting.flatMap((r) => r.rule.from),
      full.index,
    ),
  ].sort();
  const allCidrs = world.clusters.flatMap((c) => c.podCIDRs);
  const named = targeting.flatMap((r) => r.rule.from.flatMap((p) => p.cidrs ?? []));

  const byPodCidrs = info.remotePeers === 'podCIDRs';
  // Remote pods no `from` peer selects are decided alike (by the rules' absence), so they travel as
  // their cluster's pod CIDRs and the output depends only on the addresses of pods rules select:
  // an endpoint change elsewhere leaves this cluster's objects alone (dependencies.ts).
  const fromPeers = targeting.flatMap((r) => r.rule.from);
  const selectedBy = (e: Endpoint): boolean => fromPeers.some((p) => peerMatches(p, e, full.index));
  const selected = (w: Workload): boolean => selectedBy({ kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels });
  const restAtoms = (): Source[] =>
    world.clusters.flatMap((c): Source[] => {
      if (c.name === cluster) return [];
      const synthetic: Endpoint = { kind: 'workload', cluster: c.name, namespace: '~', labels: {} };
      const known = remote.find((w) => w.cluster === c.name && !selected(w));
      const rep = !selectedBy(synthetic)
        ? synthetic
        : known === undefined
          ? undefined
          : { kind: 'workload' as const, cluster: c.name, namespace: known.namespace, labels: known.labels };
      return rep === undefined ? [] : [{ kind: 'remote-rest', cluster: c.name, rep, label: `${c.name}/(pods no rule selects)` }];
    });
  const sources: Source[] = [
    ...classify(local, srcKeys).map((c): Source => ({ kind: 'local', cls: c, rep: c.rep, label: `${c.namespace}/${JSON.stringify(c.labels)}` })),
    ...classify(byPodCidrs ? remote : remote.filter(selected), srcKeys).map((c): Source => ({
      kind: 'remote',
      cls: c,
      rep: c.rep,
      label: `${c.cluster}/${c.namespace}/${JSON.stringify(c.labels)}`,
    })),
    ...(byPodCidrs ? [] : restAtoms()),
    ...externalRegions(named, allCidrs).map((r): Source => ({ kind: 'external', peerCidr: { cidr: r.cidr, except: r.except }, rep: r.rep, label: r.cidr })),
  ];
  const ports = portAtoms(targeting.map((r) => r.rule));

  const objects: { ns: string; name: string; obj: CompiledObject }[] = [];
  for (const dst of classify(local, dstKeys)) {
    const decided = new Set<string>();
    // allowed[s][p]
    const allowed: boolean[][] = [];
    const why: (DecidedBy | undefined)[][] = [];
    let all = true;
    for (const s of sources) {
      const row: boolean[] = [];
      const whyRow: (DecidedBy | undefined)[] = [];
      for (const p of ports) {
        const e = evaluateEndpoints(sub, s.rep, dst.rep, p.protocol, p.port);
        row.push(e.verdict === 'allowed');
        whyRow.push(e.decidedBy);
        if (e.decidedBy !== undefined) decided.add(e.decidedBy.policy);
        if (e.verdict !== 'allowed') all = false;
      }
      allowed.push(row);
      why.push(whyRow);
    }
    if (all) continue;

    // Port intervals with the same allowed sources share one ingress rule.
    const groups = new Map<string, { sources: number[]; ports: PortAtom[] }>();
    ports.forEach((p, j) => {
      const idx = sources.flatMap((_, i) => ((allowed[i] as boolean[])[j] === true ? [i] : []));
      if (idx.length === 0) return;
      const sig = idx.join(',');
      const g = groups.get(sig) ?? { sources: idx, ports: [] };
      g.ports.push(p);
      groups.set(sig, g);
    });

    const ingress: NetworkPolicySpec['ingress'] = [];
    for (const g of [...groups.values()]) {
      const from: NetworkPolicyPeer[] = [];
      const blocks = new Set<string>();
      const inGroupSet = new Set(g.sources);
      const restIn = new Set(g.sources.flatMap((i) => (sources[i]?.kind === 'remote-rest' ? [sources[i].cluster] : [])));
      for (const i of g.sources) {
        const s = sources[i] as Source;
        if (s.kind === 'remote-rest' && s.cluster !== undefined) {
          const except = sources
            .flatMap((o, k) =>
              o.kind === 'remote' && o.cls !== undefined && o.cls.cluster === s.cluster && !inGroupSet.has(k) ? o.cls.ips.map(hostBlock) : [],
            )
            .sort();
          for (const cidr of full.index.clusters.get(s.cluster)?.podCIDRs ?? []) {
            const inside = except.filter((e) => cidrContains(cidr, e));
            from.push({ ipBlock: { cidr, ...(inside.length > 0 ? { except: inside } : {}) } });
          }
          continue;
        }
        if (s.kind === 'remote' && s.cls !== undefined && restIn.has(s.cls.cluster)) {
          // Covered by the cluster's pod CIDR block, unless the address lies outside it.
          const cidrs = full.index.clusters.get(s.cls.cluster)?.podCIDRs ?? [];
          for (const ip of s.cls.ips) if (!cidrs.some((c) => cidrContains(c, ip))) blocks.add(hostBlock(ip));
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
      if (byPodCidrs) {
        const j = ports.indexOf(g.ports[0] as PortAtom);
        const inGroup = new Set(g.sources);
        for (const c of world.clusters) {
          if (c.name === cluster) continue;
          const mine = sources.map((s, i) => ({ s, i })).filter(({ s }) => s.kind === 'remote' && s.cls?.cluster === c.name);
          const yes = mine.filter(({ i }) => inGroup.has(i));
          if (yes.length === 0) continue;
          const no = mine.find(({ i }) => !inGroup.has(i));
          if (no !== undefined) {
            const a = yes[0] as { s: Source; i: number };
            const wa = why[a.i]?.[j];
            const wb = why[no.i]?.[j];
            problems.push({
              severity: 'error',
              code: ProblemCode.Inexpressible,
              cluster,
              policies: [...new Set([wa?.policy, wb?.policy].filter((x): x is string => x !== undefined))].sort(),
              message:
                `${cluster} takes remote peers as pod CIDRs, but pods of ${c.name} are decided differently towards ${dst.namespace} pods ${JSON.stringify(dst.labels)}: ` +
                `${a.s.label} by ${describeDecision(wa)}, ${no.s.label} by ${describeDecision(wb)}; a pod CIDR cannot tell them apart`,
            });
            continue;
          }
          for (const cidr of c.podCIDRs) blocks.add(cidr);
        }
      }
      // One address in two classes decided differently cannot be told apart by address.
      if (!byPodCidrs) {
        const j = ports.indexOf(g.ports[0] as PortAtom);
        const inGroup = new Set(g.sources);
        sources.forEach((s, i) => {
          if (s.kind !== 'remote' || inGroup.has(i) || s.cls === undefined) return;
          const shared = s.cls.ips.filter((ip) => blocks.has(hostBlock(ip)));
          if (shared.length > 0) {
            problems.push({
              severity: 'error',
              code: ProblemCode.Inexpressible,
              cluster,
              policies: [why[i]?.[j]?.policy].filter((x): x is string => x !== undefined),
              message: `address ${shared[0] ?? ''} belongs to pods decided differently (${s.label} by ${describeDecision(why[i]?.[j])}): an ipBlock cannot tell them apart`,
            });
          }
        });
      }
      for (const b of [...blocks].sort()) from.push({ ipBlock: { cidr: b } });
      if (from.length === 0) continue;
      const p = toPorts(g.ports);
      ingress.push(p === undefined ? { from } : { from, ports: p });
    }

    const podSelector = projectionSelector(dst.labels, dstKeys);
    const spec: NetworkPolicySpec = { podSelector, policyTypes: ['Ingress'], ingress };
    const stem = `causeway-${Object.values(dst.labels).join('-') || 'all'}`;
    const name = objectName(stem, `${dst.namespace}/${JSON.stringify(podSelector)}`);
    objects.push({
      ns: dst.namespace,
      name,
      obj: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name,
          namespace: dst.namespace,
          labels: { [COMPILED_LABEL]: COMPILED_VALUE },
          annotations: { [POLICIES_ANNOTATION]: [...decided].sort().join(',') },
        },
        spec,
      },
    });
  }
  if (problems.some((p) => p.severity === 'error')) return { objects: [], problems: dedupe(problems) };
  objects.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { objects: objects.map((o) => o.obj), problems: dedupe(problems) };
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
