// Export side, pure: one ServiceExport with its Service, the Service's EndpointSlices and the
// labels of the nodes its endpoints run on → the ExportState the agent reports to the hub, or the
// reason it cannot be exported (written back locally as a `Valid=False` condition).
import { isIpAddress } from '../controlplane/api/cidr.ts';
import { checkLabelKey, checkLabelValue } from '../controlplane/api/labels.ts';
import type { Endpoint, ExportState, ServicePort } from '../controlplane/api/messages.ts';
import {
  EXPORT_TO_ANNOTATION,
  Labels,
  MANAGED_BY_AGENT,
  type EndpointObject,
  type EndpointSliceObject,
  type ServiceExportObject,
  type ServiceObject,
} from './objects.ts';

/** Node labels worth routing on; everything else about a node stays in its cluster. */
export const DEFAULT_NODE_LABEL_ALLOW_LIST: readonly string[] = [
  'nvidia.com/gpu.product',
  'nvidia.com/gpu.count',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'node.kubernetes.io/instance-type',
];

const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Limits of the message schema (messages.ts), applied here so that a report is never refused. */
export const MAX_ENDPOINTS_PER_EXPORT = 5000;
const MAX_ADDRESSES_PER_ENDPOINT = 16;
const MAX_PORTS = 100;

export const ExportReason = {
  ServiceNotFound: 'ServiceNotFound',
  InvalidExportTo: 'InvalidExportTo',
  UnsupportedServiceType: 'UnsupportedServiceType',
} as const;
export type ExportReason = (typeof ExportReason)[keyof typeof ExportReason];

/** Why an export cannot be reported; becomes `Valid=False` on the ServiceExport. */
export interface LocalExportProblem {
  readonly reason: ExportReason;
  readonly message: string;
}

export type ExportComputation =
  { readonly ok: true; readonly state: ExportState; readonly truncatedEndpoints: number } | { readonly ok: false; readonly problem: LocalExportProblem };

export interface ExportInput {
  readonly serviceExport: ServiceExportObject;
  readonly service: ServiceObject | undefined;
  /** Slices of any service; only the Service's own (not ours) are used. */
  readonly endpointSlices: readonly EndpointSliceObject[];
  /** Labels of a node by name; undefined when unknown. */
  readonly nodeLabels?: ((nodeName: string) => Readonly<Record<string, string>> | undefined) | undefined;
  readonly nodeLabelAllowList?: readonly string[] | undefined;
}

export function computeExport(input: ExportInput): ExportComputation {
  const se = input.serviceExport;
  const svc = input.service;
  const problem = exportProblem(se, svc);
  if (problem !== undefined || svc === undefined) {
    return { ok: false, problem: problem ?? { reason: ExportReason.ServiceNotFound, message: 'Service not found' } };
  }
  const namespace = se.metadata.namespace ?? '';
  const name = se.metadata.name;
  const exportTo = parseExportTo(se.metadata.annotations?.[EXPORT_TO_ANNOTATION]);
  const selector = exportTo.ok ? exportTo.selector : undefined;
  const { endpoints, truncated } = collectEndpoints(name, input);
  const state: ExportState = {
    namespace,
    name,
    exportedAt: normaliseTime(se.metadata.creationTimestamp),
    type: svc.spec?.clusterIP === 'None' ? 'Headless' : 'ClusterSetIP',
    ports: servicePorts(svc),
    sessionAffinity: svc.spec?.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None',
    ...(selector !== undefined ? { exportTo: { matchLabels: selector } } : {}),
    endpoints,
  };
  const endpointPorts = sliceEndpointPorts(name, input);
  return { ok: true, state: endpointPorts.length > 0 ? { ...state, endpointPorts } : state, truncatedEndpoints: truncated };
}

/** Why this ServiceExport cannot be exported, without looking at endpoints; undefined when it can. */
export function exportProblem(se: ServiceExportObject, svc: ServiceObject | undefined): LocalExportProblem | undefined {
  const where = `${se.metadata.namespace ?? ''}/${se.metadata.name}`;
  if (svc === undefined) {
    return { reason: ExportReason.ServiceNotFound, message: `Service ${where} does not exist; create it or delete the ServiceExport` };
  }
  if (svc.spec?.type === 'ExternalName') {
    return { reason: ExportReason.UnsupportedServiceType, message: `Service ${where} is of type ExternalName, which cannot be exported (KEP-1645)` };
  }
  const exportTo = parseExportTo(se.metadata.annotations?.[EXPORT_TO_ANNOTATION]);
  return exportTo.ok ? undefined : { reason: ExportReason.InvalidExportTo, message: exportTo.message };
}

/** `k=v,k2=v2` → matchLabels; absent → no restriction. Anything else is an error saying how to fix it. */
export function parseExportTo(
  value: string | undefined,
): { readonly ok: true; readonly selector: Record<string, string> | undefined } | { readonly ok: false; readonly message: string } {
  if (value === undefined) return { ok: true, selector: undefined };
  const fail = (why: string): { ok: false; message: string } => ({
    ok: false,
    message: `annotation ${EXPORT_TO_ANNOTATION}="${value}": ${why}; expected comma-separated key=value pairs such as "gpu=true,env=prod"`,
  });
  if (value.trim() === '') return fail('is empty');
  const selector: Record<string, string> = {};
  for (const raw of value.split(',')) {
    const part = raw.trim();
    const eq = part.indexOf('=');
    if (eq <= 0) return fail(`"${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    const problem = checkLabelKey(key) ?? checkLabelValue(v);
    if (problem !== undefined) return fail(problem);
    if (key in selector && selector[key] !== v) return fail(`key "${key}" is given twice with different values`);
    selector[key] = v;
  }
  return { ok: true, selector };
}

/** The API server's timestamps are whole seconds; lists and watches format them differently. */
function normaliseTime(t: string | undefined): string {
  const d = t === undefined ? new Date(0) : new Date(t);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

function servicePorts(svc: ServiceObject): ServicePort[] {
  return (svc.spec?.ports ?? []).slice(0, MAX_PORTS).flatMap((p): ServicePort[] => {
    const protocol = p.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return [];
    return [
      {
        ...(p.name !== undefined && p.name !== '' ? { name: p.name } : {}),
        port: p.port,
        protocol,
        ...(p.appProtocol !== undefined && p.appProtocol !== '' ? { appProtocol: p.appProtocol } : {}),
      },
    ];
  });
}

/**
 * The ports the Service's endpoints listen on, from its EndpointSlices (the controller resolves
 * targetPort there); one union, by name, over the slices, in a stable order.
 */
function sliceEndpointPorts(serviceName: string, input: ExportInput): ServicePort[] {
  const byKey = new Map<string, ServicePort>();
  for (const slice of input.endpointSlices) {
    if (!isServiceSlice(slice, serviceName)) continue;
    for (const p of slice.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      if (p.port === undefined || (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')) continue;
      const port: ServicePort = {
        ...(p.name !== undefined && p.name !== '' ? { name: p.name } : {}),
        port: p.port,
        protocol,
        ...(p.appProtocol !== undefined && p.appProtocol !== '' ? { appProtocol: p.appProtocol } : {}),
      };
      byKey.set(`${p.name ?? ''}/${protocol}`, port);
    }
  }
  return [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, p]) => p)
    .slice(0, MAX_PORTS);
}

/** Slices that belong to the Service and were not written by us (our imports are never re-exported). */
export function isServiceSlice(slice: EndpointSliceObject, serviceName: string): boolean {
  const labels = slice.metadata.labels ?? {};
  return labels[Labels.ServiceName] === serviceName && labels[Labels.ManagedBy] !== MANAGED_BY_AGENT;
}

function collectEndpoints(serviceName: string, input: ExportInput): { endpoints: Endpoint[]; truncated: number } {
  const allow = input.nodeLabelAllowList ?? DEFAULT_NODE_LABEL_ALLOW_LIST;
  const byAddress = new Map<string, Endpoint>();
  for (const slice of input.endpointSlices) {
    if (!isServiceSlice(slice, serviceName)) continue;
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    for (const ep of slice.endpoints ?? []) {
      const converted = convertEndpoint(ep, allow, input.nodeLabels);
      const first = converted?.addresses[0];
      // During a rollout the same endpoint may sit in two slices for a moment: keep one.
      if (converted !== undefined && first !== undefined && !byAddress.has(first)) byAddress.set(first, converted);
    }
  }
  // A stable order, so that an unchanged service reports an unchanged state; ready ones first
  // so that truncation (beyond the schema's limit) drops the least useful.
  const sorted = [...byAddress.values()].sort((a, b) => Number(b.ready) - Number(a.ready) || compareAddress(a.addresses[0] ?? '', b.addresses[0] ?? ''));
  const endpoints = sorted.slice(0, MAX_ENDPOINTS_PER_EXPORT);
  return { endpoints, truncated: sorted.length - endpoints.length };
}

function compareAddress(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function convertEndpoint(ep: EndpointObject, allow: readonly string[], nodeLabels: ExportInput['nodeLabels']): Endpoint | undefined {
  const addresses = ep.addresses.filter(isIpAddress).slice(0, MAX_ADDRESSES_PER_ENDPOINT);
  if (addresses.length === 0) return undefined;
  // Kubernetes' defaults: ready unset means ready; serving unset defers to ready.
  const ready = ep.conditions?.ready ?? true;
  const serving = ep.conditions?.serving ?? ready;
  const terminating = ep.conditions?.terminating ?? false;
  const node = ep.nodeName !== undefined && ep.nodeName !== '' ? nodeLabels?.(ep.nodeName) : undefined;
  const labels: Record<string, string> = {};
  for (const key of allow) {
    const v = node?.[key];
    if (v !== undefined) labels[key] = v;
  }
  const zone = ep.zone !== undefined && ep.zone !== '' ? ep.zone : node?.[ZONE_LABEL];
  return {
    addresses,
    ready,
    serving,
    terminating,
    ...(ep.hostname !== undefined && ep.hostname !== '' ? { hostname: ep.hostname } : {}),
    ...(ep.nodeName !== undefined && ep.nodeName !== '' ? { nodeName: ep.nodeName } : {}),
    ...(zone !== undefined && zone !== '' ? { zone } : {}),
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
  };
}
