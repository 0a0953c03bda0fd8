// Import side, pure: what one global service (ImportState from the hub) must look like in this
// cluster — a ServiceImport and EndpointSlices per source cluster and address family, with
// deterministic names so that every run (and every restarted agent) computes the same objects —
// and the conditions the agent writes back on its own ServiceExports.
import { createHash } from 'node:crypto';
import type { Condition } from '../controlplane/api/conditions.ts';
import { MAX_ENDPOINTS_PER_SLICE, type ImportState, type ServicePort } from '../controlplane/api/messages.ts';
import type { LocalExportProblem } from './exports.ts';
import {
  DISCOVERY_API_VERSION,
  Labels,
  MANAGED_BY_AGENT,
  MCS_API_VERSION,
  OWNED_BY_LABEL,
  OWNED_BY_VALUE,
  type K8sCondition,
  type KubeObject,
} from './objects.ts';

export interface DesiredImport {
  /** Applied to the main resource: labels and spec. */
  readonly serviceImport: KubeObject;
  /** Applied to the status subresource: which clusters back it. */
  readonly serviceImportStatus: KubeObject;
  readonly endpointSlices: readonly KubeObject[];
}

/** Names stay DNS-1123 labels, short enough to show in kubectl and to use as label values. */
export const MAX_OBJECT_NAME = 63;

export type AddressFamily = 'IPv4' | 'IPv6';

export function ownedLabels(service: string): Record<string, string> {
  return { [OWNED_BY_LABEL]: OWNED_BY_VALUE, [Labels.McsServiceName]: service };
}

export function desiredImport(state: ImportState): DesiredImport {
  const ports = state.ports.map(portOf);
  // The exported labels and annotations of the winning export (KEP-1645); ours cannot be replaced.
  const labels = { ...(state.labels ?? {}), ...ownedLabels(state.name) };
  const annotations = state.annotations !== undefined && Object.keys(state.annotations).length > 0 ? { ...state.annotations } : undefined;
  const serviceImport: KubeObject = {
    apiVersion: MCS_API_VERSION,
    kind: 'ServiceImport',
    metadata: { name: state.name, namespace: state.namespace, labels, ...(annotations !== undefined ? { annotations } : {}) },
    spec: {
      type: state.type,
      ports,
      ips: [...state.ips],
      sessionAffinity: state.sessionAffinity,
      ...(state.sessionAffinityConfig !== undefined ? { sessionAffinityConfig: sessionAffinityConfigOf(state.sessionAffinityConfig) } : {}),
      ...(state.internalTrafficPolicy !== undefined ? { internalTrafficPolicy: state.internalTrafficPolicy } : {}),
      ...(state.trafficDistribution !== undefined ? { trafficDistribution: state.trafficDistribution } : {}),
    },
  };
  const serviceImportStatus: KubeObject = {
    apiVersion: MCS_API_VERSION,
    kind: 'ServiceImport',
    metadata: { name: state.name, namespace: state.namespace },
    status: { clusters: state.clusters.map((cluster) => ({ cluster })) },
  };
  return { serviceImport, serviceImportStatus, endpointSlices: desiredEndpointSlices(state, ports) };
}

interface SliceEndpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  hostname?: string;
  zone?: string;
  hints?: { forZones: { name: string }[] };
}

function desiredEndpointSlices(state: ImportState, ports: readonly ReturnType<typeof portOf>[]): KubeObject[] {
  // Insertion order of the map is the order of first appearance: the hub's nearest-first order.
  const groups = new Map<string, { cluster: string; family: AddressFamily; endpoints: SliceEndpoint[] }>();
  for (const ep of state.endpoints) {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const addresses = ep.addresses.filter((a) => familyOf(a) === family);
      if (addresses.length === 0) continue;
      const id = `${ep.cluster}/${family}`;
      let group = groups.get(id);
      if (group === undefined) groups.set(id, (group = { cluster: ep.cluster, family, endpoints: [] }));
      group.endpoints.push({
        addresses,
        conditions: { ready: ep.ready, serving: ep.serving, terminating: ep.terminating },
        ...(ep.hostname !== undefined ? { hostname: ep.hostname } : {}),
        // nodeName is left out on purpose: it names a node of another cluster, and kube-proxy
        // would treat an endpoint as node-local if a local node happened to share the name.
        ...(ep.zone !== undefined ? { zone: ep.zone, hints: { forZones: [{ name: ep.zone }] } } : {}),
      });
    }
  }
  const portsByCluster = new Map((state.clusterPorts ?? []).map((c) => [c.cluster, c.ports.map(portOf)]));
  const slices: KubeObject[] = [];
  for (const group of groups.values()) {
    for (let i = 0; i * MAX_ENDPOINTS_PER_SLICE < group.endpoints.length; i++) {
      slices.push({
        apiVersion: DISCOVERY_API_VERSION,
        kind: 'EndpointSlice',
        metadata: {
          name: endpointSliceName(state.name, group.cluster, group.family, i),
          namespace: state.namespace,
          labels: {
            ...ownedLabels(state.name),
            [Labels.McsSourceCluster]: group.cluster,
            [Labels.ManagedBy]: MANAGED_BY_AGENT,
          },
        },
        addressType: group.family,
        // The exporter's endpoint (target) ports when it reported them; else the service's.
        ports: (portsByCluster.get(group.cluster) ?? ports).map((p) => ({ ...p })),
        endpoints: group.endpoints.slice(i * MAX_ENDPOINTS_PER_SLICE, (i + 1) * MAX_ENDPOINTS_PER_SLICE),
      });
    }
  }
  return slices;
}

/**
 * `<service>-<cluster>-<ipv4|ipv6>-<index>`, or, when that exceeds 63 characters, its first part
 * and a hash of the whole: the same inputs always give the same name, and different ones
 * practically never collide.
 */
export function endpointSliceName(service: string, cluster: string, family: AddressFamily, index: number): string {
  const full = `${service}-${cluster}-${family.toLowerCase()}-${index}`;
  if (full.length <= MAX_OBJECT_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  const head = full.slice(0, MAX_OBJECT_NAME - hash.length - 1).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/** A fresh copy in a fixed key order (fingerprints compare JSON). */
function sessionAffinityConfigOf(c: NonNullable<ImportState['sessionAffinityConfig']>): { clientIP?: { timeoutSeconds?: number } } {
  const timeout = c.clientIP?.timeoutSeconds;
  return c.clientIP === undefined ? {} : { clientIP: timeout !== undefined ? { timeoutSeconds: timeout } : {} };
}

function familyOf(address: string): AddressFamily {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

function portOf(p: ServicePort): { name?: string; port: number; protocol: string; appProtocol?: string } {
  return {
    ...(p.name !== undefined ? { name: p.name } : {}),
    port: p.port,
    protocol: p.protocol,
    ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
  };
}

// ---- recovering what is held ---------------------------------------------------------------------

type Fields = Readonly<Record<string, unknown>>;

const fieldsOf = (v: unknown): Fields | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Fields) : undefined);
const listOf = (v: unknown): readonly unknown[] | undefined => (Array.isArray(v) ? v : undefined);

/**
 * The ImportState that `desiredImport` made these objects from, read back from them: what a
 * restarted agent holds before the hub has said anything, so that its first sync can name it by
 * digest (SyncRequest.held) and be answered with what differs, not everything. The objects say
 * all of an import (the hub sends no field they leave out, api/hub-messages.ts) except in two
 * cases, where what is read back is another import: an endpoint with both an IPv4 and an IPv6
 * address (it is split across two slices), and a cluster whose endpoints do not list the IPv4 ones
 * first. Nothing here is trusted: an import read back wrong, or objects someone edited, only give a
 * digest the hub does not have, and it sends that import whole. Undefined when the objects are not
 * the shape the agent writes (no status yet, a slice the import does not account for).
 */
export function recoverImport(serviceImport: KubeObject, slices: readonly KubeObject[]): ImportState | undefined {
  const { name, namespace } = serviceImport.metadata;
  const spec = fieldsOf(serviceImport['spec']);
  const clusters = listOf(fieldsOf(serviceImport['status'])?.['clusters'])?.map((c) => fieldsOf(c)?.['cluster']);
  if (namespace === undefined || spec === undefined || clusters === undefined || !clusters.every((c) => typeof c === 'string')) return undefined;
  const byName = new Map(slices.map((s) => [s.metadata.name, s]));
  const endpoints: ImportState['endpoints'] = [];
  const clusterPorts: NonNullable<ImportState['clusterPorts']> = [];
  for (const cluster of clusters) {
    let ports: string | undefined;
    for (const family of ['IPv4', 'IPv6'] as const) {
      for (let i = 0; ; i++) {
        const sliceName = endpointSliceName(name, cluster, family, i);
        const slice = byName.get(sliceName);
        if (slice === undefined) break;
        byName.delete(sliceName);
        // One cluster's slices all carry its ports: its clusterPorts entry.
        const these = JSON.stringify(slice['ports']);
        if (ports === undefined) {
          ports = these;
          clusterPorts.push({ cluster, ports: (listOf(slice['ports']) ?? []).map(servicePortOf) });
        } else if (these !== ports) return undefined;
        for (const ep of listOf(slice['endpoints']) ?? []) endpoints.push(importEndpointOf(cluster, fieldsOf(ep) ?? {}));
      }
    }
  }
  if (byName.size > 0) return undefined;
  const owned = ownedLabels(name);
  const labels = Object.fromEntries(Object.entries(serviceImport.metadata.labels ?? {}).filter(([k]) => !(k in owned)));
  const annotations = serviceImport.metadata.annotations ?? {};
  return {
    ...(Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}),
    ...(clusterPorts.length > 0 ? { clusterPorts } : {}),
    clusters,
    endpoints,
    ...present('internalTrafficPolicy', spec['internalTrafficPolicy']),
    ips: [...((listOf(spec['ips']) ?? []) as string[])],
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    name,
    namespace,
    ports: (listOf(spec['ports']) ?? []).map(servicePortOf),
    sessionAffinity: spec['sessionAffinity'] as ImportState['sessionAffinity'],
    ...present('sessionAffinityConfig', spec['sessionAffinityConfig']),
    ...present('trafficDistribution', spec['trafficDistribution']),
    type: spec['type'] as ImportState['type'],
  };
}

function present(field: string, value: unknown): Fields {
  return value === undefined ? {} : { [field]: value };
}

function servicePortOf(v: unknown): ServicePort {
  const p = fieldsOf(v) ?? {};
  return {
    ...present('appProtocol', p['appProtocol']),
    ...present('name', p['name']),
    port: p['port'],
    protocol: p['protocol'],
  } as ServicePort;
}

function importEndpointOf(cluster: string, ep: Fields): ImportState['endpoints'][number] {
  const conditions = fieldsOf(ep['conditions']) ?? {};
  return {
    addresses: ep['addresses'],
    cluster,
    ...present('hostname', ep['hostname']),
    ready: conditions['ready'],
    serving: conditions['serving'],
    terminating: conditions['terminating'],
    ...present('zone', ep['zone']),
  } as ImportState['endpoints'][number];
}

// ---- ServiceExport status ------------------------------------------------------------------------

export const ExportConditionType = { Valid: 'Valid', Ready: 'Ready', Conflict: 'Conflict' } as const;

/**
 * The conditions of one of our ServiceExports: a local problem (no Service, a bad annotation)
 * wins, because such an export was never reported and the hub's word on it is stale; otherwise
 * the hub's. A local condition keeps its lastTransitionTime while its status holds.
 */
export function exportConditions(
  hub: readonly Condition[] | undefined,
  local: LocalExportProblem | undefined,
  previous: readonly K8sCondition[] | undefined,
  now: string,
): K8sCondition[] {
  if (local !== undefined) {
    const prev = previous?.find((c) => c.type === ExportConditionType.Valid);
    return [
      {
        type: ExportConditionType.Valid,
        status: 'False',
        reason: local.reason,
        message: local.message,
        lastTransitionTime: prev?.status === 'False' ? prev.lastTransitionTime : now,
      },
    ];
  }
  return [...(hub ?? [])].map((c) => ({ ...c })).sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export function serviceExportStatusObject(namespace: string, name: string, conditions: readonly K8sCondition[]): KubeObject {
  return { apiVersion: MCS_API_VERSION, kind: 'ServiceExport', metadata: { name, namespace }, status: { conditions: [...conditions] } };
}

// ---- comparing -----------------------------------------------------------------------------------

/**
 * Whether everything `desired` sets is already so in `actual` (which may hold more: server
 * defaults, other managers' fields). Lists must match element by element. Used to adopt objects
 * a previous agent wrote without rewriting them.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  // Plain loops, no Object.entries: a restarted agent compares every object it adopts (100,000
  // endpoints in the benchmark's warm resync), and the arrays entries() makes were its garbage.
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return false;
    for (let i = 0; i < desired.length; i++) if (!isSubset(desired[i], actual[i])) return false;
    return true;
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
    const d = desired as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    for (const k in d) {
      if (!Object.hasOwn(d, k)) continue;
      const v = d[k];
      if (v !== undefined && !isSubset(v, a[k])) return false;
    }
    return true;
  }
  return desired === actual;
}
