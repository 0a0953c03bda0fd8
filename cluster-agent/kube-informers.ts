// The agent's watches of its cluster (@kubernetes/client-node informers): ServiceExports, Services,
// the Services' own EndpointSlices (indexed by service), Node labels, and Namespaces and Pods (for
// the workloads report; a change is signalled only when what the report holds of it moved:
// labels, addresses, phase, host network), as cached reads. Each
// informer is restarted with backoff when it fails (a client-node informer that errors — HTTP 500,
// a dropped socket — stops for good) and relists on 410. Events carry keys only.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, V1ListMeta, makeInformer } from '@kubernetes/client-node';
import type { Informer, KubeConfig, KubernetesListObject, KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import { canonicalJson } from '../controlplane/api/json.ts';
import { parseServiceKey, serviceKeyString, type ServiceKey } from '../controlplane/api/messages.ts';
import { raceAbort } from '../controlplane/kernel/async.ts';
import { Backoff } from '../controlplane/kernel/backoff.ts';
import { DEFAULT_NODE_LABEL_ALLOW_LIST } from './exports.ts';
import { plain } from './kube-errors.ts';
import {
  Labels,
  MANAGED_BY_AGENT,
  MCS_GROUP,
  MCS_VERSION,
  type EndpointSliceObject,
  type NamespaceObject,
  type PodObject,
  type ServiceExportObject,
  type ServiceObject,
} from './objects.ts';
import type { ClusterEvents } from './ports.ts';

export interface KubeCachesOptions {
  /** Restart backoff of failed informers; default 500 ms doubling to 30 s. */
  readonly restartBaseMs?: number | undefined;
  readonly restartMaxMs?: number | undefined;
  /** Node labels whose change re-reports exports; default the exporter's allow-list. */
  readonly nodeLabelAllowList?: readonly string[] | undefined;
  /** Watch Nodes for their labels (needs list/watch on nodes); default true. */
  readonly watchNodes?: boolean | undefined;
  /** Watch Namespaces and Pods for the workloads report (needs list/watch on both); default true. */
  readonly watchWorkloads?: boolean | undefined;
  /** List page size of informers. */
  readonly pageSize?: number | undefined;
  readonly onInformerError?: ((informer: string, err: unknown) => void) | undefined;
}

type CachedInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

/** The Services' own slices: those with a service name, minus the ones we import. */
const SERVICE_SLICES_SELECTOR = `${Labels.ServiceName},${Labels.ManagedBy}!=${MANAGED_BY_AGENT}`;

type ListPage = (cont: string | undefined) => Promise<unknown>;

/** An informer's list function that follows `continue` tokens (informers read only the first page). */
function allPages(list: ListPage): () => Promise<KubernetesListObject<KubernetesObject>> {
  return async () => {
    const items: KubernetesObject[] = [];
    let first: { metadata?: { resourceVersion?: string } } | undefined;
    let cont: string | undefined;
    do {
      const page = (await list(cont)) as KubernetesListObject<KubernetesObject>;
      first ??= page;
      items.push(...page.items);
      cont = page.metadata?._continue;
    } while (cont !== undefined && cont !== '');
    return { apiVersion: 'v1', kind: 'List', metadata: Object.assign(new V1ListMeta(), { resourceVersion: first.metadata?.resourceVersion ?? '' }), items };
  };
}

const continued = (c: string | undefined): { _continue?: string } => (c ? { _continue: c } : {});

/** One informer the agent keeps running: restarted with backoff after every error. */
class KeptInformer {
  readonly name: string;
  readonly informer: CachedInformer;
  private readonly backoff: Backoff;
  private readonly onHealth: (name: string, healthy: boolean, message: string) => void;
  private readonly onError: ((informer: string, err: unknown) => void) | undefined;
  private failed = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private syncedResolve: (() => void) | undefined;
  readonly synced: Promise<void>;
  restarts = 0;

  constructor(
    name: string,
    informer: CachedInformer,
    backoff: Backoff,
    onHealth: (name: string, healthy: boolean, message: string) => void,
    onError: ((informer: string, err: unknown) => void) | undefined,
  ) {
    this.name = name;
    this.informer = informer;
    this.backoff = backoff;
    this.onHealth = onHealth;
    this.onError = onError;
    this.synced = new Promise((resolve) => {
      this.syncedResolve = resolve;
    });
    informer.on('error', (err: unknown) => {
      this.failed = true;
      this.onError?.(this.name, err);
      this.onHealth(this.name, false, `${this.name} watch failed (${err instanceof Error ? err.message : String(err)}); restarting`);
      this.scheduleRestart();
    });
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    this.failed = false;
    // start() lists (when it has no resourceVersion or got 410) and opens the watch; a failure
    // of either is reported through the error callback before it returns.
    await this.informer.start();
    if (!this.hasFailed()) {
      this.backoff.reset();
      this.onHealth(this.name, true, `${this.name} watch running`);
      this.syncedResolve?.();
    }
  }

  private hasFailed(): boolean {
    return this.failed || this.stopped;
  }

  private scheduleRestart(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.restarts += 1;
      this.start().catch((err: unknown) => {
        this.onError?.(this.name, err);
        this.scheduleRestart();
      });
    }, this.backoff.next());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.informer.stop();
  }
}

export class KubeCaches {
  private readonly kc: KubeConfig;
  private readonly options: KubeCachesOptions;
  private readonly allow: readonly string[];
  private informers: KeptInformer[] = [];
  private readonly unhealthy = new Set<string>();
  /** EndpointSlice `ns/name` → the service key it belongs to; and the reverse. */
  private readonly sliceOwner = new Map<string, string>();
  private readonly slicesOf = new Map<string, Set<string>>();
  private readonly nodeLabelsSeen = new Map<string, string>();
  private se: CachedInformer | undefined;
  private svc: CachedInformer | undefined;
  private eps: CachedInformer | undefined;
  private nodes: CachedInformer | undefined;
  private nsInformer: CachedInformer | undefined;
  private podInformer: CachedInformer | undefined;
  /** What the workloads report holds of each Namespace and Pod, to signal only real changes. */
  private readonly workloadSeen = new Map<string, string>();

  constructor(kc: KubeConfig, options: KubeCachesOptions) {
    this.kc = kc;
    this.options = options;
    this.allow = options.nodeLabelAllowList ?? DEFAULT_NODE_LABEL_ALLOW_LIST;
  }

  /** How many times informers were restarted after errors. */
  restarts(): number {
    return this.informers.reduce((n, i) => n + i.restarts, 0);
  }

  /** Starts every informer; resolves once each has listed once (or on abort). */
  async start(events: ClusterEvents, signal: AbortSignal): Promise<void> {
    const all = this.makeInformers(events);
    const onHealth = (name: string, healthy: boolean, message: string): void => {
      const before = this.unhealthy.size === 0;
      if (healthy) this.unhealthy.delete(name);
      else this.unhealthy.add(name);
      const after = this.unhealthy.size === 0;
      if (before !== after || !healthy) events.healthChanged(after, after ? 'all watches running' : message);
    };
    const backoff = { baseMs: this.options.restartBaseMs ?? 500, maxMs: this.options.restartMaxMs ?? 30_000 };
    this.informers = all.map(([name, informer]) => new KeptInformer(name, informer, new Backoff(backoff), onHealth, this.options.onInformerError));
    for (const i of this.informers) {
      i.start().catch((err: unknown) => this.options.onInformerError?.(i.name, err));
    }
    await raceAbort(Promise.all(this.informers.map((i) => i.synced)), signal).catch(() => undefined);
  }

  private makeInformers(events: ClusterEvents): [string, CachedInformer][] {
    const pageSize = this.options.pageSize ?? 500;
    const core = this.kc.makeApiClient(CoreV1Api);
    const discovery = this.kc.makeApiClient(DiscoveryV1Api);
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    const exportChanged = (o: KubernetesObject): void => {
      const ns = o.metadata?.namespace;
      const name = o.metadata?.name;
      if (ns !== undefined && name !== undefined) events.exportChanged({ namespace: ns, name });
    };
    this.se = makeInformer(
      this.kc,
      `/apis/${MCS_GROUP}/${MCS_VERSION}/serviceexports`,
      allPages((c) => custom.listClusterCustomObject({ group: MCS_GROUP, version: MCS_VERSION, plural: 'serviceexports', limit: pageSize, ...continued(c) })),
    );
    this.svc = makeInformer(
      this.kc,
      '/api/v1/services',
      allPages((c) => core.listServiceForAllNamespaces({ limit: pageSize, ...continued(c) })),
    );
    this.eps = makeInformer(
      this.kc,
      '/apis/discovery.k8s.io/v1/endpointslices',
      allPages((c) => discovery.listEndpointSliceForAllNamespaces({ labelSelector: SERVICE_SLICES_SELECTOR, limit: pageSize, ...continued(c) })),
      SERVICE_SLICES_SELECTOR,
    );
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.se.on(verb, exportChanged);
      this.svc.on(verb, exportChanged);
    }
    this.eps.on('add', (o) => {
      this.indexSlice(o, events);
    });
    this.eps.on('update', (o) => {
      this.indexSlice(o, events);
    });
    this.eps.on('delete', (o) => {
      this.unindexSlice(o, events);
    });
    const all: [string, CachedInformer][] = [
      ['serviceexports', this.se],
      ['services', this.svc],
      ['endpointslices', this.eps],
    ];
    if (this.options.watchNodes ?? true) {
      this.nodes = makeInformer(
        this.kc,
        '/api/v1/nodes',
        allPages((c) => core.listNode({ limit: pageSize, ...continued(c) })),
      );
      this.watchNodeLabels(this.nodes, events);
      all.push(['nodes', this.nodes]);
    }
    if (this.options.watchWorkloads ?? true) {
      this.nsInformer = makeInformer(
        this.kc,
        '/api/v1/namespaces',
        allPages((c) => core.listNamespace({ limit: pageSize, ...continued(c) })),
      );
      this.podInformer = makeInformer(
        this.kc,
        '/api/v1/pods',
        allPages((c) => core.listPodForAllNamespaces({ limit: pageSize, ...continued(c) })),
      );
      this.watchWorkloads(this.nsInformer, 'ns', events);
      this.watchWorkloads(this.podInformer, 'pod', events);
      all.push(['namespaces', this.nsInformer], ['pods', this.podInformer]);
    }
    return all;
  }

  private watchWorkloads(informer: CachedInformer, kind: string, events: ClusterEvents): void {
    const changed = (o: KubernetesObject, gone: boolean): void => {
      const id = `${kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
      const p = o as KubernetesObject & { spec?: { hostNetwork?: unknown }; status?: { phase?: unknown; podIP?: unknown; podIPs?: unknown } };
      const now = gone
        ? ''
        : canonicalJson({
            l: o.metadata?.labels ?? {},
            h: p.spec?.hostNetwork ?? null,
            ph: p.status?.phase ?? null,
            ip: p.status?.podIP ?? null,
            ips: p.status?.podIPs ?? null,
          });
      if ((this.workloadSeen.get(id) ?? '') === now) return;
      if (gone) this.workloadSeen.delete(id);
      else this.workloadSeen.set(id, now);
      events.workloadsChanged?.();
    };
    informer.on('add', (o) => {
      changed(o, false);
    });
    informer.on('update', (o) => {
      changed(o, false);
    });
    informer.on('delete', (o) => {
      changed(o, true);
    });
  }

  /** Only a change of an allow-listed label matters: it may change what exports report. */
  private watchNodeLabels(nodes: CachedInformer, events: ClusterEvents): void {
    const nodeChanged = (o: KubernetesObject, gone: boolean): void => {
      const name = o.metadata?.name ?? '';
      const labels = gone ? '' : canonicalJson(this.filterLabels(o.metadata?.labels));
      if ((this.nodeLabelsSeen.get(name) ?? '') === labels) return;
      if (gone) this.nodeLabelsSeen.delete(name);
      else this.nodeLabelsSeen.set(name, labels);
      events.nodesChanged();
    };
    nodes.on('add', (o) => {
      nodeChanged(o, false);
    });
    nodes.on('update', (o) => {
      nodeChanged(o, false);
    });
    nodes.on('delete', (o) => {
      nodeChanged(o, true);
    });
  }

  private filterLabels(labels: Record<string, string> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of this.allow) {
      const v = labels?.[k];
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  private indexSlice(o: KubernetesObject, events: ClusterEvents): void {
    const ns = o.metadata?.namespace ?? '';
    const id = `${ns}/${o.metadata?.name ?? ''}`;
    const svc = o.metadata?.labels?.[Labels.ServiceName];
    const now = svc === undefined ? undefined : serviceKeyString({ namespace: ns, name: svc });
    const before = this.sliceOwner.get(id);
    if (before !== undefined && before !== now) {
      this.slicesOf.get(before)?.delete(id);
      events.exportChanged(parseServiceKey(before));
    }
    if (now !== undefined) {
      this.sliceOwner.set(id, now);
      let set = this.slicesOf.get(now);
      if (set === undefined) this.slicesOf.set(now, (set = new Set()));
      set.add(id);
      events.exportChanged(parseServiceKey(now));
    } else {
      this.sliceOwner.delete(id);
    }
  }

  private unindexSlice(o: KubernetesObject, events: ClusterEvents): void {
    const id = `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    const before = this.sliceOwner.get(id);
    this.sliceOwner.delete(id);
    if (before === undefined) return;
    const set = this.slicesOf.get(before);
    set?.delete(id);
    if (set?.size === 0) this.slicesOf.delete(before);
    events.exportChanged(parseServiceKey(before));
  }

  serviceExports(): ServiceExportObject[] {
    return (this.se?.list() ?? []).map((o) => plain(o) as ServiceExportObject);
  }

  serviceExport(key: ServiceKey): ServiceExportObject | undefined {
    const o = this.se?.get(key.name, key.namespace);
    return o === undefined ? undefined : plain(o);
  }

  service(key: ServiceKey): ServiceObject | undefined {
    const o = this.svc?.get(key.name, key.namespace);
    return o === undefined ? undefined : plain(o);
  }

  endpointSlices(key: ServiceKey): EndpointSliceObject[] {
    const out: EndpointSliceObject[] = [];
    for (const id of this.slicesOf.get(serviceKeyString(key)) ?? []) {
      const o = this.eps?.get(parseServiceKey(id).name, key.namespace);
      if (o !== undefined) out.push(plain(o) as EndpointSliceObject);
    }
    return out;
  }

  nodeLabels(nodeName: string): Readonly<Record<string, string>> | undefined {
    return this.nodes?.get(nodeName)?.metadata?.labels;
  }

  namespaces(): NamespaceObject[] {
    return (this.nsInformer?.list() ?? []).map((o) => plain(o));
  }

  pods(): PodObject[] {
    return (this.podInformer?.list() ?? []).map((o) => plain(o) as PodObject);
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
    this.informers = [];
  }
}
