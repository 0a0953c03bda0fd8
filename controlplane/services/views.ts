// Reading the service model: who sees a service (its audience, in view classes), what each
// consumer imports of it, and the merged global services. Each import is built fresh from the
// model's entries; nothing here is cached outside the model, and nothing here mutates it but its
// memos: per entry the audience, the shapes and the view classes' import digests, per consumer
// the services it might see. The model resets each whenever its inputs change, and
// test/unit/services-incremental-property.test.ts holds it to a fresh build.
import { matchesSelector } from '../api/labels.ts';
import { importDigest } from '../api/import-digest.ts';
import type { ExportStatus, HeldImport, ImportState } from '../api/messages.ts';
import { RESERVED_CLUSTER_NAME } from '../api/kinds.ts';
import type { Exporter, ImportEndpoint } from './exporters.ts';
import type { GlobalService } from './merge.ts';
import { resolveShape } from './shape.ts';
import type { Audience, ServiceEntry, ServicesModel, ViewClass } from './model.ts';
import { componentOf, proximity, reachable, type ClusterPlace } from './topology.ts';

function visibleTo(model: ServicesModel, e: Exporter, consumer: ClusterPlace): boolean {
  if (e.cluster !== RESERVED_CLUSTER_NAME) {
    const place = model.places.get(e.cluster);
    if (place?.clusterSet !== consumer.clusterSet) return false;
  }
  return e.exportTo === undefined || matchesSelector(e.exportTo, consumer.labels);
}

export function viewOf(model: ServicesModel, entry: ServiceEntry, consumer: ClusterPlace): { visible: Exporter[]; sig: string; classKey: string } | undefined {
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

export function audienceOf(model: ServicesModel, entry: ServiceEntry): Audience {
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

function computeImport(model: ServicesModel, entry: ServiceEntry, consumer: ClusterPlace): ImportState | undefined {
  const view = viewOf(model, entry, consumer);
  return view === undefined ? undefined : buildImport(model, entry, consumer, view.visible, view.sig);
}

export function buildImport(model: ServicesModel, entry: ServiceEntry, consumer: ClusterPlace, visible: readonly Exporter[], sig: string): ImportState {
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
  // Keys in alphabetical order, as merge.ts builds ports and endpoints: a stable wire form. Each
  // cluster's slices carry the ports its own endpoints listen on, or else its own Service's ports,
  // never the union: traffic to a port reaches only the clusters that expose it (KEP-1645). A
  // cluster without endpoints has no slice to carry them, so it has no entry: the import says
  // nothing its objects do not (an agent restarted on the cluster recovers it from them).
  const clusterPorts = included.filter((x) => x.e.endpoints.length > 0).map((x) => ({ cluster: x.e.cluster, ports: [...(x.e.endpointPorts ?? x.e.ports)] }));
  const result: ImportState = {
    ...(shape.annotations !== undefined ? { annotations: sortedRecord(shape.annotations) } : {}),
    ...(clusterPorts.length > 0 ? { clusterPorts } : {}),
    clusters: included.map((x) => x.e.cluster),
    endpoints,
    ...(shape.internalTrafficPolicy !== undefined ? { internalTrafficPolicy: shape.internalTrafficPolicy } : {}),
    ips: shape.type === 'ClusterSetIP' && vip !== undefined ? [vip] : [],
    ...(shape.labels !== undefined ? { labels: sortedRecord(shape.labels) } : {}),
    name: entry.name,
    namespace: entry.namespace,
    ports: [...shape.ports],
    sessionAffinity: shape.sessionAffinity,
    ...(shape.sessionAffinityConfig !== undefined ? { sessionAffinityConfig: shape.sessionAffinityConfig } : {}),
    ...(shape.trafficDistribution !== undefined ? { trafficDistribution: shape.trafficDistribution } : {}),
    type: shape.type,
  };
  return result;
}

/**
 * A copy of an exported label or annotation map with its keys in order, so that an import's plain
 * JSON is its canonical JSON (the hub digests and encodes it once per object: hub/controllers/resume.ts).
 */
function sortedRecord(m: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k] as string;
  return out;
}

/** What `consumer` imports of one service; undefined when it may see no export of it. */
/** Everything `consumer` imports, by namespace/name: its snapshot. */
export function importsFor(model: ServicesModel, consumer: string): ImportState[] {
  return byKey([...importMap(model, consumer).entries()]);
}

/**
 * `consumer`'s snapshot against what its agent holds (service key → digest, SyncRequest.held): the
 * imports it lacks or holds otherwise, and those it may keep as they are, each list by key. An
 * import held as the model has it is not built: its view class's digest is remembered
 * (ServiceEntry.digests) from the first consumer of the class that needed it.
 */
export function snapshotFor(model: ServicesModel, consumer: string, held?: ReadonlyMap<string, string>): { upserts: ImportState[]; kept: HeldImport[] } {
  const upserts: [string, ImportState][] = [];
  const kept: [string, HeldImport][] = [];
  const place = model.places.get(consumer);
  if (place === undefined) return { upserts: [], kept: [] };
  for (const entry of seenBy(model, consumer, place)) {
    const view = viewOf(model, entry, place);
    if (view === undefined) continue;
    const holds = held?.get(entry.key);
    if (holds === undefined) {
      upserts.push([entry.key, buildImport(model, entry, place, view.visible, view.sig)]);
      continue;
    }
    const { digest, built } = classDigest(model, entry, place, view);
    if (digest === holds) kept.push([entry.key, { namespace: entry.namespace, name: entry.name, digest }]);
    else upserts.push([entry.key, built ?? buildImport(model, entry, place, view.visible, view.sig)]);
  }
  return { upserts: byKey(upserts), kept: byKey(kept) };
}

/** The digest of `view`'s import, remembered per view class; `built` when it had to build it. */
function classDigest(
  model: ServicesModel,
  entry: ServiceEntry,
  place: ClusterPlace,
  view: NonNullable<ReturnType<typeof viewOf>>,
): { digest: string; built?: ImportState } {
  if (entry.digestsEpoch !== model.epoch) {
    entry.digests.clear();
    entry.digestsEpoch = model.epoch;
  }
  const digest = entry.digests.get(view.classKey);
  if (digest !== undefined) return { digest };
  const built = buildImport(model, entry, place, view.visible, view.sig);
  const computed = importDigest(built);
  entry.digests.set(view.classKey, computed);
  return { digest: computed, built };
}

/**
 * The digest of each import `consumer` has, by key: what a summary of its state is made of
 * (hub/controllers/resume.ts). Reads and fills the same view-class memos as snapshotFor.
 */
export function importDigests(model: ServicesModel, consumer: string): [string, string][] {
  const place = model.places.get(consumer);
  if (place === undefined) return [];
  const out: [string, string][] = [];
  for (const entry of seenBy(model, consumer, place)) {
    const view = viewOf(model, entry, place);
    if (view !== undefined) out.push([entry.key, classDigest(model, entry, place, view).digest]);
  }
  return out;
}

/**
 * Fills the memos `snapshotFor(model, consumer, held)` reads: the services the consumer might see
 * and the digest of each view class it is in. A replica that may lead next runs it ahead, so that
 * the snapshots it serves when it takes over (every agent at once) compare digests instead of
 * computing them. Returns how many digests it computed: 0 once everything is warm.
 */
export function warmSnapshot(model: ServicesModel, consumer: string): number {
  const place = model.places.get(consumer);
  if (place === undefined) return 0;
  let computed = 0;
  for (const entry of seenBy(model, consumer, place)) {
    const view = viewOf(model, entry, place);
    if (view !== undefined && classDigest(model, entry, place, view).built !== undefined) computed += 1;
  }
  return computed;
}

function byKey<T>(items: [string, T][]): T[] {
  return items.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

export function importMap(model: ServicesModel, consumer: string): Map<string, ImportState> {
  const out = new Map<string, ImportState>();
  const place = model.places.get(consumer);
  if (place === undefined) return out;
  for (const entry of seenBy(model, consumer, place)) {
    const imp = computeImport(model, entry, place);
    if (imp !== undefined) out.set(entry.key, imp);
  }
  return out;
}

/**
 * The services whose export-to selectors let `place` see them, kept per consumer until a service
 * appears, goes or changes selectors (model.audienceVersion) or the clusters change (the epoch).
 * Finding them looks at every service, passing over those whose every export-to selector misses
 * the consumer with a memoised match per distinct selector; a new leader or a NATS restart
 * snapshots every consumer at once, and endpoint churn meanwhile leaves the list as it is.
 */
function seenBy(model: ServicesModel, consumer: string, place: ClusterPlace): readonly ServiceEntry[] {
  const kept = model.seen.get(consumer);
  if (kept?.epoch === model.epoch && kept.version === model.audienceVersion) return kept.entries;
  const matched = new Map<string, boolean>();
  const entries: ServiceEntry[] = [];
  for (const entry of model.services.values()) if (mightSee(entry, place, matched)) entries.push(entry);
  model.seen.set(consumer, { epoch: model.epoch, version: model.audienceVersion, entries });
  return entries;
}

/** False only when no exporter's export-to selector matches `place` (so viewOf would find nothing). */
function mightSee(entry: ServiceEntry, place: ClusterPlace, matched: Map<string, boolean>): boolean {
  let memo = entry.selectors;
  if (memo?.sig !== entry.audienceSig) {
    const selectors = entry.exporters.map((e) => e.exportTo);
    memo = {
      sig: entry.audienceSig,
      keyed: selectors.some((x) => x === undefined) ? undefined : selectors.flatMap((x) => (x === undefined ? [] : [[JSON.stringify(x), x] as const])),
    };
    entry.selectors = memo;
  }
  if (memo.keyed === undefined) return true;
  for (const [key, selector] of memo.keyed) {
    let m = matched.get(key);
    if (m === undefined) {
      m = matchesSelector(selector, place.labels);
      matched.set(key, m);
    }
    if (m) return true;
  }
  return false;
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

export function globalServices(model: ServicesModel): GlobalService[] {
  return [...model.services.keys()].sort().flatMap((k) => {
    const s = model.services.get(k)?.merged.service;
    return s === undefined ? [] : [s];
  });
}
