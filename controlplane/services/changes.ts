// Changing the service model one batch of changes at a time: plan what a batch touches, note what
// those services and consumers import now, apply the changes, and return exactly what differs.
// Comparisons are by content (jsonEqual), whatever built the values and in whatever key order.
import { serviceKeyString, type ExportState, type ExportStatus, type ImportState } from '../api/messages.ts';
import type { ClusterResource, ExternalServiceResource, NetworkResource } from '../api/resources.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import { exporterFromExport, exporterFromExternal } from './exporters.ts';
import { jsonEqual } from '../api/json-equal.ts';
import type { GlobalService, MergedService } from './merge.ts';
import { entryFor, indexExport, remerge, type Audience, type ModelOptions, type ServicesModel } from './model.ts';
import { buildTopology, clusterPlace, type ClusterPlace } from './topology.ts';
import { audienceOf, buildImport, importMap, viewOf } from './views.ts';

export type ModelChange =
  | { readonly kind: 'export'; readonly cluster: string; readonly namespace: string; readonly name: string; readonly state: ExportState | undefined }
  | { readonly kind: 'external-service'; readonly namespace: string; readonly name: string; readonly resource: ExternalServiceResource | undefined }
  | { readonly kind: 'vip'; readonly namespace: string; readonly name: string; readonly vip: string | undefined }
  | { readonly kind: 'cluster'; readonly name: string; readonly resource: ClusterResource | undefined }
  | { readonly kind: 'networks'; readonly networks: readonly NetworkResource[] };

export interface ImportDelta {
  readonly consumer: string;
  readonly key: string;
  /** undefined: the consumer must delete its import of the service. */
  readonly next: ImportState | undefined;
  /** What the consumer imported before the change (undefined: nothing); a delivery diffs the two. */
  readonly prev: ImportState | undefined;
}

export interface ExportStatusDelta {
  readonly cluster: string;
  readonly key: string;
  /** undefined: the export is gone; nothing to write back. */
  readonly next: ExportStatus | undefined;
}

export interface ServiceDelta {
  readonly key: string;
  readonly next: GlobalService | undefined;
}

export interface ChangeResult {
  readonly services: readonly ServiceDelta[];
  /** Empty when `resync` is set. */
  readonly imports: readonly ImportDelta[];
  readonly exportStatus: readonly ExportStatusDelta[];
  /**
   * Reachability changed (Networks or their links): every consumer's imports may have changed.
   * The caller resyncs consumers from importsFor (rate-limited), rather than this computing
   * the whole registry's deltas in one go.
   */
  readonly resync: boolean;
  /**
   * Whether the model moved at all: a service re-merged, or the clusters or reachability changed.
   * False for a change that left every service and place as it was (a Cluster's status refresh),
   * which also leaves every memo a snapshot reads (audiences, digests, consumer lists) valid.
   */
  readonly changed: boolean;
}

function statusesEqual(a: ExportStatus | undefined, b: ExportStatus | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return jsonEqual(a, b);
}

// ---- changing ------------------------------------------------------------------------------

function samePlace(a: ClusterPlace, b: ClusterPlace): { location: boolean; labels: boolean; availability: boolean } {
  return {
    location: a.clusterSet === b.clusterSet && a.network === b.network && a.provider === b.provider && a.region === b.region,
    labels: jsonEqual(a.labels, b.labels),
    availability: a.available === b.available,
  };
}

interface Plan {
  /** Services to re-merge (exporters, their clusters or the VIP changed). */
  readonly remerge: Set<string>;
  /** Services whose import must be recomputed for their whole audience. */
  readonly audience: Set<string>;
  /** Consumers whose every import must be recomputed. */
  readonly consumers: Set<string>;
  resync: boolean;
  clustersChanged: boolean;
}

function plan(model: ServicesModel, changes: readonly ModelChange[]): Plan {
  const p: Plan = { remerge: new Set(), audience: new Set(), consumers: new Set(), resync: false, clustersChanged: false };
  for (const c of changes) {
    switch (c.kind) {
      case 'export':
      case 'external-service':
      case 'vip': {
        const key = serviceKeyString(c);
        // Every replica hears every assignment from etcd, the leader its own twice: one the
        // model already has moves nothing (a relist of 10,000 VIPs re-merged every service).
        if (c.kind === 'vip' && model.vips.get(key) === c.vip) break;
        p.remerge.add(key);
        p.audience.add(key);
        break;
      }
      case 'cluster': {
        const before = model.places.get(c.name);
        const after = c.resource === undefined ? undefined : clusterPlace(c.resource);
        const same = before !== undefined && after !== undefined ? samePlace(before, after) : undefined;
        const exported = model.exportsOf.get(c.name) ?? new Set<string>();
        if (same === undefined || !same.location || !same.availability) {
          // Its exports' endpoints appear, vanish or move for everyone who sees them.
          for (const k of exported) {
            p.remerge.add(k);
            p.audience.add(k);
          }
        }
        if (same === undefined || !same.location || !same.labels) {
          p.consumers.add(c.name);
          p.clustersChanged = true;
        }
        break;
      }
      case 'networks':
        p.resync = true;
        break;
    }
  }
  return p;
}

function mutate(model: ServicesModel, c: ModelChange): void {
  switch (c.kind) {
    case 'export':
    case 'external-service': {
      const key = serviceKeyString(c);
      const cluster = c.kind === 'export' ? c.cluster : RESERVED_CLUSTER_NAME;
      const exporter =
        c.kind === 'export'
          ? c.state === undefined
            ? undefined
            : exporterFromExport(c.cluster, c.state, model.services.get(key)?.byCluster.get(c.cluster))
          : c.resource === undefined
            ? undefined
            : exporterFromExternal(c.resource);
      if (exporter !== undefined) {
        entryFor(model, key).byCluster.set(cluster, exporter);
      } else {
        model.services.get(key)?.byCluster.delete(cluster);
      }
      indexExport(model, cluster, key, exporter !== undefined);
      break;
    }
    case 'vip': {
      const key = serviceKeyString(c);
      if (c.vip === undefined) model.vips.delete(key);
      else model.vips.set(key, c.vip);
      break;
    }
    case 'cluster':
      if (c.resource === undefined) model.places.delete(c.name);
      else model.places.set(c.name, clusterPlace(c.resource));
      break;
    case 'networks':
      model.topology = buildTopology(c.networks);
      break;
  }
}

/** The import of each view class of a service: what its whole audience imports. */
interface AudienceImports {
  readonly audience: Audience | undefined;
  readonly imports: ReadonlyMap<string, ImportState>;
}

function audienceImports(model: ServicesModel, key: string): AudienceImports {
  const entry = model.services.get(key);
  if (entry === undefined) return { audience: undefined, imports: new Map() };
  const audience = audienceOf(model, entry);
  const imports = new Map<string, ImportState>();
  for (const [classKey, cls] of audience.classes) {
    const view = viewOf(model, entry, cls.place);
    if (view !== undefined) imports.set(classKey, buildImport(model, entry, cls.place, view.visible, view.sig));
  }
  return { audience, imports };
}

function perConsumer(a: AudienceImports): Map<string, ImportState> {
  const out = new Map<string, ImportState>();
  for (const [classKey, cls] of a.audience?.classes ?? []) {
    const imp = a.imports.get(classKey);
    if (imp !== undefined) for (const c of cls.consumers) out.set(c, imp);
  }
  return out;
}

/** Import deltas of one service across its audience before and after. */
function audienceDeltas(key: string, prev: AudienceImports, next: AudienceImports, skip: ReadonlySet<string>, out: ImportDelta[]): void {
  if (prev.audience !== undefined && prev.audience === next.audience) {
    // Same audience, same classes (the usual endpoint change): compare once per class.
    for (const [classKey, cls] of prev.audience.classes) {
      const n = next.imports.get(classKey);
      const before = prev.imports.get(classKey);
      if (jsonEqual(before, n)) continue;
      for (const consumer of cls.consumers) if (!skip.has(consumer)) out.push({ consumer, key, next: n, prev: before });
    }
    return;
  }
  const p = perConsumer(prev);
  const n = perConsumer(next);
  for (const consumer of new Set([...p.keys(), ...n.keys()])) {
    if (skip.has(consumer)) continue;
    const imp = n.get(consumer);
    const before = p.get(consumer);
    if (!jsonEqual(before, imp)) out.push({ consumer, key, next: imp, prev: before });
  }
}

/** What the services that will change look like now, to diff against afterwards. */
function snapshot(
  model: ServicesModel,
  p: Plan,
): {
  imports: Map<string, AudienceImports>;
  consumers: Map<string, Map<string, ImportState>>;
  merged: Map<string, MergedService | undefined>;
} {
  const imports = new Map<string, AudienceImports>();
  const consumers = new Map<string, Map<string, ImportState>>();
  if (!p.resync) {
    for (const key of p.audience) imports.set(key, audienceImports(model, key));
    for (const c of p.consumers) consumers.set(c, importMap(model, c));
  }
  const merged = new Map<string, MergedService | undefined>();
  for (const key of p.remerge) merged.set(key, model.services.get(key)?.merged);
  return { imports, consumers, merged };
}

/**
 * Applies a batch of changes (coalesce bursts by batching them: a service changed many times is
 * re-merged once) and returns exactly what changed: global services, per-consumer imports and
 * per-exporter ServiceExport statuses. Costs O(changed services × their exporters and audience)
 * plus, for a cluster whose labels or location changed, that cluster's own imports.
 */
export function applyChanges(model: ServicesModel, changes: readonly ModelChange[], options: ModelOptions = {}): ChangeResult {
  const p = plan(model, changes);
  const before = snapshot(model, p);
  for (const c of changes) mutate(model, c);
  if (p.clustersChanged || p.resync) {
    model.epoch++;
    model.consumerLists.clear();
    model.seen.clear();
  }

  const services: ServiceDelta[] = [];
  for (const key of p.remerge) {
    const entry = model.services.get(key);
    if (entry !== undefined && entry.byCluster.size === 0) {
      model.services.delete(key);
      model.audienceVersion++;
    } else if (entry !== undefined) remerge(model, entry, options);
    const prev = before.merged.get(key)?.service;
    const next = model.services.get(key)?.merged.service;
    if (!jsonEqual(prev, next)) services.push({ key, next });
  }

  const imports: ImportDelta[] = [];
  if (!p.resync) {
    for (const key of p.audience) {
      audienceDeltas(key, before.imports.get(key) ?? { audience: undefined, imports: new Map() }, audienceImports(model, key), p.consumers, imports);
    }
    for (const consumer of p.consumers) {
      const prev = before.consumers.get(consumer) ?? new Map<string, ImportState>();
      const next = importMap(model, consumer);
      for (const key of new Set([...prev.keys(), ...next.keys()])) {
        const n = next.get(key);
        const before = prev.get(key);
        if (!jsonEqual(before, n)) imports.push({ consumer, key, next: n, prev: before });
      }
    }
  }

  const exportStatus: ExportStatusDelta[] = [];
  for (const key of p.remerge) {
    const prev = before.merged.get(key)?.statuses ?? new Map<string, ExportStatus>();
    const next = model.services.get(key)?.merged.statuses ?? new Map<string, ExportStatus>();
    for (const cluster of new Set([...prev.keys(), ...next.keys()])) {
      const n = next.get(cluster);
      if (!statusesEqual(prev.get(cluster), n)) exportStatus.push({ cluster, key, next: n });
    }
  }
  return { services, imports, exportStatus, resync: p.resync, changed: p.remerge.size > 0 || p.clustersChanged || p.resync };
}
