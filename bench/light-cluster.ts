// The Kubernetes side of a light consumer (light-agent.ts): the cached reads the agent's Reporter
// makes (ServiceExports, Services, the services' EndpointSlices), held as the plain objects the
// benchmark worker writes, and what the light agent has imported, per service. It writes nothing:
// a light consumer builds no ServiceImport or EndpointSlice, so every write is refused. Like
// BenchCluster, it reports every change marker (`m<seq>` in an endpoint's hostname) once, when the
// import carrying it arrives.
import type { ImportState, ServiceKey } from '../controlplane/api/messages.ts';
import type { EndpointSliceObject, KubeObject, ObjectRef, ServiceExportObject, ServiceObject } from '../cluster-agent/objects.ts';
import type { ClusterEvents, ClusterPort } from '../cluster-agent/ports.ts';
import type { AppliedListener } from './bench-cluster.ts';
import { nowMs } from './ipc.ts';

const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
const noWrites = (): Promise<never> => Promise.reject(new Error('a light consumer has no Kubernetes side: it writes nothing'));

export class LightCluster implements ClusterPort {
  private readonly onApplied: AppliedListener;
  private readonly exports = new Map<string, ServiceExportObject>();
  private readonly services = new Map<string, ServiceObject>();
  private readonly slices = new Map<string, EndpointSliceObject[]>();
  private events: ClusterEvents | undefined;
  /** Per imported service: endpoint count and the last marker seen per address. */
  private readonly importedServices = new Map<string, { count: number; markers: Map<string, string> }>();
  private total = 0;

  constructor(onApplied: AppliedListener) {
    this.onApplied = onApplied;
  }

  /** Stores (or replaces, by identity or name) a ServiceExport, Service or EndpointSlice of this cluster's own. */
  put(object: KubeObject): void {
    const { namespace, name } = object.metadata;
    let key: string;
    if (object.kind === 'ServiceExport') this.exports.set((key = keyOf(namespace, name)), object);
    else if (object.kind === 'Service') this.services.set((key = keyOf(namespace, name)), object);
    else if (object.kind === 'EndpointSlice') {
      const service = object.metadata.labels?.['kubernetes.io/service-name'];
      if (service === undefined) return;
      key = keyOf(namespace, service);
      const list = (this.slices.get(key) ?? []).filter((s) => s !== object && s.metadata.name !== name);
      this.slices.set(key, [...list, object as EndpointSliceObject]);
    } else return;
    const [ns = '', n = ''] = key.split('/');
    this.events?.exportChanged({ namespace: ns, name: n });
  }

  /** Endpoints held in what the light agent imported. */
  importedEndpoints(): number {
    return this.total;
  }

  /** The light agent's desired import of `key` changed (undefined: no longer imported). */
  imported(key: string, state: ImportState | undefined): void {
    const at = nowMs();
    let known = this.importedServices.get(key);
    if (state === undefined) {
      if (known !== undefined) {
        this.total -= known.count;
        this.importedServices.delete(key);
      }
      return;
    }
    if (known === undefined) this.importedServices.set(key, (known = { count: 0, markers: new Map() }));
    this.total += state.endpoints.length - known.count;
    known.count = state.endpoints.length;
    for (const ep of state.endpoints) {
      const address = ep.addresses[0];
      const host = ep.hostname;
      if (address === undefined || host === undefined) continue;
      if (known.markers.get(address) === host) continue;
      known.markers.set(address, host);
      if (host.startsWith('m')) this.onApplied(Number(host.slice(1)), at);
    }
  }

  // ---- ClusterPort: the reads the Reporter makes -------------------------------------------------

  start(events: ClusterEvents): Promise<void> {
    this.events = events;
    return Promise.resolve();
  }

  serviceExports(): ServiceExportObject[] {
    return [...this.exports.values()];
  }

  serviceExport(key: ServiceKey): ServiceExportObject | undefined {
    return this.exports.get(keyOf(key.namespace, key.name));
  }

  service(key: ServiceKey): ServiceObject | undefined {
    return this.services.get(keyOf(key.namespace, key.name));
  }

  endpointSlices(key: ServiceKey): EndpointSliceObject[] {
    return this.slices.get(keyOf(key.namespace, key.name)) ?? [];
  }

  nodeLabels(): undefined {
    return undefined;
  }

  get(_ref: ObjectRef): Promise<KubeObject | undefined> {
    return Promise.resolve(undefined);
  }

  apply(): Promise<KubeObject> {
    return noWrites();
  }

  applyStatus(): Promise<KubeObject> {
    return noWrites();
  }

  delete(): Promise<void> {
    return noWrites();
  }

  listOwned(): Promise<KubeObject[]> {
    return Promise.resolve([]);
  }

  stop(): Promise<void> {
    this.events = undefined;
    return Promise.resolve();
  }
}
