// MemoryCluster: the Kubernetes side of the agent (ClusterPort) in memory, for unit tests and
// benchmarks that run the real agent logic without an API server. Held to the same contract as
// KubeCluster by test/integration/agent-cluster-contract.test.ts, with failure injection.
//
// A kind whose CRD is "not installed" (`notServing`) answers KindNotServedError, as KubeCluster
// does on a 404 for the resource.
//
// Cluster-scoped kinds (the policy kinds of objects.ts that are not namespaced) have no namespace.
//
// Simplifications: server-side apply replaces the fields the agent sends (it is the only manager
// of the objects it owns) and merges labels; no resourceVersion conflicts; watches are immediate.
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, UnavailableError } from '../controlplane/api/errors.ts';
import { serviceKeyString, type ServiceKey } from '../controlplane/api/messages.ts';
import { DEFAULT_NODE_LABEL_ALLOW_LIST } from './exports.ts';
import { canonicalJson } from '../controlplane/api/json.ts';
import {
  Labels,
  MANAGED_BY_AGENT,
  OWNED_BY_LABEL,
  OWNED_BY_VALUE,
  policyKind,
  type EndpointSliceObject,
  type KubeObject,
  type NamespaceObject,
  type ObjectRef,
  type PodObject,
  type ServiceExportObject,
  type ServiceObject,
} from './objects.ts';
import { KindNotServedError, type ClusterEvents, type ClusterPort } from './ports.ts';

export const MemoryOperation = { Get: 'get', Apply: 'apply', ApplyStatus: 'applyStatus', Delete: 'delete', ListOwned: 'listOwned' } as const;
export type MemoryOperation = (typeof MemoryOperation)[keyof typeof MemoryOperation];

export interface MemoryClusterOptions {
  /** Namespaces that exist; writes elsewhere fail with NotFoundError. Default: every namespace exists. */
  readonly namespaces?: readonly string[];
  readonly nodeLabelAllowList?: readonly string[];
  /** Kinds the cluster serves no API for (their CRD is not installed), e.g. ['IPAddressPool']. Default: every kind is served. */
  readonly notServing?: readonly string[];
}

/**
 * What a round trip through an API server gives back: JSON in, JSON out (an undefined field is
 * dropped, as on the wire). Also 1.3-1.7x cheaper than structuredClone for these plain objects:
 * the double's own cost is not what a benchmark of the agent should measure.
 */
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

function settle<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
const idOf = (kind: string, namespace: string | undefined, name: string): string => `${kind}/${namespace ?? ''}/${name}`;

export class MemoryCluster implements ClusterPort {
  private readonly store = new Map<string, KubeObject>();
  private events: ClusterEvents | undefined;
  private readonly knownNamespaces: Set<string> | undefined;
  private readonly allow: readonly string[];
  private readonly unserved: Set<string>;
  private rv = 0;
  private faults: { remaining: number; ops: readonly MemoryOperation[] } = { remaining: 0, ops: [] };
  /** Objects whose writes are refused, by id, with the message the refusal carries. */
  private readonly refused = new Map<string, string>();
  /** Writes the agent made, by operation: for tests and benchmarks. */
  readonly writes = { apply: 0, applyStatus: 0, delete: 0 };

  constructor(options: MemoryClusterOptions = {}) {
    this.knownNamespaces = options.namespaces === undefined ? undefined : new Set(options.namespaces);
    this.allow = options.nodeLabelAllowList ?? DEFAULT_NODE_LABEL_ALLOW_LIST;
    this.unserved = new Set(options.notServing ?? []);
  }

  // ---- test and benchmark side -----------------------------------------------------------------

  /** Creates or replaces an object as a user or controller would (keeps uid and creationTimestamp). */
  put<T extends KubeObject>(object: T): T {
    const id = idOf(object.kind, object.metadata.namespace, object.metadata.name);
    const prev = this.store.get(id);
    const next = clone(object);
    if (next.kind === 'Namespace') this.knownNamespaces?.add(next.metadata.name);
    this.stamp(next, prev);
    this.store.set(id, next);
    this.notify(next, prev);
    return clone(next);
  }

  remove(kind: string, namespace: string | undefined, name: string): boolean {
    const id = idOf(kind, namespace, name);
    const prev = this.store.get(id);
    if (prev === undefined) return false;
    this.store.delete(id);
    this.notify(undefined, prev);
    return true;
  }

  object(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.store.get(idOf(kind, namespace, name));
    return o === undefined ? undefined : clone(o);
  }

  list(kind: string, namespace?: string): KubeObject[] {
    return [...this.store.values()].filter((o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace)).map(clone);
  }

  /** Installs (true) or removes (false) a kind's API, as installing or removing its CRD would. */
  serveKind(kind: string, served: boolean): void {
    if (served) this.unserved.delete(kind);
    else this.unserved.add(kind);
  }

  private served(kind: string): void {
    if (this.unserved.has(kind)) throw new KindNotServedError(`the cluster serves no ${kind} (its CRD is not installed)`);
  }

  addNamespace(name: string): void {
    this.knownNamespaces?.add(name);
  }

  /** The next `count` calls of these operations (default all) fail with UnavailableError. */
  failNext(count: number, ops: readonly MemoryOperation[] = Object.values(MemoryOperation)): void {
    this.faults = { remaining: count, ops };
  }

  /**
   * Every write (apply, applyStatus, delete) of this one object fails with UnavailableError until
   * `allow` is called: an API server (or an admission webhook) refusing one object.
   */
  refuse(kind: string, namespace: string, name: string, message = 'refused by the API server'): void {
    this.refused.set(idOf(kind, namespace, name), message);
  }

  stopRefusing(kind: string, namespace: string, name: string): void {
    this.refused.delete(idOf(kind, namespace, name));
  }

  private refuseWrite(kind: string, namespace: string | undefined, name: string): void {
    const message = this.refused.get(idOf(kind, namespace, name));
    if (message !== undefined) throw new UnavailableError(`${kind} ${namespace ?? ''}/${name}: ${message}`);
  }

  private fault(op: MemoryOperation): void {
    if (this.faults.remaining > 0 && this.faults.ops.includes(op)) {
      this.faults.remaining -= 1;
      throw new UnavailableError(`fault injected into MemoryCluster.${op}`);
    }
  }

  private stamp(next: KubeObject, prev: KubeObject | undefined): void {
    this.rv += 1;
    next.metadata.uid = prev?.metadata.uid ?? randomUUID();
    next.metadata.creationTimestamp = prev?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    next.metadata.resourceVersion = String(this.rv);
  }

  private notify(next: KubeObject | undefined, prev: KubeObject | undefined): void {
    const e = this.events;
    const o = next ?? prev;
    if (e === undefined || o === undefined) return;
    const ns = o.metadata.namespace ?? '';
    switch (o.kind) {
      case 'ServiceExport':
      case 'Service':
        e.exportChanged({ namespace: ns, name: o.metadata.name });
        break;
      case 'EndpointSlice':
        for (const v of [prev, next]) {
          const svc = v?.metadata.labels?.[Labels.ServiceName];
          if (svc !== undefined && v?.metadata.labels?.[Labels.ManagedBy] !== MANAGED_BY_AGENT) e.exportChanged({ namespace: ns, name: svc });
        }
        break;
      case 'Namespace':
      case 'Pod':
        e.workloadsChanged?.();
        break;
      case 'Node': {
        const pick = (v: KubeObject | undefined): string => canonicalJson(this.allow.map((k) => v?.metadata.labels?.[k] ?? null));
        if (pick(prev) !== pick(next)) e.nodesChanged();
        break;
      }
      default:
        break;
    }
  }

  // ---- ClusterPort -----------------------------------------------------------------------------

  start(events: ClusterEvents, _signal: AbortSignal): Promise<void> {
    this.events = events;
    events.healthChanged(true, 'in memory');
    return Promise.resolve();
  }

  serviceExports(): ServiceExportObject[] {
    return this.list('ServiceExport');
  }

  serviceExport(key: ServiceKey): ServiceExportObject | undefined {
    return this.object('ServiceExport', key.namespace, key.name);
  }

  service(key: ServiceKey): ServiceObject | undefined {
    return this.object('Service', key.namespace, key.name);
  }

  endpointSlices(key: ServiceKey): EndpointSliceObject[] {
    return (this.list('EndpointSlice', key.namespace) as EndpointSliceObject[]).filter(
      (s) => s.metadata.labels?.[Labels.ServiceName] === key.name && s.metadata.labels[Labels.ManagedBy] !== MANAGED_BY_AGENT,
    );
  }

  nodeLabels(nodeName: string): Readonly<Record<string, string>> | undefined {
    return this.store.get(idOf('Node', undefined, nodeName))?.metadata.labels;
  }

  /** Namespaces put as objects, and (when the cluster was given a list) those it was made with. */
  namespaces(): NamespaceObject[] {
    const put = this.list('Namespace') as NamespaceObject[];
    const named = new Set(put.map((n) => n.metadata.name));
    const listed = [...(this.knownNamespaces ?? [])].filter((n) => !named.has(n)).map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    return [...put, ...listed];
  }

  pods(): PodObject[] {
    return this.list('Pod');
  }

  /** Owned objects of every policy kind the cluster serves. */
  listOwnedPolicies(_signal: AbortSignal): Promise<KubeObject[]> {
    this.fault(MemoryOperation.ListOwned);
    return Promise.resolve(
      [...this.store.values()]
        .filter((o) => policyKind(o.kind) !== undefined && !this.unserved.has(o.kind) && o.metadata.labels?.[OWNED_BY_LABEL] === OWNED_BY_VALUE)
        .map(clone),
    );
  }

  // Failures reject the promise, as the real adapter's do (never a throw from the call itself).
  get(ref: ObjectRef, _signal: AbortSignal): Promise<KubeObject | undefined> {
    return settle(() => {
      this.fault(MemoryOperation.Get);
      this.served(ref.kind);
      return this.object(ref.kind, ref.namespace, ref.name);
    });
  }

  apply(object: KubeObject, _signal: AbortSignal): Promise<KubeObject> {
    return settle(() => this.applyNow(object));
  }

  private applyNow(object: KubeObject): KubeObject {
    this.fault(MemoryOperation.Apply);
    this.served(object.kind);
    this.refuseWrite(object.kind, object.metadata.namespace, object.metadata.name);
    const clusterScoped = policyKind(object.kind)?.namespaced === false;
    const ns = clusterScoped ? undefined : (object.metadata.namespace ?? '');
    if (ns !== undefined && this.knownNamespaces !== undefined && !this.knownNamespaces.has(ns)) {
      throw new NotFoundError(`applying ${object.kind} ${ns}/${object.metadata.name}: namespaces "${ns}" not found`);
    }
    const id = idOf(object.kind, ns, object.metadata.name);
    const prev = this.store.get(id);
    // Stored objects are replaced, never changed in place, so `prev` can be shared, not copied;
    // only the input (which the caller keeps) and the answer are cloned.
    const { metadata, status: _status, ...fields } = clone(object);
    const next: KubeObject = {
      ...(prev ?? {}),
      ...fields,
      metadata: {
        ...(prev?.metadata ?? {}),
        name: metadata.name,
        ...(ns === undefined ? {} : { namespace: ns }),
        labels: { ...(prev?.metadata.labels ?? {}), ...(metadata.labels ?? {}) },
      },
    };
    if (prev !== undefined && JSON.stringify(prev) === JSON.stringify(next)) return clone(prev);
    this.stamp(next, prev);
    this.store.set(id, next);
    this.writes.apply += 1;
    this.notify(next, prev);
    return clone(next);
  }

  applyStatus(object: KubeObject, _signal: AbortSignal): Promise<KubeObject> {
    this.fault(MemoryOperation.ApplyStatus);
    this.refuseWrite(object.kind, object.metadata.namespace, object.metadata.name);
    const id = idOf(object.kind, object.metadata.namespace, object.metadata.name);
    const prev = this.store.get(id);
    if (prev === undefined) return Promise.reject(new NotFoundError(`${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name} not found`));
    const next: KubeObject = { ...clone(prev), status: clone(object.status) };
    this.stamp(next, prev);
    this.store.set(id, next);
    this.writes.applyStatus += 1;
    this.notify(next, prev);
    return Promise.resolve(clone(next));
  }

  delete(ref: ObjectRef, uid: string | undefined, _signal: AbortSignal): Promise<void> {
    this.fault(MemoryOperation.Delete);
    if (this.unserved.has(ref.kind)) return Promise.resolve();
    this.refuseWrite(ref.kind, ref.namespace, ref.name);
    const id = idOf(ref.kind, ref.namespace, ref.name);
    const prev = this.store.get(id);
    if (prev === undefined) return Promise.resolve();
    if (uid !== undefined && prev.metadata.uid !== uid) {
      return Promise.reject(new ConflictError(`Precondition failed: UID in precondition: ${uid}, UID in object meta: ${prev.metadata.uid ?? ''}`));
    }
    this.store.delete(id);
    this.writes.delete += 1;
    this.notify(undefined, prev);
    return Promise.resolve();
  }

  listOwned(_signal: AbortSignal): Promise<KubeObject[]> {
    this.fault(MemoryOperation.ListOwned);
    return Promise.resolve(
      [...this.store.values()]
        .filter((o) => (o.kind === 'ServiceImport' || o.kind === 'EndpointSlice') && o.metadata.labels?.[OWNED_BY_LABEL] === OWNED_BY_VALUE)
        .map(clone),
    );
  }

  stop(): Promise<void> {
    this.events = undefined;
    return Promise.resolve();
  }

  /** For assertions: the service key string of an object's MCS label. */
  static serviceOf(o: KubeObject): string | undefined {
    const name = o.metadata.labels?.[Labels.McsServiceName];
    return name === undefined ? undefined : serviceKeyString({ namespace: o.metadata.namespace ?? '', name });
  }
}
