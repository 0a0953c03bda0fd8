// The hub's service model: every global service merged (merge.ts), and what each consuming
// cluster imports of it. Built once from the registry, then kept current one change at a time so
// that the work for a change is proportional to the services it touches and to the consumers that
// see them, never to the whole registry (1,000 clusters, 10,000 services, 250,000 endpoints).
//
// A consumer imports a service when at least one export is visible to it: same clusterset (an
// ExternalService serves every clusterset) and the export's exportTo selector matches the
// consumer's labels, or there is none. Nothing of an invisible export reaches it, not even its
// ports: the shape a consumer imports is merged from the exports it may see. Of those, only the
// endpoints of available clusters on networks it can reach are handed over, nearest first.
//
// Consumers that see the same exporters from the same place form a view class and share one
// ImportState, so an endpoint change builds and compares a few dozen imports, not a thousand.
//
// The model is plain data owned by one caller (the hub's merge controller); applyChanges mutates
// it in place, because copying 10,000 services per endpoint change is exactly the cost to avoid.
import { parseServiceKey, serviceKeyString, type ExportState } from '../api/messages.ts';
import type { ClusterResource, ExternalServiceResource, NetworkResource } from '../api/resources.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import type { LabelSelector } from '../api/labels.ts';
import { compareExporters, exporterFromExport, exporterFromExternal, type Exporter } from './exporters.ts';
import { mergeService, type MergedService } from './merge.ts';
import type { Shape } from './shape.ts';
import { buildTopology, clusterPlace, type ClusterPlace, type Topology } from './topology.ts';

export interface MergeInput {
  readonly clusters: readonly ClusterResource[];
  readonly networks: readonly NetworkResource[];
  /** cluster name → "namespace/name" → its export. */
  readonly exports: ReadonlyMap<string, ReadonlyMap<string, ExportState>>;
  readonly externalServices: readonly ExternalServiceResource[];
  /** "namespace/name" → clusterset VIP (VipRegistry.list). */
  readonly vips: ReadonlyMap<string, string>;
}

export interface ServiceEntry {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** By exporting cluster (`external` for the ExternalService). */
  readonly byCluster: Map<string, Exporter>;
  /** Oldest first. */
  exporters: readonly Exporter[];
  merged: MergedService;
  /** Who sees the service, and how; recomputed when the exporters' visibility or the clusters change. */
  audience: Audience | undefined;
  audienceEpoch: number;
  audienceSig: string;
  /** Merged shapes by the set of exporters a consumer sees (usually one entry: all of them). */
  readonly shapes: Map<string, Shape>;
  /**
   * The content digest (api/import-digest.ts) of what each view class imports, by its key (views.ts
   * viewOf), once a snapshot computed it; valid until the service is re-merged or the epoch moves
   * (`digestsEpoch`). A new leader answering a thousand syncs then digests each class's import
   * once, not once per consumer, and builds no import its agent already holds. Only the digests
   * are kept: 20,000 classes of imports and their encoded JSON would be ~90 MB of the hub's heap.
   */
  readonly digests: Map<string, string>;
  digestsEpoch: number;
  /**
   * The exporters' export-to selectors by their JSON (undefined when one has none: everyone of its
   * clusterset may see it), for `audienceSig`: what a snapshot asks first (views.ts seenBy).
   */
  selectors?: { readonly sig: string; readonly keyed: readonly (readonly [string, LabelSelector])[] | undefined };
}

/**
 * Consumers that see the same exporters from the same place (network component, provider, region,
 * and whether they export the service themselves) import the very same thing: one ImportState per
 * class, computed once however many consumers share it. A thousand consumers form a few dozen.
 */
export interface ViewClass {
  /** Indexes into the entry's exporters of those this class sees. */
  readonly sig: string;
  readonly place: ClusterPlace;
  readonly consumers: readonly string[];
}

export interface Audience {
  readonly classes: ReadonlyMap<string, ViewClass>;
}

/** Read it through this module's functions; only applyChanges changes it. */
export interface ServicesModel {
  readonly places: Map<string, ClusterPlace>;
  topology: Topology;
  readonly services: Map<string, ServiceEntry>;
  /** cluster → keys of the services it exports (the reverse index a cluster change needs). */
  readonly exportsOf: Map<string, Set<string>>;
  readonly vips: Map<string, string>;
  /** Bumped whenever clusters or the network graph change: audiences are then stale. */
  epoch: number;
  /**
   * Bumped whenever a service appears, goes, or its exporters' export-to selectors change: which
   * services a consumer might see (`seen`) is then stale.
   */
  audienceVersion: number;
  /**
   * Per consumer, the services whose export-to selectors let it see them (views.ts mightSee), as of
   * an epoch and audience version: a snapshot then visits its hundred services, not all 10,000.
   */
  readonly seen: Map<string, { readonly epoch: number; readonly version: number; readonly entries: readonly ServiceEntry[] }>;
  /**
   * Consumer lists of view classes, shared between services: most services are seen by everyone,
   * so their classes hold the same few lists (per place) and a thousand names are kept once, not
   * once per service. Emptied with each epoch.
   */
  readonly consumerLists: Map<string, readonly string[]>;
}

export interface ModelOptions {
  /** lastTransitionTime for conditions that change; default: the service's newest exportedAt. */
  readonly now?: string;
}

// ---- building ------------------------------------------------------------------------------

function newEntry(key: string): ServiceEntry {
  const { namespace, name } = parseServiceKey(key);
  return {
    key,
    namespace,
    name,
    byCluster: new Map(),
    exporters: [],
    merged: {
      service: { namespace, name, type: 'ClusterSetIP', ports: [], sessionAffinity: 'None', exporters: [], conditions: [], endpointCount: 0 },
      statuses: new Map(),
    },
    audience: undefined,
    audienceEpoch: -1,
    audienceSig: '',
    shapes: new Map(),
    digests: new Map(),
    digestsEpoch: -1,
  };
}

function audienceSigOf(exporters: readonly Exporter[]): string {
  return exporters.map((e) => `${e.cluster}${e.exportTo === undefined ? '' : JSON.stringify(e.exportTo)}`).join('\n');
}

function newestExport(exporters: readonly Exporter[]): string {
  let best = '';
  let bestMs = -Infinity;
  for (const e of exporters) {
    if (e.exportedAt !== '' && e.exportedAtMs > bestMs) {
      best = e.exportedAt;
      bestMs = e.exportedAtMs;
    }
  }
  return best === '' ? new Date(0).toISOString() : new Date(bestMs).toISOString();
}

/** Re-sorts and re-merges one service after its exporters or their clusters changed. */
export function remerge(model: ServicesModel, entry: ServiceEntry, options: ModelOptions): void {
  entry.exporters = [...entry.byCluster.values()].sort(compareExporters);
  entry.shapes.clear();
  entry.digests.clear();
  const sig = audienceSigOf(entry.exporters);
  if (sig !== entry.audienceSig) {
    entry.audienceSig = sig;
    entry.audience = undefined;
    model.audienceVersion++;
  }
  entry.merged = mergeService({
    namespace: entry.namespace,
    name: entry.name,
    exporters: entry.exporters,
    placeOf: (c) => model.places.get(c),
    vip: model.vips.get(entry.key),
    now: options.now ?? newestExport(entry.exporters),
    previous: entry.merged,
  });
}

export function entryFor(model: ServicesModel, key: string): ServiceEntry {
  let entry = model.services.get(key);
  if (entry === undefined) {
    entry = newEntry(key);
    model.services.set(key, entry);
  }
  return entry;
}

export function indexExport(model: ServicesModel, cluster: string, key: string, present: boolean): void {
  let keys = model.exportsOf.get(cluster);
  if (present) {
    if (keys === undefined) model.exportsOf.set(cluster, (keys = new Set()));
    keys.add(key);
  } else if (keys !== undefined) {
    keys.delete(key);
    if (keys.size === 0) model.exportsOf.delete(cluster);
  }
}

export function buildModel(input: MergeInput, options: ModelOptions = {}): ServicesModel {
  const model: ServicesModel = {
    places: new Map(input.clusters.map((c) => [c.metadata.name, clusterPlace(c)])),
    topology: buildTopology(input.networks),
    services: new Map(),
    exportsOf: new Map(),
    vips: new Map(input.vips),
    epoch: 0,
    audienceVersion: 0,
    seen: new Map(),
    consumerLists: new Map(),
  };
  for (const [cluster, states] of input.exports) {
    for (const [key, state] of states) {
      entryFor(model, key).byCluster.set(cluster, exporterFromExport(cluster, state));
      indexExport(model, cluster, key, true);
    }
  }
  for (const es of input.externalServices) {
    const key = serviceKeyString({ namespace: es.metadata.namespace ?? 'default', name: es.metadata.name });
    entryFor(model, key).byCluster.set(RESERVED_CLUSTER_NAME, exporterFromExternal(es));
    indexExport(model, RESERVED_CLUSTER_NAME, key, true);
  }
  for (const entry of model.services.values()) remerge(model, entry, options);
  return model;
}
