// The finite partition a compiler works on. A rule only reads some pod label keys, some namespace
// names, some CIDRs and some port boundaries, so every pod, address and port falls into one of
// finitely many classes that the reference evaluator treats alike: deciding one representative per
// class decides the class. Compilers evaluate representatives with evaluate.ts itself (so they
// cannot disagree with it) and then write each class down in their format's selectors.
import { excludeCidr, parseCidr } from 'cidr-tools';
import { stringifyIp } from 'ip-bigint';
import { cidrContains, ipFamily } from '../../api/cidr.ts';
import { matchesSelector, type LabelSelector } from '../../api/labels.ts';
import { peerMatches, type OrderedRule, type Prepared, type WorldIndex } from '../evaluate.ts';
import { PROTOCOLS, type Endpoint, type Peer, type Protocol, type Rule, type Workload } from '../model.ts';

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** Pod label keys that the given peers (and the services they name, in `cluster`) read. */
export function podKeys(peers: Iterable<Peer>, index: WorldIndex, cluster?: string): Set<string> {
  const keys = new Set<string>();
  const add = (s: LabelSelector | undefined): void => {
    for (const k of Object.keys(s?.matchLabels ?? EMPTY)) keys.add(k);
    for (const e of s?.matchExpressions ?? []) keys.add(e.key);
  };
  for (const p of peers) {
    add(p.pods);
    if (p.service !== undefined) {
      const s = index.services.get(`${p.service.namespace}/${p.service.name}`);
      if (s !== undefined) {
        if (cluster !== undefined) add(s.selectors?.[cluster] ?? s.selector);
        else {
          add(s.selector);
          for (const sel of Object.values(s.selectors ?? {})) add(sel);
        }
      }
    }
  }
  return keys;
}

/** The values a pod has on the keys that matter (absent keys stay absent). */
export function project(labels: Readonly<Record<string, string>>, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = labels[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Selects exactly the pods whose projection on `keys` equals `labels`'s: present or future. */
export function projectionSelector(labels: Readonly<Record<string, string>>, keys: readonly string[]): LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: { key: string; operator: 'DoesNotExist' }[] = [];
  for (const k of keys) {
    const v = labels[k];
    if (v === undefined) matchExpressions.push({ key: k, operator: 'DoesNotExist' });
    else matchLabels[k] = v;
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

export interface WorkloadClass {
  readonly cluster: string;
  readonly namespace: string;
  /** The projection: the class's identity. */
  readonly labels: Readonly<Record<string, string>>;
  readonly rep: Endpoint;
  readonly ips: readonly string[];
  readonly key: string;
}

/** Groups workloads by (cluster, namespace, projection on keys), sorted by key. */
export function classify(workloads: Iterable<Workload>, keys: readonly string[]): WorkloadClass[] {
  const classes = new Map<string, { c: Omit<WorkloadClass, 'ips'>; ips: Set<string> }>();
  for (const w of workloads) {
    const labels = project(w.labels, keys);
    const key = `${w.cluster}/${w.namespace}/${JSON.stringify(labels)}`;
    let entry = classes.get(key);
    if (entry === undefined) {
      entry = {
        c: {
          cluster: w.cluster,
          namespace: w.namespace,
          labels,
          key,
          rep: { kind: 'workload', cluster: w.cluster, namespace: w.namespace, labels: w.labels, ip: w.ips[0] },
        },
        ips: new Set(),
      };
      classes.set(key, entry);
    }
    for (const ip of w.ips) entry.ips.add(ip);
  }
  return [...classes.values()].map(({ c, ips }) => ({ ...c, ips: [...ips].sort() })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export interface ExternalRegion {
  /** The block and the addresses carved out of it (nested CIDRs of other rules, cluster pod CIDRs). */
  readonly cidr: string;
  readonly except: readonly string[];
  readonly rep: Endpoint;
}

/**
 * Addresses outside the clusterset as classes: one region per CIDR the rules name (minus the
 * named CIDRs nested in it and every cluster's pod CIDRs), and the rest of each family. CIDRs are
 * nested or disjoint, so every address of a region is in the same named CIDRs.
 */
export function externalRegions(cidrs: Iterable<string>, clusterCidrs: readonly string[]): ExternalRegion[] {
  const named = [...new Set(cidrs)].sort();
  const regions: ExternalRegion[] = [];
  const region = (cidr: string, inside: readonly string[]): void => {
    if (clusterCidrs.some((p) => cidrContains(p, cidr))) return; // only pod addresses: no external address there
    const except = [...new Set(inside.filter((c) => c !== cidr && cidrContains(cidr, c)))].sort();
    // Keep only the outermost carve-outs: ipBlock.except must not nest.
    const outer = except.filter((c) => !except.some((o) => o !== c && cidrContains(o, c)));
    const left = excludeCidr([cidr], outer);
    const first = left[0];
    if (first === undefined) return;
    const start = parseCidr(first).start;
    regions.push({ cidr, except: outer, rep: { kind: 'external', ip: stringifyIp({ number: start, version: ipFamily(cidr) }) } });
  };
  const carve = [...named, ...clusterCidrs];
  for (const c of named) region(c, carve);
  region('0.0.0.0/0', carve);
  region('::/0', carve);
  return regions;
}

export interface PortAtom {
  readonly protocol: Protocol;
  readonly port: number;
  readonly endPort: number;
}

/** Every protocol's ports cut at the boundaries the rules name: rules treat each interval alike. */
export function portAtoms(rules: Iterable<Rule>): PortAtom[] {
  const cuts = new Map<Protocol, Set<number>>(PROTOCOLS.map((p) => [p, new Set([1])]));
  for (const r of rules) {
    for (const p of r.ports ?? []) {
      const set = cuts.get(p.protocol ?? 'TCP') as Set<number>;
      set.add(p.port);
      if ((p.endPort ?? p.port) < 65_535) set.add((p.endPort ?? p.port) + 1);
    }
  }
  const atoms: PortAtom[] = [];
  for (const protocol of PROTOCOLS) {
    const points = [...(cuts.get(protocol) as Set<number>)].sort((a, b) => a - b);
    points.forEach((port, i) => atoms.push({ protocol, port, endPort: (points[i + 1] ?? 65_536) - 1 }));
  }
  return atoms;
}

/** Does any `to` peer of the rule select something in `cluster` (its pods, or the service it exports there)? */
export function rulesTargeting(prepared: Prepared, cluster: string): OrderedRule[] {
  const labels = prepared.index.clusters.get(cluster)?.labels ?? EMPTY;
  return prepared.rules.filter((r) =>
    r.rule.to.some((p) => {
      if (p.cidrs !== undefined) return false;
      if (p.clusters !== undefined && !matchesSelector(p.clusters, labels)) return false;
      if (p.service !== undefined) return prepared.index.services.get(`${p.service.namespace}/${p.service.name}`)?.exporters.includes(cluster) === true;
      return true;
    }),
  );
}

/** Rules whose `from` can select an endpoint of `cluster` and whose `to` names external CIDRs. */
export function rulesToExternalFrom(prepared: Prepared, cluster: string, workloads: readonly Workload[]): OrderedRule[] {
  return prepared.rules.filter(
    (r) =>
      r.rule.to.some((p) => p.cidrs !== undefined) &&
      workloads.some(
        (w) =>
          w.cluster === cluster &&
          r.rule.from.some((p) => peerMatches(p, { kind: 'workload', cluster, namespace: w.namespace, labels: w.labels }, prepared.index)),
      ),
  );
}
