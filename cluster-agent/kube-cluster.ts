// The agent's only Kubernetes adapter (ClusterPort over @kubernetes/client-node): informers on
// ServiceExports, Services, EndpointSlices and Nodes, restarted with backoff when they fail (a
// client-node informer that errors — HTTP 500, a dropped socket — stops for good) and relisting
// on 410; server-side apply with one field manager; deletes guarded by uid; and the list of
// objects carrying our ownership label. Everything crosses the port as plain JSON.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  V1DeleteOptions,
  V1ListMeta,
  V1ObjectMeta,
  V1Preconditions,
  makeInformer,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { Informer, KubernetesListObject, KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import { ConflictError, GoneError, NotFoundError, UnavailableError } from '../controlplane/api/errors.ts';
import { parseServiceKey, serviceKeyString, type ServiceKey } from '../controlplane/api/messages.ts';
import { raceAbort } from '../controlplane/kernel/async.ts';
import { Backoff } from '../controlplane/kernel/backoff.ts';
import { DEFAULT_NODE_LABEL_ALLOW_LIST } from './exports.ts';
import { canonicalJson } from '../controlplane/api/json.ts';
import {
  FIELD_MANAGER,
  Labels,
  MANAGED_BY_AGENT,
  MCS_GROUP,
  MCS_VERSION,
  OWNED_BY_LABEL,
  OWNED_BY_VALUE,
  type EndpointSliceObject,
  type KubeObject,
  type ObjectRef,
  type ServiceExportObject,
  type ServiceObject,
} from './objects.ts';
import type { ClusterEvents, ClusterPort } from './ports.ts';

export interface KubeClusterOptions {
  /** Path of a kubeconfig; in-cluster configuration when absent. */
  readonly kubeconfig?: string | undefined;
  /** Or the kubeconfig's text (tests, simulated clusters). */
  readonly kubeconfigYaml?: string | undefined;
  /** Restart backoff of failed informers; default 500 ms doubling to 30 s. */
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
  /** Node labels whose change re-reports exports; default the exporter's allow-list. */
  readonly nodeLabelAllowList?: readonly string[];
  /** Watch Nodes for their labels (needs list/watch on nodes); default true. */
  readonly watchNodes?: boolean;
  /** List page size of informers and owned-object lists. */
  readonly pageSize?: number;
  readonly onInformerError?: (informer: string, err: unknown) => void;
}

type CachedInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

const OWNED_SELECTOR = `${OWNED_BY_LABEL}=${OWNED_BY_VALUE}`;
/** The Services' own slices: those with a service name, minus the ones we import. */
const SERVICE_SLICES_SELECTOR = `${Labels.ServiceName},${Labels.ManagedBy}!=${MANAGED_BY_AGENT}`;

/** Lists (typed, Date timestamps) and watches (raw JSON) disagree on types; the port gets JSON. */
function plain(o: unknown): KubeObject {
  return JSON.parse(JSON.stringify(o)) as KubeObject;
}

function statusOf(err: ApiException<unknown>): { reason?: string; message?: string } {
  const body: unknown = err.body;
  try {
    return (typeof body === 'string' && body !== '' ? JSON.parse(body) : (body ?? {})) as { reason?: string; message?: string };
  } catch {
    return {};
  }
}

/** Translates the client's errors into the house error set. */
function translate(err: unknown, what: string): Error {
  if (err instanceof ApiException) {
    const code = (err as ApiException<unknown>).code;
    const status = statusOf(err as ApiException<unknown>);
    const message = `${what}: ${status.message ?? `HTTP ${code}`}`;
    if (code === 404) return new NotFoundError(message, { cause: err });
    if (code === 409) return new ConflictError(message, { cause: err });
    if (code === 410) return new GoneError(message, { cause: err });
    return new UnavailableError(message, { cause: err });
  }
  return new UnavailableError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

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

export class KubeCluster implements ClusterPort {
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly discovery: DiscoveryV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly objects: KubernetesObjectApi;
  private readonly options: KubeClusterOptions;
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

  constructor(options: KubeClusterOptions = {}) {
    this.options = options;
    this.allow = options.nodeLabelAllowList ?? DEFAULT_NODE_LABEL_ALLOW_LIST;
    this.kc = new KubeConfig();
    if (options.kubeconfigYaml !== undefined) this.kc.loadFromString(options.kubeconfigYaml);
    else if (options.kubeconfig !== undefined) this.kc.loadFromFile(options.kubeconfig);
    else this.kc.loadFromCluster();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.discovery = this.kc.makeApiClient(DiscoveryV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    this.objects = KubernetesObjectApi.makeApiClient(this.kc);
  }

  /** The API server's URL, for logs. */
  server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(unknown)';
  }

  /** How many times informers were restarted after errors. */
  informerRestarts(): number {
    return this.informers.reduce((n, i) => n + i.restarts, 0);
  }

  async start(events: ClusterEvents, signal: AbortSignal): Promise<void> {
    const pageSize = this.options.pageSize ?? 500;
    const pages = async (list: (cont: string | undefined) => Promise<unknown>): Promise<KubernetesListObject<KubernetesObject>> => {
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
    const exportChanged = (o: KubernetesObject): void => {
      const ns = o.metadata?.namespace;
      const name = o.metadata?.name;
      if (ns !== undefined && name !== undefined) events.exportChanged({ namespace: ns, name });
    };

    this.se = makeInformer(this.kc, `/apis/${MCS_GROUP}/${MCS_VERSION}/serviceexports`, () =>
      pages((c) =>
        this.custom.listClusterCustomObject({
          group: MCS_GROUP,
          version: MCS_VERSION,
          plural: 'serviceexports',
          limit: pageSize,
          ...(c ? { _continue: c } : {}),
        }),
      ),
    );
    this.svc = makeInformer(this.kc, '/api/v1/services', () =>
      pages((c) => this.core.listServiceForAllNamespaces({ limit: pageSize, ...(c ? { _continue: c } : {}) })),
    );
    this.eps = makeInformer(
      this.kc,
      '/apis/discovery.k8s.io/v1/endpointslices',
      () =>
        pages((c) =>
          this.discovery.listEndpointSliceForAllNamespaces({ labelSelector: SERVICE_SLICES_SELECTOR, limit: pageSize, ...(c ? { _continue: c } : {}) }),
        ),
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
      this.nodes = makeInformer(this.kc, '/api/v1/nodes', () => pages((c) => this.core.listNode({ limit: pageSize, ...(c ? { _continue: c } : {}) })));
      const nodeChanged = (o: KubernetesObject, gone: boolean): void => {
        const name = o.metadata?.name ?? '';
        const labels = gone ? '' : canonicalJson(this.filterLabels(o.metadata?.labels));
        if ((this.nodeLabelsSeen.get(name) ?? '') === labels) return;
        if (gone) this.nodeLabelsSeen.delete(name);
        else this.nodeLabelsSeen.set(name, labels);
        events.nodesChanged();
      };
      this.nodes.on('add', (o) => {
        nodeChanged(o, false);
      });
      this.nodes.on('update', (o) => {
        nodeChanged(o, false);
      });
      this.nodes.on('delete', (o) => {
        nodeChanged(o, true);
      });
      all.push(['nodes', this.nodes]);
    }
    const onHealth = (name: string, healthy: boolean, message: string): void => {
      const before = this.unhealthy.size === 0;
      if (healthy) this.unhealthy.delete(name);
      else this.unhealthy.add(name);
      const after = this.unhealthy.size === 0;
      if (before !== after || !healthy) events.healthChanged(after, after ? 'all watches running' : message);
    };
    this.informers = all.map(
      ([name, informer]) =>
        new KeptInformer(
          name,
          informer,
          new Backoff({ baseMs: this.options.restartBaseMs ?? 500, maxMs: this.options.restartMaxMs ?? 30_000 }),
          onHealth,
          this.options.onInformerError,
        ),
    );
    for (const i of this.informers) {
      i.start().catch((err: unknown) => this.options.onInformerError?.(i.name, err));
    }
    await raceAbort(Promise.all(this.informers.map((i) => i.synced)), signal).catch(() => undefined);
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
      this.emit(before, events);
    }
    if (now !== undefined) {
      this.sliceOwner.set(id, now);
      let set = this.slicesOf.get(now);
      if (set === undefined) this.slicesOf.set(now, (set = new Set()));
      set.add(id);
      this.emit(now, events);
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
    this.emit(before, events);
  }

  private emit(key: string, events: ClusterEvents): void {
    events.exportChanged(parseServiceKey(key));
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
      const o = this.eps?.get(id.slice(id.indexOf('/') + 1), key.namespace);
      if (o !== undefined) out.push(plain(o) as EndpointSliceObject);
    }
    return out;
  }

  nodeLabels(nodeName: string): Readonly<Record<string, string>> | undefined {
    return this.nodes?.get(nodeName)?.metadata?.labels;
  }

  private header(ref: ObjectRef): KubernetesObject & { metadata: { name: string; namespace: string } } {
    const apiVersion = ref.kind === 'EndpointSlice' ? 'discovery.k8s.io/v1' : `${MCS_GROUP}/${MCS_VERSION}`;
    return { apiVersion, kind: ref.kind, metadata: Object.assign(new V1ObjectMeta(), { name: ref.name, namespace: ref.namespace }) };
  }

  async get(ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
    try {
      return plain(await raceAbort(this.objects.read(this.header(ref)), signal));
    } catch (err) {
      const e = translate(err, `reading ${ref.kind} ${ref.namespace}/${ref.name}`);
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  async apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    try {
      const out = await raceAbort(
        this.objects.patch(object as unknown as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
        signal,
      );
      return plain(out);
    } catch (err) {
      throw translate(err, `applying ${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`);
    }
  }

  async applyStatus(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const plural = object.kind === 'ServiceImport' ? 'serviceimports' : object.kind === 'ServiceExport' ? 'serviceexports' : undefined;
    if (plural === undefined) throw new Error(`the agent writes no status of ${object.kind}`);
    try {
      const out: unknown = await raceAbort(
        this.custom.patchNamespacedCustomObjectStatus(
          {
            group: MCS_GROUP,
            version: MCS_VERSION,
            namespace: object.metadata.namespace ?? '',
            plural,
            name: object.metadata.name,
            body: object,
            fieldManager: FIELD_MANAGER,
            force: true,
          },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        ),
        signal,
      );
      return plain(out);
    } catch (err) {
      throw translate(err, `applying the status of ${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`);
    }
  }

  async delete(ref: ObjectRef, uid: string | undefined, signal: AbortSignal): Promise<void> {
    try {
      await raceAbort(
        this.objects.delete(
          this.header(ref),
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          uid === undefined ? undefined : Object.assign(new V1DeleteOptions(), { preconditions: Object.assign(new V1Preconditions(), { uid }) }),
        ),
        signal,
      );
    } catch (err) {
      const e = translate(err, `deleting ${ref.kind} ${ref.namespace}/${ref.name}`);
      if (e instanceof NotFoundError) return;
      throw e;
    }
  }

  async listOwned(signal: AbortSignal): Promise<KubeObject[]> {
    const limit = this.options.pageSize ?? 500;
    const out: KubeObject[] = [];
    try {
      let cont: string | undefined;
      do {
        const page = (await raceAbort(
          this.custom.listClusterCustomObject({
            group: MCS_GROUP,
            version: MCS_VERSION,
            plural: 'serviceimports',
            labelSelector: OWNED_SELECTOR,
            limit,
            ...(cont ? { _continue: cont } : {}),
          }),
          signal,
        )) as KubernetesListObject<KubernetesObject>;
        for (const o of page.items) out.push(plain({ ...o, apiVersion: `${MCS_GROUP}/${MCS_VERSION}`, kind: 'ServiceImport' }));
        cont = page.metadata?._continue;
      } while (cont !== undefined && cont !== '');
      do {
        const page: KubernetesListObject<KubernetesObject> = await raceAbort(
          this.discovery.listEndpointSliceForAllNamespaces({ labelSelector: OWNED_SELECTOR, limit, ...(cont ? { _continue: cont } : {}) }),
          signal,
        );
        for (const o of page.items) out.push(plain({ ...o, apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }));
        cont = page.metadata?._continue;
      } while (cont !== undefined && cont !== '');
    } catch (err) {
      throw translate(err, 'listing owned objects');
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
    this.informers = [];
  }
}
