// Exporters of a global service, normalised once when an export changes: the shape of the
// exported Service, its endpoints already in the import form, and its time for conflict order.
// Pure.
import type { LabelSelector } from '../api/labels.ts';
import type { Endpoint, ExportState, ImportState, InternalTrafficPolicy, ServicePort, ServiceType, SessionAffinityConfig } from '../api/messages.ts';
import type { ExternalServiceResource } from '../api/resources.ts';
import { jsonEqual } from '../api/json-equal.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';

export type SessionAffinity = ExportState['sessionAffinity'];
export type ImportEndpoint = ImportState['endpoints'][number];

/** Exports with no parseable exportedAt sort after every real one: they never win a conflict. */
const UNKNOWN_TIME = Number.MAX_SAFE_INTEGER;

/** One exporter of a global service, normalised once when its export changes. */
export interface Exporter {
  readonly cluster: string;
  readonly exportedAt: string;
  readonly exportedAtMs: number;
  readonly type: ServiceType;
  readonly ports: readonly ServicePort[];
  readonly sessionAffinity: SessionAffinity;
  readonly sessionAffinityConfig: SessionAffinityConfig | undefined;
  readonly internalTrafficPolicy: InternalTrafficPolicy | undefined;
  readonly trafficDistribution: string | undefined;
  /** ServiceExport.spec.exportedLabels / exportedAnnotations; undefined when none. */
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
  /** Only clusters matching may see this export; undefined: every cluster of its clusterset. */
  readonly exportTo: LabelSelector | undefined;
  /** ExternalService exporters only: the Network their endpoints live in. */
  readonly network: string | undefined;
  /** Converted once to the import shape, so that building an import only concatenates. */
  readonly endpoints: readonly ImportEndpoint[];
  /** The ports the endpoints listen on, when the exporter said (ExportState.endpointPorts). */
  readonly endpointPorts?: readonly ServicePort[] | undefined;
}

// Keys in alphabetical order here and in normalPort and the imports built from them: the wire form
// is then stable and canonical. Nothing relies on it for correctness (comparisons are by content).
function toImportEndpoint(cluster: string, e: Endpoint): ImportEndpoint {
  return {
    addresses: e.addresses,
    cluster,
    ...(e.hostname !== undefined ? { hostname: e.hostname } : {}),
    ready: e.ready,
    serving: e.serving,
    terminating: e.terminating,
    ...(e.zone !== undefined ? { zone: e.zone } : {}),
  };
}

function normalPort(p: ServicePort): ServicePort {
  return {
    ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
    ...(p.name !== undefined ? { name: p.name } : {}),
    port: p.port,
    protocol: p.protocol,
  };
}

function nonEmpty(map: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  return map === undefined || Object.keys(map).length === 0 ? undefined : map;
}

function timeOf(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? UNKNOWN_TIME : t;
}

/**
 * The exporter's endpoints, each of `previous`'s that is unchanged reused as it is: the imports
 * built from it then share the object, so what compares, diffs, encodes and digests imports per
 * change (services/changes.ts, api/import-patch.ts, api/messages.ts importStateJson) meets the
 * same object and stops at identity. Endpoint objects are never changed once built.
 */
function endpointsOf(cluster: string, endpoints: readonly Endpoint[], previous: readonly ImportEndpoint[] | undefined): ImportEndpoint[] {
  if (previous === undefined || previous.length === 0) return endpoints.map((e) => toImportEndpoint(cluster, e));
  let byAddress: Map<string, ImportEndpoint> | undefined;
  return endpoints.map((e, i) => {
    const next = toImportEndpoint(cluster, e);
    const same = previous[i];
    if (same !== undefined && jsonEqual(same, next)) return same;
    // An endpoint added or removed before this one shifts the rest: find them by address.
    if (byAddress === undefined) {
      byAddress = new Map();
      for (const p of previous) {
        const first = p.addresses[0];
        if (first !== undefined && !byAddress.has(first)) byAddress.set(first, p);
      }
    }
    const moved = byAddress.get(next.addresses[0] ?? '');
    return moved !== undefined && jsonEqual(moved, next) ? moved : next;
  });
}

/** `previous`: the cluster's exporter of the service before this export, whose unchanged endpoints are reused. */
export function exporterFromExport(cluster: string, state: ExportState, previous?: Exporter): Exporter {
  return {
    cluster,
    exportedAt: state.exportedAt,
    exportedAtMs: timeOf(state.exportedAt),
    type: state.type,
    ports: state.ports.map(normalPort),
    sessionAffinity: state.sessionAffinity,
    // The config means something only with ClientIP affinity (the API server refuses it otherwise).
    sessionAffinityConfig: state.sessionAffinity === 'ClientIP' ? state.sessionAffinityConfig : undefined,
    internalTrafficPolicy: state.internalTrafficPolicy,
    trafficDistribution: state.trafficDistribution,
    labels: nonEmpty(state.exportedLabels),
    annotations: nonEmpty(state.exportedAnnotations),
    exportTo: state.exportTo,
    network: undefined,
    endpoints: endpointsOf(cluster, state.endpoints, previous?.endpoints),
    ...(state.endpointPorts !== undefined ? { endpointPorts: state.endpointPorts } : {}),
  };
}

/** An ExternalService joins its global service as the exporter named `external`. */
export function exporterFromExternal(es: ExternalServiceResource): Exporter {
  const exportedAt = es.metadata.creationTimestamp ?? '';
  return {
    cluster: RESERVED_CLUSTER_NAME,
    exportedAt,
    exportedAtMs: exportedAt === '' ? UNKNOWN_TIME : timeOf(exportedAt),
    type: 'ClusterSetIP',
    ports: es.spec.ports.map((p) => normalPort({ ...p, protocol: p.protocol ?? 'TCP' })),
    sessionAffinity: 'None',
    sessionAffinityConfig: undefined,
    // What the API server gives every Service that does not say: endpoints of VMs have no node to stay on.
    internalTrafficPolicy: 'Cluster',
    trafficDistribution: undefined,
    labels: undefined,
    annotations: undefined,
    exportTo: es.spec.exportTo?.clusterSelector,
    network: es.spec.network,
    endpoints: es.spec.endpoints.map((e) => {
      const ready = e.ready ?? true;
      return toImportEndpoint(RESERVED_CLUSTER_NAME, {
        addresses: [e.address],
        ready,
        serving: ready,
        terminating: false,
        ...(e.hostname !== undefined ? { hostname: e.hostname } : {}),
        ...(e.zone !== undefined ? { zone: e.zone } : {}),
      });
    }),
  };
}

/** Oldest export first; equal times by cluster name, so every hub replica agrees on the winner. */
export function compareExporters(a: Exporter, b: Exporter): number {
  if (a.exportedAtMs !== b.exportedAtMs) return a.exportedAtMs - b.exportedAtMs;
  return a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0;
}
