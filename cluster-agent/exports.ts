// Export side, pure: one ServiceExport with its Service, the Service's EndpointSlices and the
// labels of the nodes its endpoints run on → the ExportState the agent reports to the hub, or the
// reason it cannot be exported (written back locally as a `Valid=False` condition).
import { isIpAddress } from '../controlplane/api/cidr.ts';
import { checkLabelKey, checkLabelValue } from '../controlplane/api/labels.ts';
import type { Endpoint, ExportState, ServicePort, SessionAffinityConfig } from '../controlplane/api/messages.ts';
import {
  EXPORT_TO_ANNOTATION,
  Labels,
  MANAGED_BY_AGENT,
  OWNED_BY_LABEL,
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
const MAX_EXPORTED_ENTRIES = 64;
const MAX_ANNOTATION_VALUE = 4096;
/** Labels the agent puts on every ServiceImport it writes: an exported label may not replace them. */
const RESERVED_IMPORT_LABELS: readonly string[] = [OWNED_BY_LABEL, Labels.McsServiceName];

export const ExportReason = {
  ServiceNotFound: 'ServiceNotFound',
  InvalidExportTo: 'InvalidExportTo',
  UnsupportedServiceType: 'UnsupportedServiceType',
  InvalidExportedLabels: 'InvalidExportedLabels',
  InvalidExportedAnnotations: 'InvalidExportedAnnotations',
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
  const sessionAffinity = svc.spec?.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
  const affinityConfig = sessionAffinity === 'ClientIP' ? sessionAffinityConfigOf(svc) : undefined;
  const internalTrafficPolicy = svc.spec?.internalTrafficPolicy;
  const trafficDistribution = svc.spec?.trafficDistribution;
  const exportedLabels = nonEmpty(se.spec?.exportedLabels);
  const exportedAnnotations = nonEmpty(se.spec?.exportedAnnotations);
  const state: ExportState = {
    namespace,
    name,
    exportedAt: normaliseTime(se.metadata.creationTimestamp),
    type: svc.spec?.clusterIP === 'None' ? 'Headless' : 'ClusterSetIP',
    ports: servicePorts(svc),
    sessionAffinity,
    ...(affinityConfig !== undefined ? { sessionAffinityConfig: affinityConfig } : {}),
    ...(internalTrafficPolicy === 'Cluster' || internalTrafficPolicy === 'Local' ? { internalTrafficPolicy } : {}),
    ...(trafficDistribution !== undefined && trafficDistribution !== '' && trafficDistribution.length <= 63 ? { trafficDistribution } : {}),
    ...(exportedLabels !== undefined ? { exportedLabels } : {}),
    ...(exportedAnnotations !== undefined ? { exportedAnnotations } : {}),
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
  if (!exportTo.ok) return { reason: ExportReason.InvalidExportTo, message: exportTo.message };
  const labels = checkExported('exportedLabels', se.spec?.exportedLabels, (k, v) =>
    RESERVED_IMPORT_LABELS.includes(k) ? `is set by the agent on every ServiceImport and cannot be exported` : (checkLabelKey(k) ?? checkLabelValue(v)),
  );
  if (labels !== undefined) return { reason: ExportReason.InvalidExportedLabels, message: `ServiceExport ${where}: ${labels}` };
  const annotations = checkExported(
    'exportedAnnotations',
    se.spec?.exportedAnnotations,
    (k, v) => checkLabelKey(k) ?? (v.length > MAX_ANNOTATION_VALUE ? `the value is longer than ${MAX_ANNOTATION_VALUE} characters` : undefined),
  );
  if (annotations !== undefined) return { reason: ExportReason.InvalidExportedAnnotations, message: `ServiceExport ${where}: ${annotations}` };
  return undefined;
}

/** Why an exported label or annotation map cannot be carried to the ServiceImports; undefined when it can. */
function checkExported(
  field: string,
  map: Readonly<Record<string, unknown>> | null | undefined,
  check: (key: string, value: string) => string | undefined,
): string | undefined {
  if (map === undefined || map === null) return undefined;
  const entries = Object.entries(map);
  if (entries.length > MAX_EXPORTED_ENTRIES) return `spec.${field} has ${entries.length} entries; at most ${MAX_EXPORTED_ENTRIES} can be exported`;
  for (const [key, value] of entries) {
    if (typeof value !== 'string') return `spec.${field}["${key}"] must be a string`;
    const problem = check(key, value);
    if (problem !== undefined) return `spec.${field}["${key}"]: ${problem}`;
  }
  return undefined;
}

function nonEmpty(map: Readonly<Record<string, string>> | null | undefined): Record<string, string> | undefined {
  return map === undefined || map === null || Object.keys(map).length === 0 ? undefined : { ...map };
}

/** The Service's ClientIP timeout, when it is a valid one (the API server defaults it to 10800 s). */
function sessionAffinityConfigOf(svc: ServiceObject): SessionAffinityConfig | undefined {
  const timeout = svc.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  return typeof timeout === 'number' && Number.isInteger(timeout) && timeout >= 1 && timeout <= 86_400 ? { clientIP: { timeoutSeconds: timeout } } : undefined;
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
