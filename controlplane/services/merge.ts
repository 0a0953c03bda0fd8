// The merge of one global service (KEP-1645, Kubernetes Multi-Cluster Services): the exports of
// the same namespace/name from every cluster, plus an ExternalService of that name, become one
// service. Ports are unioned, merged by port number and protocol, and ports that are not identical
// in every export raise a PortConflict (the union stays); a property that cannot be merged (a
// port's name or properties, ClusterSetIP vs Headless, session affinity and its config, internal
// traffic policy, traffic distribution, exported labels, exported annotations) resolves to the
// oldest export (exportedAt, ties by cluster name), and every export of a conflicted service gets
// `Conflict=True` naming the winner. Pure: plain data in, plain data out. The incremental
// bookkeeping lives in model.ts.
import type { Condition } from '../api/conditions.ts';
import type { ExportStatus, InternalTrafficPolicy, ServicePort, ServiceType, SessionAffinityConfig } from '../api/messages.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import { compareExporters, type Exporter, type SessionAffinity } from './exporters.ts';
import { jsonEqual } from './json-equal.ts';
import type { ClusterPlace } from './topology.ts';

// ServiceExport condition types and reasons, as the upstream MCS API (sigs.k8s.io/mcs-api) names
// them, so that tools reading ServiceExport status understand ours.
export const ServiceExportConditionType = { Valid: 'Valid', Ready: 'Ready', Conflict: 'Conflict' } as const;
export const ServiceExportReason = {
  Valid: 'Valid',
  Exported: 'Exported',
  NoConflicts: 'NoConflicts',
  PortConflict: 'PortConflict',
  TypeConflict: 'TypeConflict',
  SessionAffinityConflict: 'SessionAffinityConflict',
  SessionAffinityConfigConflict: 'SessionAffinityConfigConflict',
  InternalTrafficPolicyConflict: 'InternalTrafficPolicyConflict',
  TrafficDistributionConflict: 'TrafficDistributionConflict',
  LabelsConflict: 'LabelsConflict',
  AnnotationsConflict: 'AnnotationsConflict',
  /** Ours: the exporting cluster is unavailable, so its endpoints are withdrawn from every import. */
  ClusterUnavailable: 'ClusterUnavailable',
  /** Ours: the export names a cluster the registry does not know (deleted while exporting). */
  ClusterNotRegistered: 'ClusterNotRegistered',
  /** Ours: no exporting cluster is available, so the service has no endpoints anywhere. */
  NoAvailableExporters: 'NoAvailableExporters',
} as const;
export type ConflictReason =
  | 'TypeConflict'
  | 'PortConflict'
  | 'SessionAffinityConflict'
  | 'SessionAffinityConfigConflict'
  | 'InternalTrafficPolicyConflict'
  | 'TrafficDistributionConflict'
  | 'LabelsConflict'
  | 'AnnotationsConflict';
const REASON_ORDER: readonly ConflictReason[] = [
  'TypeConflict',
  'PortConflict',
  'SessionAffinityConflict',
  'SessionAffinityConfigConflict',
  'InternalTrafficPolicyConflict',
  'TrafficDistributionConflict',
  'LabelsConflict',
  'AnnotationsConflict',
];

const MAX_MESSAGE = 1024;

export interface ExporterSummary {
  readonly cluster: string;
  readonly exportedAt: string;
  readonly endpoints: number;
  readonly available: boolean;
  /** The conflict reasons this export lost on, comma-joined; absent when it lost nothing. */
  readonly conflict?: string;
}

/** The properties of a merged service besides its type and ports: the oldest export's. */
export interface ShapeExtras {
  readonly sessionAffinityConfig?: SessionAffinityConfig | undefined;
  readonly internalTrafficPolicy?: InternalTrafficPolicy | undefined;
  readonly trafficDistribution?: string | undefined;
  /** For the ServiceImports: the exported labels and annotations. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/** A global service as `causeway get services` shows it. */
export interface GlobalService extends ShapeExtras {
  readonly namespace: string;
  readonly name: string;
  readonly type: ServiceType;
  readonly ports: readonly ServicePort[];
  readonly sessionAffinity: SessionAffinity;
  readonly vip?: string;
  /** Oldest export first. */
  readonly exporters: readonly ExporterSummary[];
  readonly conditions: readonly Condition[];
  /** Endpoints of available exporters: what importers can be handed. */
  readonly endpointCount: number;
}

export interface Shape extends ShapeExtras {
  readonly type: ServiceType;
  readonly ports: readonly ServicePort[];
  readonly sessionAffinity: SessionAffinity;
}

export interface ConflictNote {
  readonly reason: ConflictReason;
  /** The cluster whose value won. */
  readonly winner: string;
  readonly message: string;
}

export interface Resolution extends Shape {
  /** Per losing exporter: what it lost and to whom. */
  readonly lost: ReadonlyMap<string, readonly ConflictNote[]>;
}

// ---- conflict resolution -----------------------------------------------------------------------

function showPort(p: ServicePort): string {
  return `${p.name !== undefined && p.name !== '' ? `"${p.name}" ` : ''}${p.port}/${p.protocol}${p.appProtocol !== undefined ? ` (${p.appProtocol})` : ''}`;
}

function samePort(a: ServicePort, b: ServicePort): boolean {
  return (a.name ?? '') === (b.name ?? '') && a.port === b.port && a.protocol === b.protocol && (a.appProtocol ?? '') === (b.appProtocol ?? '');
}

function comparePorts(a: ServicePort, b: ServicePort): number {
  if (a.port !== b.port) return a.port - b.port;
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  const an = a.name ?? '';
  const bn = b.name ?? '';
  return an < bn ? -1 : an > bn ? 1 : 0;
}

function portsKey(ports: readonly ServicePort[]): string {
  return JSON.stringify([...ports].sort(comparePorts).map((p) => [p.port, p.protocol, p.name ?? '', p.appProtocol ?? '']));
}

function showPorts(ports: readonly ServicePort[]): string {
  return ports.length === 0 ? 'none' : [...ports].sort(comparePorts).map(showPort).join(', ');
}

function showValue(v: unknown): string {
  return v === undefined ? 'unset' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** A property merged as a whole: the oldest export's value, `same` saying when another agrees. */
interface WholeProperty {
  readonly reason: ConflictReason;
  readonly field: string;
  readonly value: (e: Exporter) => unknown;
  /** Whether to compare `e` at all (session affinity config: only between equal affinities). */
  readonly applies?: (e: Exporter, first: Exporter) => boolean;
}

const WHOLE_PROPERTIES: readonly WholeProperty[] = [
  { reason: 'TypeConflict', field: 'type', value: (e) => e.type },
  { reason: 'SessionAffinityConflict', field: 'sessionAffinity', value: (e) => e.sessionAffinity },
  {
    reason: 'SessionAffinityConfigConflict',
    field: 'sessionAffinityConfig',
    value: (e) => e.sessionAffinityConfig,
    // A different affinity is already its own conflict; its config follows from it.
    applies: (e, first) => e.sessionAffinity === first.sessionAffinity,
  },
  // Unset is what the API server defaults to Cluster (an agent too old to report it says nothing).
  { reason: 'InternalTrafficPolicyConflict', field: 'internalTrafficPolicy', value: (e) => e.internalTrafficPolicy ?? 'Cluster' },
  { reason: 'TrafficDistributionConflict', field: 'trafficDistribution', value: (e) => e.trafficDistribution },
  { reason: 'LabelsConflict', field: 'exportedLabels', value: (e) => e.labels },
  { reason: 'AnnotationsConflict', field: 'exportedAnnotations', value: (e) => e.annotations },
];

/**
 * The merged shape of `exporters` (sorted oldest first) and what each lost. Ports are merged by
 * number and protocol (KEP-1645, "Service Port"): a port is accepted unless an older export already
 * has that number and protocol with other properties (name, appProtocol), or already uses its name
 * (unnamed counts as a name) for another port; a conflicting port is left out while the export's
 * other ports still join the union. Exports whose ports are not identical to the oldest's raise a
 * PortConflict too, though the union keeps every port. Every other property is the oldest export's.
 */
export function resolveShape(exporters: readonly Exporter[]): Resolution {
  const first = exporters[0];
  if (first === undefined) return { type: 'ClusterSetIP', ports: [], sessionAffinity: 'None', lost: new Map() };
  const lost = new Map<string, ConflictNote[]>();
  const note = (cluster: string, n: ConflictNote): void => {
    const list = lost.get(cluster);
    if (list === undefined) lost.set(cluster, [n]);
    else list.push(n);
  };
  for (const e of exporters) {
    if (e === first) continue;
    for (const prop of WHOLE_PROPERTIES) {
      if (prop.applies !== undefined && !prop.applies(e, first)) continue;
      const winner = prop.value(first);
      const mine = prop.value(e);
      if (jsonEqual(winner, mine)) continue;
      note(e.cluster, {
        reason: prop.reason,
        winner: first.cluster,
        message: `${prop.field} is ${showValue(winner)} as in the oldest export (cluster "${first.cluster}"); this export's ${showValue(mine)} is overridden`,
      });
    }
  }
  const accepted: ServicePort[] = [];
  const byName = new Map<string, { port: ServicePort; owner: string }>();
  const byPortProtocol = new Map<string, { port: ServicePort; owner: string }>();
  for (const e of exporters) {
    for (const p of e.ports) {
      const name = p.name ?? '';
      const key = `${p.port}/${p.protocol}`;
      const same = byPortProtocol.get(key);
      if (same !== undefined && samePort(same.port, p)) continue;
      const named = byName.get(name);
      const clash =
        same !== undefined
          ? {
              owner: same.owner,
              message: `port ${key} is ${showPort(same.port)} in cluster "${same.owner}", an older export; this export's ${showPort(p)} is left out`,
            }
          : named !== undefined
            ? {
                owner: named.owner,
                message: `port ${name === '' ? '(unnamed)' : `"${name}"`} is ${showPort(named.port)} in cluster "${named.owner}", an older export; this export's ${showPort(p)} is left out`,
              }
            : undefined;
      if (clash !== undefined) {
        // Within one export the API server already refuses such ports; only other exports conflict.
        if (clash.owner !== e.cluster) note(e.cluster, { reason: 'PortConflict', winner: clash.owner, message: clash.message });
        continue;
      }
      const entry = { port: p, owner: e.cluster };
      accepted.push(p);
      byName.set(name, entry);
      byPortProtocol.set(key, entry);
    }
  }
  const reference = portsKey(first.ports);
  for (const e of exporters) {
    if (e === first || portsKey(e.ports) === reference) continue;
    if (lost.get(e.cluster)?.some((n) => n.reason === 'PortConflict') === true) continue;
    note(e.cluster, {
      reason: 'PortConflict',
      winner: first.cluster,
      message: `ports differ from the oldest export's (cluster "${first.cluster}": ${showPorts(first.ports)}); this export has ${showPorts(e.ports)}: the import exposes the union, each port leading only to the clusters that expose it`,
    });
  }
  return {
    type: first.type,
    ports: accepted.sort(comparePorts),
    sessionAffinity: first.sessionAffinity,
    ...shapeExtras(first),
    lost,
  };
}

/** The oldest export's properties besides type, ports and affinity; absent ones left out. */
function shapeExtras(e: Exporter): ShapeExtras {
  return {
    ...(e.sessionAffinityConfig !== undefined ? { sessionAffinityConfig: e.sessionAffinityConfig } : {}),
    ...(e.internalTrafficPolicy !== undefined ? { internalTrafficPolicy: e.internalTrafficPolicy } : {}),
    ...(e.trafficDistribution !== undefined ? { trafficDistribution: e.trafficDistribution } : {}),
    ...(e.labels !== undefined ? { labels: e.labels } : {}),
    ...(e.annotations !== undefined ? { annotations: e.annotations } : {}),
  };
}

// ---- conditions and the merged view ------------------------------------------------------------

function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

function reasonsOf(notes: readonly ConflictNote[]): string {
  const set = new Set(notes.map((n) => n.reason));
  return REASON_ORDER.filter((r) => set.has(r)).join(',');
}

/** Builds a condition, keeping the previous lastTransitionTime when the status did not change. */
function condition(
  previous: readonly Condition[] | undefined,
  type: string,
  status: 'True' | 'False',
  reason: string,
  message: string,
  now: string,
): Condition {
  const prev = previous?.find((c) => c.type === type);
  return { type, status, reason, message: clip(message), lastTransitionTime: prev !== undefined && prev.status === status ? prev.lastTransitionTime : now };
}

export interface MergeServiceInput {
  readonly namespace: string;
  readonly name: string;
  /** Every exporter of the service, oldest first (compareExporters). */
  readonly exporters: readonly Exporter[];
  /** The exporting clusters' places; undefined for a cluster the registry does not know. */
  readonly placeOf: (cluster: string) => ClusterPlace | undefined;
  readonly vip: string | undefined;
  /** lastTransitionTime for conditions whose status changes now. */
  readonly now: string;
  readonly previous?: { readonly service: GlobalService; readonly statuses: ReadonlyMap<string, ExportStatus> } | undefined;
}

export interface MergedService {
  readonly service: GlobalService;
  /** Per exporting cluster: the status to write back to its ServiceExport. */
  readonly statuses: ReadonlyMap<string, ExportStatus>;
}

interface Grouping {
  /** Exporters by clusterset ('' when only ExternalServices export it). */
  readonly groups: ReadonlyMap<string, readonly Exporter[]>;
  readonly external: readonly Exporter[];
  /** Exporting clusters the registry does not know. */
  readonly unknown: ReadonlySet<string>;
}

function groupByClusterSet(exporters: readonly Exporter[], placeOf: (cluster: string) => ClusterPlace | undefined): Grouping {
  const groups = new Map<string, Exporter[]>();
  const external: Exporter[] = [];
  const unknown = new Set<string>();
  for (const e of exporters) {
    if (e.cluster === RESERVED_CLUSTER_NAME) {
      external.push(e);
      continue;
    }
    const place = placeOf(e.cluster);
    if (place === undefined) {
      unknown.add(e.cluster);
      continue;
    }
    const g = groups.get(place.clusterSet);
    if (g === undefined) groups.set(place.clusterSet, [e]);
    else g.push(e);
  }
  if (groups.size === 0 && external.length > 0) groups.set('', []);
  return { groups, external, unknown };
}

interface GroupConflict {
  readonly reasons: string;
  readonly losers: readonly string[];
}

interface Conflicts {
  /** Per losing exporter: what it lost, across clustersets. */
  readonly lost: ReadonlyMap<string, readonly ConflictNote[]>;
  /** Per member of a conflicted clusterset (winners too): the summary of its group's conflict. */
  readonly groupOf: ReadonlyMap<string, GroupConflict>;
}

/** Conflicts resolved within each clusterset; an ExternalService takes part in every one. */
function resolveConflicts({ groups, external }: Grouping): Conflicts {
  const lost = new Map<string, ConflictNote[]>();
  const groupOf = new Map<string, GroupConflict>();
  for (const group of groups.values()) {
    const members = external.length === 0 ? group : [...group, ...external].sort(compareExporters);
    const r = resolveShape(members);
    if (r.lost.size === 0) continue;
    const all: ConflictNote[] = [];
    for (const [cluster, notes] of r.lost) {
      const mine = lost.get(cluster) ?? [];
      for (const n of notes) if (!mine.some((m) => m.message === n.message)) mine.push(n);
      lost.set(cluster, mine);
      all.push(...notes);
    }
    const summary = {
      reasons: reasonsOf(all),
      losers: [...r.lost].map(
        ([cluster, notes]) => `cluster "${cluster}" yields to ${[...new Set(notes.map((n) => `cluster "${n.winner}"`))].join(', ')} (${reasonsOf(notes)})`,
      ),
    };
    for (const m of members) groupOf.set(m.cluster, summary);
  }
  return { lost, groupOf };
}

/** The conditions of one export's ServiceExport. */
function exportConditions(
  e: Exporter,
  available: boolean,
  unknown: boolean,
  conflicts: Conflicts,
  key: string,
  prev: readonly Condition[] | undefined,
  now: string,
): Condition[] {
  if (unknown) {
    return [
      condition(prev, 'Valid', 'False', ServiceExportReason.ClusterNotRegistered, `cluster "${e.cluster}" is not registered; its export is ignored`, now),
    ];
  }
  const conditions: Condition[] = [condition(prev, 'Valid', 'True', ServiceExportReason.Valid, `exported as ${key}`, now)];
  conditions.push(
    available
      ? condition(prev, 'Ready', 'True', ServiceExportReason.Exported, `merged into the global service ${key}`, now)
      : condition(
          prev,
          'Ready',
          'False',
          ServiceExportReason.ClusterUnavailable,
          `cluster "${e.cluster}" is unavailable: its endpoints are withdrawn from every import`,
          now,
        ),
  );
  const mine = conflicts.lost.get(e.cluster);
  const group = conflicts.groupOf.get(e.cluster);
  if (mine !== undefined) {
    conditions.push(condition(prev, 'Conflict', 'True', reasonsOf(mine), mine.map((n) => n.message).join('; '), now));
  } else if (group !== undefined) {
    conditions.push(condition(prev, 'Conflict', 'True', group.reasons, `exports of ${key} conflict and the oldest wins: ${group.losers.join('; ')}`, now));
  } else {
    conditions.push(condition(prev, 'Conflict', 'False', ServiceExportReason.NoConflicts, 'all exports agree', now));
  }
  return conditions;
}

/** The conditions of the global service as a whole. */
function serviceConditions(
  prev: readonly Condition[] | undefined,
  merged: number,
  conflicts: Conflicts,
  availableExporters: number,
  endpointCount: number,
  now: string,
): Condition[] {
  const allNotes = [...conflicts.lost.values()].flat();
  const losers = [...conflicts.groupOf.values()].flatMap((g) => g.losers).filter((v, i, a) => a.indexOf(v) === i);
  return [
    condition(prev, 'Valid', 'True', ServiceExportReason.Valid, `${merged} export(s) merged`, now),
    allNotes.length > 0
      ? condition(prev, 'Conflict', 'True', reasonsOf(allNotes), losers.join('; '), now)
      : condition(prev, 'Conflict', 'False', ServiceExportReason.NoConflicts, 'all exports agree', now),
    availableExporters > 0
      ? condition(prev, 'Ready', 'True', ServiceExportReason.Exported, `${availableExporters} available exporter(s), ${endpointCount} endpoint(s)`, now)
      : condition(prev, 'Ready', 'False', ServiceExportReason.NoAvailableExporters, 'no exporting cluster is available', now),
  ];
}

/**
 * Merges one global service. Conflicts are resolved within each clusterset (clustersets share
 * nothing); an ExternalService takes part in every clusterset. The shape shown for the service as
 * a whole is resolved over all its exporters, which is the same thing when there is one clusterset.
 */
export function mergeService(input: MergeServiceInput): MergedService {
  const { exporters, placeOf, now } = input;
  const key = `${input.namespace}/${input.name}`;
  const grouping = groupByClusterSet(exporters, placeOf);
  const { unknown } = grouping;
  const conflicts = resolveConflicts(grouping);
  const shape = resolveShape(exporters.filter((e) => !unknown.has(e.cluster)));
  let endpointCount = 0;
  let availableExporters = 0;
  const summaries: ExporterSummary[] = [];
  const statuses = new Map<string, ExportStatus>();
  for (const e of exporters) {
    const available = e.cluster === RESERVED_CLUSTER_NAME || (placeOf(e.cluster)?.available ?? false);
    if (available) {
      endpointCount += e.endpoints.length;
      availableExporters++;
    }
    const mine = conflicts.lost.get(e.cluster);
    summaries.push({
      cluster: e.cluster,
      exportedAt: e.exportedAt,
      endpoints: e.endpoints.length,
      available,
      ...(mine !== undefined ? { conflict: reasonsOf(mine) } : {}),
    });
    const prev = input.previous?.statuses.get(e.cluster)?.conditions;
    const conditions = exportConditions(e, available, unknown.has(e.cluster), conflicts, key, prev, now);
    statuses.set(e.cluster, { namespace: input.namespace, name: input.name, conditions });
  }
  const conditions = serviceConditions(input.previous?.service.conditions, exporters.length - unknown.size, conflicts, availableExporters, endpointCount, now);
  const service: GlobalService = {
    namespace: input.namespace,
    name: input.name,
    type: shape.type,
    ports: shape.ports,
    sessionAffinity: shape.sessionAffinity,
    ...(shape.sessionAffinityConfig !== undefined ? { sessionAffinityConfig: shape.sessionAffinityConfig } : {}),
    ...(shape.internalTrafficPolicy !== undefined ? { internalTrafficPolicy: shape.internalTrafficPolicy } : {}),
    ...(shape.trafficDistribution !== undefined ? { trafficDistribution: shape.trafficDistribution } : {}),
    ...(shape.labels !== undefined ? { labels: shape.labels } : {}),
    ...(shape.annotations !== undefined ? { annotations: shape.annotations } : {}),
    ...(input.vip !== undefined && shape.type === 'ClusterSetIP' ? { vip: input.vip } : {}),
    exporters: summaries,
    conditions,
    endpointCount,
  };
  return { service, statuses };
}
