// The agent's only Kubernetes adapter (ClusterPort over @kubernetes/client-node): the cached reads
// come from the informers of kube-informers.ts; the writes are here — server-side apply with one
// field manager, status subresources, deletes guarded by uid, and the list of objects carrying
// our ownership label. Everything crosses the port as plain JSON, errors as the house error set.
// Custom resources (the MCS ServiceImports' list, MetalLB's IPAddressPool, the policy kinds of
// objects.ts POLICY_KINDS, namespaced or cluster-scoped) and NetworkPolicy go through one
// custom-objects helper (CustomResources, no discovery): a cluster without a kind's CRD answers
// 404 on the resource, which becomes KindNotServedError.
import {
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  V1DeleteOptions,
  V1ObjectMeta,
  V1Preconditions,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { NotFoundError } from '../controlplane/api/errors.ts';
import type { ServiceKey } from '../controlplane/api/messages.ts';
import { raceAbort } from '../controlplane/kernel/async.ts';
import { isKindNotServed, plain, translate } from './kube-errors.ts';
import { KubeCaches } from './kube-informers.ts';
import {
  FIELD_MANAGER,
  MCS_GROUP,
  MCS_VERSION,
  METALLB_GROUP,
  METALLB_VERSION,
  OWNED_BY_LABEL,
  OWNED_BY_VALUE,
  POLICY_KINDS,
  type EndpointSliceObject,
  type KubeObject,
  type NamespaceObject,
  type ObjectRef,
  type PodObject,
  type ServiceExportObject,
  type ServiceObject,
} from './objects.ts';
import { KindNotServedError, type ClusterEvents, type ClusterPort } from './ports.ts';

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
  /** Watch Namespaces and Pods for the workloads report (needs list/watch on both); default true. */
  readonly watchWorkloads?: boolean;
  /** List page size of informers and owned-object lists. */
  readonly pageSize?: number;
  readonly onInformerError?: (informer: string, err: unknown) => void;
}

const OWNED_SELECTOR = `${OWNED_BY_LABEL}=${OWNED_BY_VALUE}`;

/** A resource served through the custom-objects API, and what a 404 on the resource itself means. */
interface Resource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Said when the cluster serves no such resource (its CRD is not installed); undefined: a built-in, always served. */
  readonly notServed?: string;
}

const POOLS: Resource = {
  group: METALLB_GROUP,
  version: METALLB_VERSION,
  plural: 'ipaddresspools',
  kind: 'IPAddressPool',
  namespaced: true,
  notServed: '(is MetalLB installed?)',
};
const IMPORTS: Resource = {
  group: MCS_GROUP,
  version: MCS_VERSION,
  plural: 'serviceimports',
  kind: 'ServiceImport',
  namespaced: true,
  notServed: '(is the MCS API installed?)',
};
/**
 * The policy kinds. NetworkPolicy goes through the custom-objects API too, as raw JSON: the typed
 * client models rename `from` to `_from`, so a plain object sent through KubernetesObjectApi loses
 * its ingress peers.
 */
const POLICIES: readonly Resource[] = POLICY_KINDS.map((k) =>
  k.kind === 'NetworkPolicy' ? k : { ...k, notServed: k.notServed ?? `(is a CNI with ${k.kind} installed?)` },
);

/**
 * Reads and writes of custom-objects resources, namespaced or cluster-scoped, with the house
 * errors: absent objects are undefined (get) or success (delete), a resource the cluster does not
 * serve is KindNotServedError.
 */
class CustomResources {
  private readonly api: CustomObjectsApi;
  private readonly pageSize: number;

  constructor(api: CustomObjectsApi, pageSize: number) {
    this.api = api;
    this.pageSize = pageSize;
  }

  private fail(err: unknown, r: Resource, what: string): Error {
    if (r.notServed !== undefined && isKindNotServed(err)) {
      return new KindNotServedError(`${what}: the cluster serves no ${r.group}/${r.version} ${r.plural} ${r.notServed}`, { cause: err });
    }
    return translate(err, what);
  }

  private where(r: Resource, namespace: string, name: string): string {
    return `${r.kind} ${r.namespaced ? `${namespace}/` : ''}${name}`;
  }

  async get(r: Resource, namespace: string, name: string, signal: AbortSignal): Promise<KubeObject | undefined> {
    const at = { group: r.group, version: r.version, plural: r.plural, name };
    try {
      const out: unknown = await raceAbort(
        r.namespaced ? this.api.getNamespacedCustomObject({ ...at, namespace }) : this.api.getClusterCustomObject(at),
        signal,
      );
      return plain(out);
    } catch (err) {
      const e = this.fail(err, r, `reading ${this.where(r, namespace, name)}`);
      if (e instanceof NotFoundError && !(e instanceof KindNotServedError)) return undefined;
      throw e;
    }
  }

  async apply(r: Resource, object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const namespace = object.metadata.namespace ?? '';
    const at = { group: r.group, version: r.version, plural: r.plural, name: object.metadata.name, body: object, fieldManager: FIELD_MANAGER, force: true };
    const ssa = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    try {
      const out: unknown = await raceAbort(
        r.namespaced ? this.api.patchNamespacedCustomObject({ ...at, namespace }, ssa) : this.api.patchClusterCustomObject(at, ssa),
        signal,
      );
      return plain(out);
    } catch (err) {
      throw this.fail(err, r, `applying ${this.where(r, namespace, object.metadata.name)}`);
    }
  }

  async delete(r: Resource, namespace: string, name: string, uid: string | undefined, signal: AbortSignal): Promise<void> {
    const at = {
      group: r.group,
      version: r.version,
      plural: r.plural,
      name,
      ...(uid === undefined ? {} : { body: Object.assign(new V1DeleteOptions(), { preconditions: Object.assign(new V1Preconditions(), { uid }) }) }),
    };
    try {
      await raceAbort(r.namespaced ? this.api.deleteNamespacedCustomObject({ ...at, namespace }) : this.api.deleteClusterCustomObject(at), signal);
    } catch (err) {
      const e = this.fail(err, r, `deleting ${this.where(r, namespace, name)}`);
      // Absent, or the kind not served at all: either way there is no object of ours.
      if (e instanceof NotFoundError) return;
      throw e;
    }
  }

  /** Every object carrying the ownership label, in every namespace, page by page; items stamped with apiVersion and kind. */
  async listOwned(r: Resource, signal: AbortSignal): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    try {
      let cont: string | undefined;
      do {
        const page = (await raceAbort(
          this.api.listClusterCustomObject({
            group: r.group,
            version: r.version,
            plural: r.plural,
            labelSelector: OWNED_SELECTOR,
            limit: this.pageSize,
            ...(cont ? { _continue: cont } : {}),
          }),
          signal,
        )) as KubernetesListObject<KubernetesObject>;
        for (const o of page.items) out.push(plain({ ...o, apiVersion: `${r.group}/${r.version}`, kind: r.kind }));
        cont = page.metadata?._continue;
      } while (cont !== undefined && cont !== '');
    } catch (err) {
      throw this.fail(err, r, `listing owned ${r.plural}`);
    }
    return out;
  }
}

/** The custom-objects resource of a kind the agent writes that way, if it is one. */
function customResource(kind: string): Resource | undefined {
  return kind === 'IPAddressPool' ? POOLS : POLICIES.find((r) => r.kind === kind);
}

export class KubeCluster implements ClusterPort {
  private readonly kc: KubeConfig;
  private readonly discovery: DiscoveryV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly resources: CustomResources;
  private readonly objects: KubernetesObjectApi;
  private readonly options: KubeClusterOptions;
  private readonly caches: KubeCaches;

  constructor(options: KubeClusterOptions = {}) {
    this.options = options;
    this.kc = new KubeConfig();
    if (options.kubeconfigYaml !== undefined) this.kc.loadFromString(options.kubeconfigYaml);
    else if (options.kubeconfig !== undefined) this.kc.loadFromFile(options.kubeconfig);
    else this.kc.loadFromCluster();
    this.discovery = this.kc.makeApiClient(DiscoveryV1Api);
    this.custom = this.kc.makeApiClient(CustomObjectsApi);
    this.resources = new CustomResources(this.custom, options.pageSize ?? 500);
    this.objects = KubernetesObjectApi.makeApiClient(this.kc);
    this.caches = new KubeCaches(this.kc, options);
  }

  /** The API server's URL, for logs. */
  server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(unknown)';
  }

  /** How many times informers were restarted after errors. */
  informerRestarts(): number {
    return this.caches.restarts();
  }

  start(events: ClusterEvents, signal: AbortSignal): Promise<void> {
    return this.caches.start(events, signal);
  }

  serviceExports(): ServiceExportObject[] {
    return this.caches.serviceExports();
  }

  serviceExport(key: ServiceKey): ServiceExportObject | undefined {
    return this.caches.serviceExport(key);
  }

  service(key: ServiceKey): ServiceObject | undefined {
    return this.caches.service(key);
  }

  endpointSlices(key: ServiceKey): EndpointSliceObject[] {
    return this.caches.endpointSlices(key);
  }

  nodeLabels(nodeName: string): Readonly<Record<string, string>> | undefined {
    return this.caches.nodeLabels(nodeName);
  }

  namespaces(): NamespaceObject[] {
    return this.caches.namespaces();
  }

  pods(): PodObject[] {
    return this.caches.pods();
  }

  /** Owned objects of every policy kind the cluster serves (a kind without its CRD holds none of ours). */
  async listOwnedPolicies(signal: AbortSignal): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    for (const r of POLICIES) {
      try {
        out.push(...(await this.resources.listOwned(r, signal)));
      } catch (err) {
        if (!(err instanceof KindNotServedError)) throw err;
      }
    }
    return out;
  }

  private header(ref: ObjectRef): KubernetesObject & { metadata: { name: string; namespace: string } } {
    const apiVersion = ref.kind === 'EndpointSlice' ? 'discovery.k8s.io/v1' : `${MCS_GROUP}/${MCS_VERSION}`;
    return { apiVersion, kind: ref.kind, metadata: Object.assign(new V1ObjectMeta(), { name: ref.name, namespace: ref.namespace }) };
  }

  async get(ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
    const custom = customResource(ref.kind);
    if (custom !== undefined) return this.resources.get(custom, ref.namespace, ref.name, signal);
    try {
      return plain(await raceAbort(this.objects.read(this.header(ref)), signal));
    } catch (err) {
      const e = translate(err, `reading ${ref.kind} ${ref.namespace}/${ref.name}`);
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  async apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const custom = customResource(object.kind);
    if (custom !== undefined) return this.resources.apply(custom, object, signal);
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
    const custom = customResource(ref.kind);
    if (custom !== undefined) return this.resources.delete(custom, ref.namespace, ref.name, uid, signal);
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
    const out = await this.resources.listOwned(IMPORTS, signal);
    try {
      let cont: string | undefined;
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
    await this.caches.stop();
  }
}
