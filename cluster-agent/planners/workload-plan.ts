// The cluster's namespaces and pods as the workloads report carries them (issue 10 §5), pure: only
// what policy selects on and compiles to — namespace labels; pods' namespace, name, labels and
// addresses — and, for the Services the cluster exports, their pod selectors. Pods without an
// address yet, on the host network (NetworkPolicy does not apply to them, and their address is
// the node's), or finished (Succeeded, Failed) are left out. The set is always complete; too
// large for one message, it is packed into parts.
import type { WorkloadNamespace, WorkloadPod, Workloads } from '../../controlplane/api/messages.ts';
import { MAX_WORKLOAD_NAMESPACES, MAX_WORKLOAD_PODS, encodedSize } from '../../controlplane/api/messages.ts';
import { isIpAddress } from '../../controlplane/api/cidr.ts';
import { canonicalJson } from '../../controlplane/api/json.ts';
import { packBySize } from '../../controlplane/api/pack.ts';
import type { NamespaceObject, PodObject, ServiceObject } from '../objects.ts';

/** Labels a message may carry per object (messages.ts labelMapSchema). */
const MAX_LABELS = 64;

export interface ServiceSelector {
  readonly namespace: string;
  readonly name: string;
  readonly matchLabels: Readonly<Record<string, string>>;
}

export interface WorkloadSet {
  readonly namespaces: readonly WorkloadNamespace[];
  readonly pods: readonly WorkloadPod[];
  readonly serviceSelectors: readonly ServiceSelector[];
  /** Objects left out because they cannot be reported as they are (too many labels, bad addresses), for a warning. */
  readonly skipped: number;
}

const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

function podIps(p: PodObject): string[] {
  const listed = (p.status?.podIPs ?? []).map((x) => x.ip).filter((ip): ip is string => typeof ip === 'string');
  const ips = listed.length > 0 ? listed : p.status?.podIP === undefined ? [] : [p.status.podIP];
  return [...new Set(ips)];
}

/** What the report holds for these objects (sorted, so that an unchanged cluster gives an equal set). */
export function workloadSet(namespaces: readonly NamespaceObject[], pods: readonly PodObject[], exportedServices: readonly ServiceObject[]): WorkloadSet {
  let skipped = 0;
  const ns: WorkloadNamespace[] = [];
  for (const n of namespaces) {
    const labels = n.metadata.labels ?? {};
    if (Object.keys(labels).length > MAX_LABELS) {
      skipped += 1;
      continue;
    }
    ns.push({ name: n.metadata.name, labels: { ...labels } });
  }
  const out: WorkloadPod[] = [];
  for (const p of pods) {
    if (p.spec?.hostNetwork === true || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    const ips = podIps(p);
    if (ips.length === 0) continue;
    const labels = p.metadata.labels ?? {};
    if (ips.length > 2 || !ips.every(isIpAddress) || Object.keys(labels).length > MAX_LABELS || p.metadata.namespace === undefined) {
      skipped += 1;
      continue;
    }
    out.push({ namespace: p.metadata.namespace, name: p.metadata.name, labels: { ...labels }, ips });
  }
  const selectors: ServiceSelector[] = [];
  for (const s of exportedServices) {
    const selector = s.spec?.selector;
    if (selector === undefined || Object.keys(selector).length === 0 || s.metadata.namespace === undefined) continue;
    selectors.push({ namespace: s.metadata.namespace, name: s.metadata.name, matchLabels: { ...selector } });
  }
  return {
    namespaces: ns.sort(byKey((n) => n.name)).slice(0, MAX_WORKLOAD_NAMESPACES),
    pods: out.sort(byKey((p) => `${p.namespace}/${p.name}`)),
    serviceSelectors: selectors.sort(byKey((s) => `${s.namespace}/${s.name}`)),
    skipped,
  };
}

/** A stable text of the set: the reporter sends only when it differs from the last acknowledged one. */
export function workloadDigest(set: WorkloadSet): string {
  return canonicalJson({ n: set.namespaces, p: set.pods, s: set.serviceSelectors });
}

export type WorkloadBody = Pick<Workloads, 'namespaces' | 'pods' | 'serviceSelectors' | 'part'>;

type Item = { readonly n: WorkloadNamespace } | { readonly p: WorkloadPod } | { readonly s: ServiceSelector };

/** The set as message bodies of at most `maxBytes` (and MAX_WORKLOAD_PODS pods) each; one body when it fits. */
export function planWorkloadParts(set: WorkloadSet, maxBytes: number): WorkloadBody[] {
  const items: Item[] = [...set.namespaces.map((n) => ({ n })), ...set.pods.map((p) => ({ p })), ...set.serviceSelectors.map((s) => ({ s }))];
  const packed = packBySize(items, encodedSize, { maxBytes, maxItems: Math.min(MAX_WORKLOAD_PODS, MAX_WORKLOAD_NAMESPACES) });
  return packed.map((part, index) => {
    const selectors = part.flatMap((i) => ('s' in i ? [{ namespace: i.s.namespace, name: i.s.name, matchLabels: { ...i.s.matchLabels } }] : []));
    return {
      namespaces: part.flatMap((i) => ('n' in i ? [i.n] : [])),
      pods: part.flatMap((i) => ('p' in i ? [i.p] : [])),
      ...(selectors.length > 0 ? { serviceSelectors: selectors } : {}),
      ...(packed.length > 1 ? { part: { index, count: packed.length } } : {}),
    };
  });
}
