// The agent's only Kubernetes adapter (ClusterPort over @kubernetes/client-node): the cached reads
// come from the informers of kube-informers.ts; the writes are here — server-side apply with one
// field manager, status subresources, deletes guarded by uid, and the list of objects carrying
// our ownership label. Everything crosses the port as plain JSON, errors as the house error set.
// MetalLB's IPAddressPool goes through the custom-objects API (no discovery): a cluster without
// MetalLB answers 404 on the resource, which becomes KindNotServedError.
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
  NETWORKING_API_VERSION,
  METALLB_GROUP,
  METALLB_VERSION,
  OWNED_BY_LABEL,
  OWNED_BY_VALUE,
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

const POOLS = { group: METALLB_GROUP, version: METALLB_VERSION, plural: 'ipaddresspools' } as const;
/**
 * NetworkPolicies go through the custom-objects API as raw JSON: the typed client models rename
 * `from` to `_from`, so a plain object sent through KubernetesObjectApi loses its ingress peers.
 */
const NETPOLS = { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies' } as const;

/** translate(), with a 404 on the resource itself told apart (the kind's CRD is not installed). */
function translatePool(err: unknown, what: string): Error {
  if (isKindNotServed(err))
    return new KindNotServedError(`${what}: the cluster serves no ${METALLB_GROUP}/${METALLB_VERSION} ipaddresspools (is MetalLB installed?)`, { cause: err });
  return translate(err, what);
}

export class KubeCluster implements ClusterPort {
  private readonly kc: KubeConfig;
  private readonly discovery: DiscoveryV1Api;
  private readonly custom: CustomObjectsApi;
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

  async listOwnedPolicies(signal: AbortSignal): Promise<KubeObject[]> {
    const limit = this.options.pageSize ?? 500;
    const out: KubeObject[] = [];
    try {
      let cont: string | undefined;
      do {
        const page = (await raceAbort(
          this.custom.listClusterCustomObject({ ...NETPOLS, labelSelector: OWNED_SELECTOR, limit, ...(cont ? { _continue: cont } : {}) }),
          signal,
        )) as KubernetesListObject<KubernetesObject>;
        for (const o of page.items) out.push(plain({ ...o, apiVersion: NETWORKING_API_VERSION, kind: 'NetworkPolicy' }));
        cont = page.metadata?._continue;
      } while (cont !== undefined && cont !== '');
    } catch (err) {
      throw translate(err, 'listing owned NetworkPolicies');
    }
    return out;
  }

  private header(ref: ObjectRef): KubernetesObject & { metadata: { name: string; namespace: string } } {
    const apiVersion =
      ref.kind === 'EndpointSlice' ? 'discovery.k8s.io/v1' : ref.kind === 'NetworkPolicy' ? NETWORKING_API_VERSION : `${MCS_GROUP}/${MCS_VERSION}`;
    return { apiVersion, kind: ref.kind, metadata: Object.assign(new V1ObjectMeta(), { name: ref.name, namespace: ref.namespace }) };
  }

  async get(ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
    if (ref.kind === 'IPAddressPool') return this.getPool(ref, signal);
    if (ref.kind === 'NetworkPolicy') {
      try {
        const out: unknown = await raceAbort(this.custom.getNamespacedCustomObject({ ...NETPOLS, namespace: ref.namespace, name: ref.name }), signal);
        return plain(out);
      } catch (err) {
        const e = translate(err, `reading NetworkPolicy ${ref.namespace}/${ref.name}`);
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
    }
    try {
      return plain(await raceAbort(this.objects.read(this.header(ref)), signal));
    } catch (err) {
      const e = translate(err, `reading ${ref.kind} ${ref.namespace}/${ref.name}`);
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  async apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    if (object.kind === 'IPAddressPool') return this.applyPool(object, signal);
    if (object.kind === 'NetworkPolicy') {
      const namespace = object.metadata.namespace ?? '';
      try {
        const out: unknown = await raceAbort(
          this.custom.patchNamespacedCustomObject(
            { ...NETPOLS, namespace, name: object.metadata.name, body: object, fieldManager: FIELD_MANAGER, force: true },
            setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
          ),
          signal,
        );
        return plain(out);
      } catch (err) {
        throw translate(err, `applying NetworkPolicy ${namespace}/${object.metadata.name}`);
      }
    }
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
    if (ref.kind === 'IPAddressPool') return this.deletePool(ref, uid, signal);
    if (ref.kind === 'NetworkPolicy') {
      try {
        await raceAbort(
          this.custom.deleteNamespacedCustomObject({
            ...NETPOLS,
            namespace: ref.namespace,
            name: ref.name,
            ...(uid === undefined ? {} : { body: Object.assign(new V1DeleteOptions(), { preconditions: Object.assign(new V1Preconditions(), { uid }) }) }),
          }),
          signal,
        );
      } catch (err) {
        const e = translate(err, `deleting NetworkPolicy ${ref.namespace}/${ref.name}`);
        if (e instanceof NotFoundError) return;
        throw e;
      }
      return;
    }
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

  private async getPool(ref: ObjectRef, signal: AbortSignal): Promise<KubeObject | undefined> {
    try {
      const out: unknown = await raceAbort(this.custom.getNamespacedCustomObject({ ...POOLS, namespace: ref.namespace, name: ref.name }), signal);
      return plain(out);
    } catch (err) {
      const e = translatePool(err, `reading IPAddressPool ${ref.namespace}/${ref.name}`);
      if (e instanceof NotFoundError && !(e instanceof KindNotServedError)) return undefined;
      throw e;
    }
  }

  private async applyPool(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const namespace = object.metadata.namespace ?? '';
    try {
      const out: unknown = await raceAbort(
        this.custom.patchNamespacedCustomObject(
          { ...POOLS, namespace, name: object.metadata.name, body: object, fieldManager: FIELD_MANAGER, force: true },
          setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
        ),
        signal,
      );
      return plain(out);
    } catch (err) {
      throw translatePool(err, `applying IPAddressPool ${namespace}/${object.metadata.name}`);
    }
  }

  private async deletePool(ref: ObjectRef, uid: string | undefined, signal: AbortSignal): Promise<void> {
    try {
      await raceAbort(
        this.custom.deleteNamespacedCustomObject({
          ...POOLS,
          namespace: ref.namespace,
          name: ref.name,
          ...(uid === undefined ? {} : { body: Object.assign(new V1DeleteOptions(), { preconditions: Object.assign(new V1Preconditions(), { uid }) }) }),
        }),
        signal,
      );
    } catch (err) {
      const e = translatePool(err, `deleting IPAddressPool ${ref.namespace}/${ref.name}`);
      // Absent, or no MetalLB at all: either way there is no pool of ours.
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
    await this.caches.stop();
  }
}
