// Test doubles for the agent's unit tests: the hub side of the HubTransport port in memory
// (replies decided by the test), builders of import batches, import states and exports, and
// moving a ManualClock until a condition holds (virtual time: no test waits on real timers).
import {
  PROTOCOL_VERSION,
  type ClusterSettings,
  type Heartbeat,
  type ImportBatch,
  type ImportState,
  type Report,
  type ReportReply,
  type SettingsRequest,
  type SyncRequest,
} from '../../../controlplane/api/messages.ts';
import { raceAbort } from '../../../controlplane/kernel/async.ts';
import type { ManualClock } from '../../../controlplane/kernel/clock.ts';
import type { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import type { KubeObject } from '../../../cluster-agent/objects.ts';
import { ConnectionState, type HubTransport, type TransportEvents } from '../../../cluster-agent/ports.ts';

export const CLUSTER = 'c1';

/** The hub side of the transport, in memory; handlers decide the replies. */
export class FakeTransport implements HubTransport {
  up = true;
  events: TransportEvents | undefined;
  readonly reports: Report[] = [];
  readonly syncs: SyncRequest[] = [];
  readonly heartbeats: Heartbeat[] = [];
  readonly settingsRequests: SettingsRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  onReport: (r: Report) => Promise<ReportReply> = (r) => Promise.resolve({ ok: true, seq: r.seq, revision: 1 });
  onSync: (s: SyncRequest) => Promise<ImportBatch[]> = () => Promise.resolve([batch('snapshot', 0, 1, [])]);
  onSettings: (s: SettingsRequest) => Promise<ClusterSettings> = () => Promise.resolve({ v: PROTOCOL_VERSION, cluster: CLUSTER, revision: 1 });

  start(events: TransportEvents): Promise<void> {
    this.events = events;
    return Promise.resolve();
  }
  connected(): boolean {
    return this.up;
  }
  async report(report: Report): Promise<ReportReply> {
    if (!this.up) throw new Error('not connected');
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      this.reports.push(report);
      return await this.onReport(report);
    } finally {
      this.inFlight -= 1;
    }
  }
  heartbeat(h: Heartbeat): void {
    this.heartbeats.push(h);
  }
  sync(s: SyncRequest, signal?: AbortSignal): Promise<ImportBatch[]> {
    if (!this.up) return Promise.reject(new Error('not connected'));
    this.syncs.push(s);
    // As the NATS transport does: an abort ends the wait for a reply at once.
    return signal === undefined ? this.onSync(s) : raceAbort(this.onSync(s), signal);
  }
  settings(s: SettingsRequest): Promise<ClusterSettings> {
    if (!this.up) return Promise.reject(new Error('not connected'));
    this.settingsRequests.push(s);
    return this.onSettings(s);
  }
  pushSettings(s: ClusterSettings): void {
    this.events?.settings?.(s);
  }
  push(b: ImportBatch): void {
    this.events?.imports(b);
  }
  setUp(up: boolean): void {
    this.up = up;
    this.events?.connection(up ? ConnectionState.Reconnected : ConnectionState.Disconnected);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export function batch(kind: 'snapshot' | 'delta', from: number, revision: number, upserts: ImportState[], extra: Partial<ImportBatch> = {}): ImportBatch {
  return { v: PROTOCOL_VERSION, cluster: CLUSTER, kind, fromRevision: from, revision, upserts, removals: [], exportStatus: [], ...extra };
}

export function imp(name: string, n: number, cluster = 'remote'): ImportState {
  return {
    namespace: 'apps',
    name,
    type: 'ClusterSetIP',
    ports: [{ port: 80, protocol: 'TCP' }],
    ips: ['10.200.0.1'],
    sessionAffinity: 'None',
    clusters: [cluster],
    endpoints: Array.from({ length: n }, (_, i) => ({
      cluster,
      addresses: [`10.9.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      ready: true,
      serving: true,
      terminating: false,
    })),
  };
}

export function seedExport(kube: MemoryCluster, name: string, ips: string[]): void {
  kube.put({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name, namespace: 'apps' } });
  kube.put({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'apps' },
    spec: { clusterIP: '10.96.0.5', ports: [{ port: 80, protocol: 'TCP' }] },
  });
  kube.put({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-x1`, namespace: 'apps', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip] })),
  });
}

export const names = (objects: KubeObject[]): string[] => objects.map((o) => o.metadata.name).sort();

/** Lets every promise chain that is ready run to completion (no timers involved). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++)
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
}

/** Moves the manual clock in steps until `probe` holds; fails after `maxMs` of virtual time. */
export async function drive<T>(clock: ManualClock, what: string, probe: () => T | undefined | false, maxMs = 10_000, stepMs = 10): Promise<T> {
  for (let t = 0; ; t += stepMs) {
    await settle();
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (t >= maxMs) throw new Error(`not reached within ${maxMs} ms of virtual time: ${what}`);
    clock.advance(stepMs);
  }
}
