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
import type { Condition } from '../api/conditions.ts';
import { matchesSelector } from '../api/labels.ts';
import { serviceKeyString, type ExportState, type ExportStatus, type ImportState } from '../api/messages.ts';
import type { ClusterResource, ExternalServiceResource, NetworkResource } from '../api/resources.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import {
  compareExporters,
  exporterFromExport,
  exporterFromExternal,
  mergeService,
  resolveShape,
  type Exporter,
  type GlobalService,
  type ImportEndpoint,
  type MergedService,
  type Shape,
} from './merge.ts';
import { buildTopology, clusterPlace, componentOf, proximity, reachable, type ClusterPlace, type Topology } from './topology.ts';

export interface MergeInput {
  readonly clusters: readonly ClusterResource[];
  readonly networks: readonly NetworkResource[];
  /** cluster name → "namespace/name" → its export. */
  readonly exports: ReadonlyMap<string, ReadonlyMap<string, ExportState>>;
  readonly externalServices: readonly ExternalServiceResource[];
  /** "namespace/name" → clusterset VIP (VipAllocator.list). */
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
   * Consumer lists of view classes, shared between services: most services are seen by everyone,
   * so their classes hold the same few lists (per place) and a thousand names are kept once, not
   * once per service. Emptied with each epoch.
   */
  readonly consumerLists: Map<string, readonly string[]>;
}

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
}

export interface ModelOptions {
  /** lastTransitionTime for conditions that change; default: the service's newest exportedAt. */
  readonly now?: string;
}

// ---- building ------------------------------------------------------------------------------

function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

function newEntry(key: string): ServiceEntry {
  const { namespace, name } = splitKey(key);
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
function remerge(model: ServicesModel, entry: ServiceEntry, options: ModelOptions): void {
  entry.exporters = [...entry.byCluster.values()].sort(compareExporters);
  entry.shapes.clear();
  const sig = audienceSigOf(entry.exporters);
  if (sig !== entry.audienceSig) {
    entry.audienceSig = sig;
    entry.audience = undefined;
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

function entryFor(model: ServicesModel, key: string): ServiceEntry {
  let entry = model.services.get(key);
  if (entry === undefined) {
    entry = newEntry(key);
    model.services.set(key, entry);
  }
  return entry;
}

function indexExport(model: ServicesModel, cluster: string, key: string, present: boolean): void {
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
    consumerLists: new Map(),
  };
  for (const [cluster, states] of input.exports) {
    for (const [key, state] of states) {
      entryFor(model, key).byCluster.set(cluster, exporterFromExport(cluster, state));
      indexExport(model, cluster, key, true);
    }
  }
  for (const es of input.externalServices) {
    const key = `${es.metadata.namespace ?? 'default'}/${es.metadata.name}`;
    entryFor(model, key).byCluster.set(RESERVED_CLUSTER_NAME, exporterFromExternal(es));
    indexExport(model, RESERVED_CLUSTER_NAME, key, true);
  }
  for (const entry of model.services.values()) remerge(model, entry, options);
  return model;
}

// ---- reading -------------------------------------------------------------------------------

function visibleTo(model: ServicesModel, e: Exporter, consumer: ClusterPlace): boolean {
  if (e.cluster !== RESERVED_CLUSTER_NAME) {
    const place = model.places.get(e.cluster);
    if (place?.clusterSet !== consumer.clusterSet) return false;
  }
  return e.exportTo === undefined || matchesSelector(e.exportTo, consumer.labels);
}

function viewOf(model: ServicesModel, entry: ServiceEntry, consumer: ClusterPlace): { visible: Exporter[]; sig: string; classKey: string } | undefined {
  const visible: Exporter[] = [];
  let sig = '';
  let own = false;
  for (const [i, e] of entry.exporters.entries()) {
    if (!visibleTo(model, e, consumer)) continue;
    visible.push(e);
    sig += `${i},`;
    if (e.cluster === consumer.name) own = true;
  }
  if (visible.length === 0) return undefined;
  const classKey = `${sig}|${componentOf(model.topology, consumer.network)}|${consumer.provider}|${consumer.region}|${own ? consumer.name : ''}`;
  return { visible, sig, classKey };
}

function audienceOf(model: ServicesModel, entry: ServiceEntry): Audience {
  if (entry.audience !== undefined && entry.audienceEpoch === model.epoch) return entry.audience;
  const building = new Map<string, { sig: string; place: ClusterPlace; consumers: string[] }>();
  for (const place of model.places.values()) {
    const view = viewOf(model, entry, place);
    if (view === undefined) continue;
    const cls = building.get(view.classKey);
    if (cls === undefined) building.set(view.classKey, { sig: view.sig, place, consumers: [place.name] });
    else cls.consumers.push(place.name);
  }
  const classes = new Map<string, ViewClass>();
  for (const [classKey, cls] of building) {
    const id = cls.consumers.join(',');
    let consumers = model.consumerLists.get(id);
    if (consumers === undefined) model.consumerLists.set(id, (consumers = cls.consumers));
    classes.set(classKey, { sig: cls.sig, place: cls.place, consumers });
  }
  entry.audience = { classes };
  entry.audienceEpoch = model.epoch;
  return entry.audience;
}

/** Consumers that see the service (and so import it), by name. */
export function consumersOf(model: ServicesModel, key: string): string[] {
  const entry = model.services.get(key);
  return entry === undefined ? [] : [...audienceOf(model, entry).classes.values()].flatMap((c) => c.consumers).sort();
}

// Imports are shared by many consumers and never mutated: each is serialised at most once.
const canonicalCache = new WeakMap<object, string>();
// Imports built here have every key in alphabetical order already (merge.ts builds their ports and
// endpoints so), so the native serialiser, several times faster, gives their canonical JSON;
// anything else goes through canonicalJson.
const built = new WeakSet<ImportState>();

function canonicalOf(value: ImportState): string {
  let s = canonicalCache.get(value);
  if (s === undefined) {
    s = built.has(value) ? JSON.stringify(value) : canonicalJson(value);
    canonicalCache.set(value, s);
  }
  return s;
}

function computeImport(model: ServicesModel, entry: ServiceEntry, consumer: ClusterPlace): ImportState | undefined {
  const view = viewOf(model, entry, consumer);
  return view === undefined ? undefined : buildImport(model, entry, consumer, view.visible, view.sig);
}

function buildImport(model: ServicesModel, entry: ServiceEntry, consumer: ClusterPlace, visible: readonly Exporter[], sig: string): ImportState {
  let shape = entry.shapes.get(sig);
  if (shape === undefined) {
    shape = visible.length === entry.exporters.length ? entry.merged.service : resolveShape(visible);
    entry.shapes.set(sig, shape);
  }
  const included: { e: Exporter; rank: number }[] = [];
  for (const e of visible) {
    let network: string | undefined;
    let provider: string | undefined;
    let region: string | undefined;
    if (e.cluster === RESERVED_CLUSTER_NAME) {
      network = e.network;
      const np = network === undefined ? undefined : model.topology.networks.get(network);
      provider = np?.provider;
      region = np?.region;
    } else {
      const place = model.places.get(e.cluster);
      if (place?.available !== true) continue;
      network = place.network;
      provider = place.provider;
      region = place.region;
    }
    if (network === undefined || !reachable(model.topology, consumer.network, network)) continue;
    included.push({ e, rank: proximity(consumer, e.cluster, provider, region) });
  }
  included.sort((a, b) => a.rank - b.rank || (a.e.cluster < b.e.cluster ? -1 : a.e.cluster > b.e.cluster ? 1 : 0));
  const endpoints: ImportEndpoint[] = [];
  for (const { e } of included) for (const ep of e.endpoints) endpoints.push(ep);
  const vip = model.vips.get(entry.key);
  // Keys in alphabetical order: see canonicalOf.
  const clusterPorts = included.filter((x) => x.e.endpointPorts !== undefined).map((x) => ({ cluster: x.e.cluster, ports: [...(x.e.endpointPorts ?? [])] }));
  const result: ImportState = {
    ...(clusterPorts.length > 0 ? { clusterPorts } : {}),
    clusters: included.map((x) => x.e.cluster),
    endpoints,
    ips: shape.type === 'ClusterSetIP' && vip !== undefined ? [vip] : [],
    name: entry.name,
    namespace: entry.namespace,
    ports: [...shape.ports],
    sessionAffinity: shape.sessionAffinity,
    type: shape.type,
  };
  built.add(result);
  return result;
}

/** What `consumer` imports of one service; undefined when it may see no export of it. */
export function importFor(model: ServicesModel, consumer: string, key: string): ImportState | undefined {
  const place = model.places.get(consumer);
  const entry = model.services.get(key);
  return place === undefined || entry === undefined ? undefined : computeImport(model, entry, place);
}

/** Everything `consumer` imports, by namespace/name: its snapshot. */
export function importsFor(model: ServicesModel, consumer: string): ImportState[] {
  return [...importMap(model, consumer).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

function importMap(model: ServicesModel, consumer: string): Map<string, ImportState> {
  const out = new Map<string, ImportState>();
  const place = model.places.get(consumer);
  if (place === undefined) return out;
  for (const entry of model.services.values()) {
    const imp = computeImport(model, entry, place);
    if (imp !== undefined) out.set(entry.key, imp);
  }
  return out;
}

/** The status of each of `cluster`'s exports, for its agent to write to its ServiceExports. */
export function exportStatusFor(model: ServicesModel, cluster: string): ExportStatus[] {
  const out: ExportStatus[] = [];
  for (const key of [...(model.exportsOf.get(cluster) ?? [])].sort()) {
    const s = model.services.get(key)?.merged.statuses.get(cluster);
    if (s !== undefined) out.push(s);
  }
  return out;
}

export function globalService(model: ServicesModel, key: string): GlobalService | undefined {
  return model.services.get(key)?.merged.service;
}

export function globalServices(model: ServicesModel): GlobalService[] {
  return [...model.services.keys()].sort().flatMap((k) => {
    const s = model.services.get(k)?.merged.service;
    return s === undefined ? [] : [s];
  });
}

// ---- comparing -----------------------------------------------------------------------------

/** JSON with object keys sorted, so equal values give equal strings whatever built them. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v: unknown) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function importsEqual(a: ImportState | undefined, b: ImportState | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return canonicalOf(a) === canonicalOf(b);
}

/** What to send a consumer going from `prev` to `next`. */
export function diffImports(prev: ImportState | undefined, next: ImportState | undefined): 'unchanged' | 'upsert' | 'remove' {
  if (importsEqual(prev, next)) return 'unchanged';
  return next === undefined ? 'remove' : 'upsert';
}

function statusesEqual(a: ExportStatus | undefined, b: ExportStatus | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return canonicalJson(a) === canonicalJson(b);
}

// ---- changing ------------------------------------------------------------------------------

function samePlace(a: ClusterPlace, b: ClusterPlace): { location: boolean; labels: boolean; availability: boolean } {
  return {
    location: a.clusterSet === b.clusterSet && a.network === b.network && a.provider === b.provider && a.region === b.region,
    labels: canonicalJson(a.labels) === canonicalJson(b.labels),
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
            : exporterFromExport(c.cluster, c.state)
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
      if (importsEqual(prev.imports.get(classKey), n)) continue;
      for (const consumer of cls.consumers) if (!skip.has(consumer)) out.push({ consumer, key, next: n });
    }
    return;
  }
  const p = perConsumer(prev);
  const n = perConsumer(next);
  for (const consumer of new Set([...p.keys(), ...n.keys()])) {
    if (skip.has(consumer)) continue;
    const imp = n.get(consumer);
    if (!importsEqual(p.get(consumer), imp)) out.push({ consumer, key, next: imp });
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
  }

  const services: ServiceDelta[] = [];
  for (const key of p.remerge) {
    const entry = model.services.get(key);
    if (entry !== undefined && entry.byCluster.size === 0) model.services.delete(key);
    else if (entry !== undefined) remerge(model, entry, options);
    const prev = before.merged.get(key)?.service;
    const next = model.services.get(key)?.merged.service;
    if (prev !== next && (prev === undefined || next === undefined || canonicalJson(prev) !== canonicalJson(next))) services.push({ key, next });
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
        if (!importsEqual(prev.get(key), n)) imports.push({ consumer, key, next: n });
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
  return { services, imports, exportStatus, resync: p.resync };
}

export function applyChange(model: ServicesModel, change: ModelChange, options: ModelOptions = {}): ChangeResult {
  return applyChanges(model, [change], options);
}

/** Keys of the services whose merge or imports a change may alter (all of them for 'networks'). */
export function servicesAffectedBy(model: ServicesModel, change: ModelChange): string[] {
  if (change.kind === 'networks') return [...model.services.keys()].sort();
  const p = plan(model, [change]);
  const keys = new Set([...p.remerge, ...p.audience]);
  if (change.kind === 'cluster') {
    const places = [model.places.get(change.name), change.resource === undefined ? undefined : clusterPlace(change.resource)];
    for (const place of places) {
      if (place === undefined || !p.consumers.has(change.name)) continue;
      for (const entry of model.services.values()) {
        if (entry.exporters.some((e) => visibleTo(model, e, place))) keys.add(entry.key);
      }
    }
  }
  return [...keys].sort();
}

/** Conditions of a global service by type, for printing. */
export function conditionOf(service: GlobalService, type: string): Condition | undefined {
  return service.conditions.find((c) => c.type === type);
}
