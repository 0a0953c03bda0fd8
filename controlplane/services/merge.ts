// The merge of one global service (KEP-1645, Kubernetes Multi-Cluster Services): the exports of
// the same namespace/name from every cluster, plus an ExternalService of that name, become one
// service. Its shape (ports, type, affinity, ...) and what each export lost are shape.ts's, the
// oldest export (exportedAt, ties by cluster name) winning; here every export of a conflicted
// service gets `Conflict=True` naming the winner, and the merged view is built. Pure: plain data
// in, plain data out. The incremental bookkeeping lives in model.ts.
import type { Condition } from '../api/conditions.ts';
import type { ExportStatus, ServicePort, ServiceType } from '../api/messages.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import { compareExporters, type Exporter, type SessionAffinity } from './exporters.ts';
import { REASON_ORDER, resolveShape, type ConflictNote, type ShapeExtras } from './shape.ts';
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
const MAX_MESSAGE = 1024;

export interface ExporterSummary {
  readonly cluster: string;
  readonly exportedAt: string;
  readonly endpoints: number;
  readonly available: boolean;
  /** The conflict reasons this export lost on, comma-joined; absent when it lost nothing. */
  readonly conflict?: string;
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
