// The World that GlobalPolicy is evaluated and compiled over (controlplane/policy/model.ts), as
// the hub knows it: clusters from the registry (labels, pod CIDRs, Network, spec.policy), global
// services from the merged exports, and namespaces and pods from a WorkloadSource. Pure: the
// policy controller, `explain` and `plan` call it with what their views hold now.
//
// Agents do not report pods or namespace labels yet (issue 10 §5). Until a cluster's agent does,
// its workloads are the endpoints it exports: one workload per exported service and endpoint, in
// the service's namespace, labelled only with the service it backs (SERVICE_LABEL), so that a
// `service` peer selects exactly the addresses the exchange carries and a pod-label selector
// selects none of them (reported as SelectsNothing, never guessed).
import type { ExportState } from '../api/messages.ts';
import { matchesSelector, type LabelSelector } from '../api/labels.ts';
import type { ClusterResource } from '../api/resources.ts';
import { effectiveCidrs } from '../api/semantic.ts';
import type { PolicyFormat } from '../policy/compile/index.ts';
import type { ClusterInfo, NamespaceInfo, PortRange, ServiceInfo, Workload, World } from '../policy/model.ts';

/** The label endpoint-derived workloads carry: the name of the exported service they back. */
export const SERVICE_LABEL = 'causeway.dev/service';
/** The label Kubernetes puts on every namespace (what compiled namespaceSelectors match). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** What one cluster's agent reported of its namespaces and pods (issue 10 §5). */
export interface WorkloadReport {
  readonly namespaces: readonly { readonly name: string; readonly labels: Readonly<Record<string, string>> }[];
  readonly pods: readonly { readonly namespace: string; readonly labels: Readonly<Record<string, string>>; readonly ips: readonly string[] }[];
  /** Exported services' pod selectors (`namespace/name` → selector), so that `service` peers select real pods. */
  readonly serviceSelectors?: Readonly<Record<string, LabelSelector>> | undefined;
}

/** The port the World reads reported workloads from; undefined for a cluster that reported none. */
export interface WorkloadSource {
  report(cluster: string): WorkloadReport | undefined;
  onChange(listener: (cluster: string) => void): void;
}

/** A WorkloadSource with no reports: every cluster's workloads come from its exports. */
export const NO_REPORTS: WorkloadSource = {
  report: () => undefined,
  onChange: () => undefined,
};

export interface WorldInputs {
  readonly clusters: readonly ClusterResource[];
  /** cluster → `namespace/name` → export (ExportIndex.all()). */
  readonly exports: ReadonlyMap<string, ReadonlyMap<string, ExportState>>;
  readonly workloads: WorkloadSource;
}

export function clusterInfo(c: ClusterResource): ClusterInfo {
  return {
    name: c.metadata.name,
    labels: c.metadata.labels ?? {},
    podCIDRs: effectiveCidrs(c).pod,
    network: c.spec.network,
    remotePeers: c.spec.policy?.remotePeers ?? 'addresses',
  };
}

/** Each cluster's output format (spec.policy.format, default NetworkPolicy). */
export function policyFormats(clusters: readonly ClusterResource[]): Record<string, PolicyFormat> {
  return Object.fromEntries(clusters.map((c) => [c.metadata.name, c.spec.policy?.format ?? 'NetworkPolicy']));
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function buildWorld(input: WorldInputs): World {
  const clusters = [...input.clusters].sort((a, b) => byString(a.metadata.name, b.metadata.name));
  const registered = new Set(clusters.map((c) => c.metadata.name));
  const namespaces = new Map<string, NamespaceInfo>();
  const workloads: Workload[] = [];
  const addNamespace = (cluster: string, name: string, labels: Readonly<Record<string, string>> = {}): void => {
    const key = `${cluster}/${name}`;
    if (!namespaces.has(key)) namespaces.set(key, { cluster, name, labels: { [NAMESPACE_NAME_LABEL]: name, ...labels } });
  };
  const services = new Map<
    string,
    {
      namespace: string;
      name: string;
      exporters: string[];
      selectors: Record<string, LabelSelector>;
      exportTo: (LabelSelector | undefined)[];
      ports: Map<string, PortRange>;
    }
  >();

  for (const c of clusters) {
    const cluster = c.metadata.name;
    const report = input.workloads.report(cluster);
    for (const n of report?.namespaces ?? []) addNamespace(cluster, n.name, n.labels);
    for (const p of report?.pods ?? []) {
      addNamespace(cluster, p.namespace);
      workloads.push({ cluster, namespace: p.namespace, labels: p.labels, ips: p.ips });
    }
    const exported = input.exports.get(cluster);
    if (exported === undefined) continue;
    for (const [key, state] of [...exported].sort(([a], [b]) => byString(a, b))) {
      let s = services.get(key);
      if (s === undefined) {
        s = { namespace: state.namespace, name: state.name, exporters: [], selectors: {}, exportTo: [], ports: new Map() };
        services.set(key, s);
      }
      s.exporters.push(cluster);
      s.exportTo.push(state.exportTo);
      for (const p of state.endpointPorts ?? state.ports) s.ports.set(`${p.protocol}/${p.port}`, { protocol: p.protocol, port: p.port });
      const reported = report?.serviceSelectors?.[key];
      if (reported !== undefined) {
        s.selectors[cluster] = reported;
        continue;
      }
      // No pods reported for this cluster: the export's endpoints stand for the service's pods.
      s.selectors[cluster] = { matchLabels: { [SERVICE_LABEL]: state.name } };
      addNamespace(cluster, state.namespace);
      for (const e of state.endpoints) {
        if (!e.ready && !e.serving) continue;
        workloads.push({ cluster, namespace: state.namespace, labels: { [SERVICE_LABEL]: state.name }, ips: e.addresses });
      }
    }
  }

  const serviceInfos: ServiceInfo[] = [...services.entries()]
    .sort(([a], [b]) => byString(a, b))
    .map(([, s]) => {
      // Consumers: every cluster, unless every exporter limits who may import it (the exchange's rule).
      const limited = s.exportTo.every((x) => x !== undefined);
      const consumers = limited
        ? clusters.filter((c) => s.exportTo.some((sel) => sel !== undefined && matchesSelector(sel, c.metadata.labels))).map((c) => c.metadata.name)
        : undefined;
      const first = s.selectors[s.exporters[0] ?? ''] ?? { matchLabels: { [SERVICE_LABEL]: s.name } };
      return {
        namespace: s.namespace,
        name: s.name,
        selector: first,
        selectors: s.selectors,
        exporters: s.exporters.filter((e) => registered.has(e)),
        ...(consumers === undefined ? {} : { consumers }),
        ports: [...s.ports.values()],
      };
    });

  return {
    clusters: clusters.map(clusterInfo),
    namespaces: [...namespaces.values()],
    workloads,
    services: serviceInfos,
  };
}

/** `cluster/namespace/labels JSON/ips` of every workload: what an endpoint change is diffed on. */
export function workloadKey(w: Workload): string {
  const labels = Object.entries(w.labels).sort(([a], [b]) => byString(a, b));
  return `${w.cluster}/${w.namespace}/${JSON.stringify(labels)}/${[...w.ips].sort().join(',')}`;
}

/** One endpoint change and the workloads with it applied (what compile/incremental.ts takes). */
export interface EndpointStep {
  readonly before?: Workload | undefined;
  readonly after?: Workload | undefined;
  readonly workloads: readonly Workload[];
}

/**
 * From the workloads compiled last to those of a rebuilt World, one change at a time: a workload
 * whose address alone changed (same cluster, namespace and labels) is one move, others a removal or
 * an addition. Workloads that did not change keep their objects (the compiler caches by object),
 * and the last step's workloads are `next`'s, in its order.
 */
export function endpointSteps(previous: readonly Workload[], next: readonly Workload[]): EndpointStep[] {
  const kept = new Map<string, Workload[]>();
  for (const w of previous) {
    const list = kept.get(workloadKey(w));
    if (list === undefined) kept.set(workloadKey(w), [w]);
    else list.push(w);
  }
  const final: Workload[] = [];
  const added: Workload[] = [];
  for (const w of next) {
    const same = kept.get(workloadKey(w))?.shift();
    if (same === undefined) added.push(w);
    final.push(same ?? w);
  }
  const removed = [...kept.values()].flat();
  if (removed.length === 0 && added.length === 0) return [];
  const identity = (w: Workload): string => JSON.stringify([w.cluster, w.namespace, Object.entries(w.labels).sort(([a], [b]) => byString(a, b))]);
  const gone = new Map<string, Workload[]>();
  for (const w of removed) gone.set(identity(w), [...(gone.get(identity(w)) ?? []), w]);
  const steps: EndpointStep[] = [];
  let current: readonly Workload[] = previous;
  const step = (before: Workload | undefined, after: Workload | undefined): void => {
    const at = before === undefined ? -1 : current.indexOf(before);
    const rest = at < 0 ? current : [...current.slice(0, at), ...current.slice(at + 1)];
    current = after === undefined ? rest : at < 0 ? [...rest, after] : [...rest.slice(0, at), after, ...rest.slice(at)];
    steps.push({ before, after, workloads: current });
  };
  const unpaired: Workload[] = [];
  for (const w of added) {
    const before = gone.get(identity(w))?.shift();
    if (before === undefined) unpaired.push(w);
    else step(before, w);
  }
  for (const list of gone.values()) for (const w of list) step(w, undefined);
  for (const w of unpaired) step(undefined, w);
  // The same workloads as the last step's, in the rebuilt World's order.
  const last = steps[steps.length - 1] as EndpointStep;
  steps[steps.length - 1] = { ...last, workloads: final };
  return steps;
}
