// BenchCluster: the agent's in-memory Kubernetes side (MemoryCluster) instrumented for the
// benchmark. It watches the agent's own writes of imported EndpointSlices: every endpoint whose
// hostname carries a change marker (`m<seq>`, set by a source cluster) is reported once, with the
// time the write landed, and it keeps a running count of the endpoints imported.
import { MemoryCluster } from '../cluster-agent/memory-cluster.ts';
import { Labels, MANAGED_BY_AGENT, type KubeObject, type ObjectRef } from '../cluster-agent/objects.ts';
import { nowMs } from './ipc.ts';

interface SliceEndpoint {
  readonly addresses?: readonly string[];
  readonly hostname?: string;
}

export type AppliedListener = (seq: number, atMs: number) => void;

const idOf = (kind: string, namespace: string | undefined, name: string): string => `${kind}/${namespace ?? ''}/${name}`;

export class BenchCluster extends MemoryCluster {
  private readonly onApplied: AppliedListener;
  /** Per imported slice: endpoint count and the last marker seen per address. */
  private readonly slices = new Map<string, { count: number; markers: Map<string, string> }>();
  private total = 0;

  constructor(onApplied: AppliedListener) {
    super();
    this.onApplied = onApplied;
  }

  /** Endpoints held in the agent's imported EndpointSlices. */
  importedEndpoints(): number {
    return this.total;
  }

  override async apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const stored = await super.apply(object, signal);
    if (object.kind === 'EndpointSlice' && object.metadata.labels?.[Labels.ManagedBy] === MANAGED_BY_AGENT) this.observe(object);
    return stored;
  }

  override async delete(ref: ObjectRef, uid: string | undefined, signal: AbortSignal): Promise<void> {
    await super.delete(ref, uid, signal);
    const id = idOf(ref.kind, ref.namespace, ref.name);
    const known = this.slices.get(id);
    if (known !== undefined) {
      this.total -= known.count;
      this.slices.delete(id);
    }
  }

  /** Counts slices already present (a warm restart keeps the cluster, and the agent adopts them). */
  recount(): void {
    this.slices.clear();
    this.total = 0;
    for (const o of this.list('EndpointSlice')) if (o.metadata.labels?.[Labels.ManagedBy] === MANAGED_BY_AGENT) this.observe(o, false);
  }

  private observe(slice: KubeObject, report = true): void {
    const at = nowMs();
    const id = idOf(slice.kind, slice.metadata.namespace, slice.metadata.name);
    const endpoints = (slice.endpoints ?? []) as readonly SliceEndpoint[];
    let known = this.slices.get(id);
    if (known === undefined) this.slices.set(id, (known = { count: 0, markers: new Map() }));
    this.total += endpoints.length - known.count;
    known.count = endpoints.length;
    for (const ep of endpoints) {
      const address = ep.addresses?.[0];
      const host = ep.hostname;
      if (address === undefined || host === undefined) continue;
      if (known.markers.get(address) === host) continue;
      known.markers.set(address, host);
      if (report && host.startsWith('m')) this.onApplied(Number(host.slice(1)), at);
    }
  }
}
