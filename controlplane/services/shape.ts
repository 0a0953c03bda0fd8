// The shape of one global service from its exports (KEP-1645, "Constraints and Conflict
// Resolution"): ports unioned, merged by port number and protocol, ports not identical in every
// export raising a PortConflict (the union stays); every property that cannot be merged (a port's
// name or properties, ClusterSetIP vs Headless, session affinity and its config, internal traffic
// policy, traffic distribution, exported labels, exported annotations) resolved to the oldest
// export's, and what each younger export lost, with a message naming the winner. Pure. The
// conditions and the merged view built from it are merge.ts's.
import type { InternalTrafficPolicy, ServicePort, ServiceType, SessionAffinityConfig } from '../api/messages.ts';
import type { Exporter, SessionAffinity } from './exporters.ts';
import { jsonEqual } from '../api/json-equal.ts';

export type ConflictReason =
  | 'TypeConflict'
  | 'PortConflict'
  | 'SessionAffinityConflict'
  | 'SessionAffinityConfigConflict'
  | 'InternalTrafficPolicyConflict'
  | 'TrafficDistributionConflict'
  | 'LabelsConflict'
  | 'AnnotationsConflict';
/** The order conflict reasons are listed in (a condition's reason joins them). */
export const REASON_ORDER: readonly ConflictReason[] = [
  'TypeConflict',
  'PortConflict',
  'SessionAffinityConflict',
  'SessionAffinityConfigConflict',
  'InternalTrafficPolicyConflict',
  'TrafficDistributionConflict',
  'LabelsConflict',
  'AnnotationsConflict',
];

/** The properties of a merged service besides its type and ports: the oldest export's. */
export interface ShapeExtras {
  readonly sessionAffinityConfig?: SessionAffinityConfig | undefined;
  readonly internalTrafficPolicy?: InternalTrafficPolicy | undefined;
  readonly trafficDistribution?: string | undefined;
  /** For the ServiceImports: the exported labels and annotations. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
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
