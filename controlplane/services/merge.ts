// The merge of one global service (KEP-1645, Kubernetes Multi-Cluster Services): the exports of
// the same namespace/name from every cluster, plus an ExternalService of that name, become one
// service. Ports are unioned; a property that cannot be merged (a port's name, number or protocol,
// ClusterSetIP vs Headless, session affinity) resolves to the oldest export (exportedAt, ties by
// cluster name), and every export of a conflicted service gets `Conflict=True` naming the winner.
// Pure: plain data in, plain data out. The incremental bookkeeping lives in model.ts.
import type { Condition } from '../api/conditions.ts';
import type { LabelSelector } from '../api/labels.ts';
import type { Endpoint, ExportState, ExportStatus, ImportState, ServicePort, ServiceType } from '../api/messages.ts';
import type { ExternalServiceResource } from '../api/resources.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import type { ClusterPlace } from './topology.ts';

export type SessionAffinity = ExportState['sessionAffinity'];
export type ImportEndpoint = ImportState['endpoints'][number];

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
  /** Ours: the exporting cluster is unavailable, so its endpoints are withdrawn from every import. */
  ClusterUnavailable: 'ClusterUnavailable',
  /** Ours: the export names a cluster the registry does not know (deleted while exporting). */
  ClusterNotRegistered: 'ClusterNotRegistered',
  /** Ours: no exporting cluster is available, so the service has no endpoints anywhere. */
  NoAvailableExporters: 'NoAvailableExporters',
} as const;
export type ConflictReason = 'TypeConflict' | 'PortConflict' | 'SessionAffinityConflict';
const REASON_ORDER: readonly ConflictReason[] = ['TypeConflict', 'PortConflict', 'SessionAffinityConflict'];

/** Exports with no parseable exportedAt sort after every real one: they never win a conflict. */
const UNKNOWN_TIME = Number.MAX_SAFE_INTEGER;
const MAX_MESSAGE = 1024;

/** One exporter of a global service, normalised once when its export changes. */
export interface Exporter {
  readonly cluster: string;
  readonly exportedAt: string;
  readonly exportedAtMs: number;
  readonly type: ServiceType;
  readonly ports: readonly ServicePort[];
  readonly sessionAffinity: SessionAffinity;
  /** Only clusters matching may see this export; undefined: every cluster of its clusterset. */
  readonly exportTo: LabelSelector | undefined;
  /** ExternalService exporters only: the Network their endpoints live in. */
  readonly network: string | undefined;
  /** Converted once to the import shape, so that building an import only concatenates. */
  readonly endpoints: readonly ImportEndpoint[];
  /** The ports the endpoints listen on, when the exporter said (ExportState.endpointPorts). */
  readonly endpointPorts?: readonly ServicePort[] | undefined;
}

export interface ExporterSummary {
  readonly cluster: string;
  readonly exportedAt: string;
  readonly endpoints: number;
  readonly available: boolean;
  /** The conflict reasons this export lost on, comma-joined; absent when it lost nothing. */
  readonly conflict?: string;
}

/** A global service as `causeway get services` shows it. */
export interface GlobalService {
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

export interface Shape {
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

// ---- normalising exporters ---------------------------------------------------------------------

// Keys in alphabetical order here and in normalPort and the imports built from them: their
// JSON.stringify is then their canonical JSON, which makes comparing imports cheap (model.ts).
function toImportEndpoint(cluster: string, e: Endpoint): ImportEndpoint {
  return {
    addresses: e.addresses,
    cluster,
    ...(e.hostname !== undefined ? { hostname: e.hostname } : {}),
    ...(e.nodeName !== undefined ? { nodeName: e.nodeName } : {}),
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

function timeOf(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? UNKNOWN_TIME : t;
}

export function exporterFromExport(cluster: string, state: ExportState): Exporter {
  return {
    cluster,
    exportedAt: state.exportedAt,
    exportedAtMs: timeOf(state.exportedAt),
    type: state.type,
    ports: state.ports.map(normalPort),
    sessionAffinity: state.sessionAffinity,
    exportTo: state.exportTo,
    network: undefined,
    endpoints: state.endpoints.map((e) => toImportEndpoint(cluster, e)),
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

/**
 * The merged shape of `exporters` (sorted oldest first) and what each lost. A port is accepted
 * unless an older export already has a different port with its name (unnamed counts as a name),
 * the same number and protocol under another name, or the same number with another protocol.
 * A conflicting port is left out; the export's other ports still join the union.
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
  const accepted: ServicePort[] = [];
  const byName = new Map<string, { port: ServicePort; owner: string }>();
  const byPortProtocol = new Map<string, { port: ServicePort; owner: string }>();
  const byNumber = new Map<number, { port: ServicePort; owner: string }>();
  for (const e of exporters) {
    if (e !== first && e.type !== first.type) {
      note(e.cluster, {
        reason: 'TypeConflict',
        winner: first.cluster,
        message: `type is ${first.type} as in the oldest export (cluster "${first.cluster}"); this export's ${e.type} is overridden`,
      });
    }
    if (e !== first && e.sessionAffinity !== first.sessionAffinity) {
      note(e.cluster, {
        reason: 'SessionAffinityConflict',
        winner: first.cluster,
        message: `sessionAffinity is ${first.sessionAffinity} as in the oldest export (cluster "${first.cluster}"); this export's ${e.sessionAffinity} is overridden`,
      });
    }
    for (const p of e.ports) {
      const name = p.name ?? '';
      const named = byName.get(name);
      if (named !== undefined && samePort(named.port, p)) continue;
      const pp = byPortProtocol.get(`${p.port}/${p.protocol}`);
      const num = byNumber.get(p.port);
      let clash: { owner: string; message: string } | undefined;
      if (named !== undefined && named.owner !== e.cluster) {
        clash = {
          owner: named.owner,
          message: `port ${name === '' ? '(unnamed)' : `"${name}"`} is ${showPort(named.port)} in cluster "${named.owner}", an older export; this export's ${showPort(p)} is left out`,
        };
      } else if (pp !== undefined && pp.owner !== e.cluster) {
        clash = {
          owner: pp.owner,
          message: `port ${p.port}/${p.protocol} is ${showPort(pp.port)} in cluster "${pp.owner}", an older export; this export's ${showPort(p)} is left out`,
        };
      } else if (num !== undefined && num.owner !== e.cluster && num.port.protocol !== p.protocol && pp === undefined) {
        clash = {
          owner: num.owner,
          message: `port ${p.port} is ${num.port.protocol} in cluster "${num.owner}", an older export; this export's ${showPort(p)} is left out`,
        };
      }
      if (clash !== undefined) {
        note(e.cluster, { reason: 'PortConflict', winner: clash.owner, message: clash.message });
        continue;
      }
      const entry = { port: p, owner: e.cluster };
      accepted.push(p);
      if (!byName.has(name)) byName.set(name, entry);
      byPortProtocol.set(`${p.port}/${p.protocol}`, entry);
      if (!byNumber.has(p.port)) byNumber.set(p.port, entry);
    }
  }
  return { type: first.type, ports: accepted.sort(comparePorts), sessionAffinity: first.sessionAffinity, lost };
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

/**
 * Merges one global service. Conflicts are resolved within each clusterset (clustersets share
 * nothing); an ExternalService takes part in every clusterset. The shape shown for the service as
 * a whole is resolved over all its exporters, which is the same thing when there is one clusterset.
 */
export function mergeService(input: MergeServiceInput): MergedService {
  const { exporters, placeOf, now } = input;
  const key = `${input.namespace}/${input.name}`;
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
  const lost = new Map<string, ConflictNote[]>();
  const conflictedGroupOf = new Map<string, { reasons: string; losers: string[] }>();
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
    for (const m of members) conflictedGroupOf.set(m.cluster, summary);
  }

  const shape = resolveShape(exporters.filter((e) => !unknown.has(e.cluster)));
  const availableOf = (cluster: string): boolean => cluster === RESERVED_CLUSTER_NAME || (placeOf(cluster)?.available ?? false);
  let endpointCount = 0;
  let availableExporters = 0;
  const summaries: ExporterSummary[] = [];
  const statuses = new Map<string, ExportStatus>();
  for (const e of exporters) {
    const available = availableOf(e.cluster);
    if (available) {
      endpointCount += e.endpoints.length;
      availableExporters++;
    }
    const mine = lost.get(e.cluster);
    summaries.push({
      cluster: e.cluster,
      exportedAt: e.exportedAt,
      endpoints: e.endpoints.length,
      available,
      ...(mine !== undefined ? { conflict: reasonsOf(mine) } : {}),
    });
    const prev = input.previous?.statuses.get(e.cluster)?.conditions;
    const conditions: Condition[] = [];
    if (unknown.has(e.cluster)) {
      conditions.push(
        condition(prev, 'Valid', 'False', ServiceExportReason.ClusterNotRegistered, `cluster "${e.cluster}" is not registered; its export is ignored`, now),
      );
    } else {
      conditions.push(condition(prev, 'Valid', 'True', ServiceExportReason.Valid, `exported as ${key}`, now));
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
      const group = conflictedGroupOf.get(e.cluster);
      if (mine !== undefined) {
        conditions.push(condition(prev, 'Conflict', 'True', reasonsOf(mine), mine.map((n) => n.message).join('; '), now));
      } else if (group !== undefined) {
        conditions.push(condition(prev, 'Conflict', 'True', group.reasons, `exports of ${key} conflict and the oldest wins: ${group.losers.join('; ')}`, now));
      } else {
        conditions.push(condition(prev, 'Conflict', 'False', ServiceExportReason.NoConflicts, 'all exports agree', now));
      }
    }
    statuses.set(e.cluster, { namespace: input.namespace, name: input.name, conditions });
  }

  const prevService = input.previous?.service.conditions;
  const allNotes = [...lost.values()].flat();
  const conditions: Condition[] = [
    condition(prevService, 'Valid', 'True', ServiceExportReason.Valid, `${exporters.length - unknown.size} export(s) merged`, now),
    allNotes.length > 0
      ? condition(
          prevService,
          'Conflict',
          'True',
          reasonsOf(allNotes),
          [...conflictedGroupOf.values()]
            .flatMap((g) => g.losers)
            .filter((v, i, a) => a.indexOf(v) === i)
            .join('; '),
          now,
        )
      : condition(prevService, 'Conflict', 'False', ServiceExportReason.NoConflicts, 'all exports agree', now),
    availableExporters > 0
      ? condition(prevService, 'Ready', 'True', ServiceExportReason.Exported, `${availableExporters} available exporter(s), ${endpointCount} endpoint(s)`, now)
      : condition(prevService, 'Ready', 'False', ServiceExportReason.NoAvailableExporters, 'no exporting cluster is available', now),
  ];
  const service: GlobalService = {
    namespace: input.namespace,
    name: input.name,
    type: shape.type,
    ports: shape.ports,
    sessionAffinity: shape.sessionAffinity,
    ...(input.vip !== undefined && shape.type === 'ClusterSetIP' ? { vip: input.vip } : {}),
    exporters: summaries,
    conditions,
    endpointCount,
  };
  return { service, statuses };
}
