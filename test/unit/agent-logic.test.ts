// The agent's reconcile loops (agent.ts) against the in-memory Kubernetes port (MemoryCluster)
// and an in-memory hub transport defined here: reporting (full first, then incremental,
// sequential, retried), import batches (snapshot, delta, gap → sync, chunks), deletes only after
// a snapshot, adoption without rewrites, ownership.
import assert from 'node:assert/strict';
import {
  PROTOCOL_VERSION,
  type Heartbeat,
  type ImportBatch,
  type ImportState,
  type Report,
  type ReportReply,
  type SyncRequest,
} from '../../controlplane/api/messages.ts';
import { Agent } from '../../cluster-agent/agent.ts';
import { desiredImport } from '../../cluster-agent/imports.ts';
import { MemoryCluster } from '../../cluster-agent/memory-cluster.ts';
import type { KubeObject } from '../../cluster-agent/objects.ts';
import { ConnectionState, type HubTransport, type TransportEvents } from '../../cluster-agent/ports.ts';
import { waitFor } from '../harness/wait.ts';

const CLUSTER = 'c1';

/** The hub side of the transport, in memory; handlers decide the replies. */
class FakeTransport implements HubTransport {
  up = true;
  events: TransportEvents | undefined;
  readonly reports: Report[] = [];
  readonly syncs: SyncRequest[] = [];
  readonly heartbeats: Heartbeat[] = [];
  inFlight = 0;
  maxInFlight = 0;
  onReport: (r: Report) => Promise<ReportReply> = (r) => Promise.resolve({ ok: true, seq: r.seq, revision: 1 });
  onSync: (s: SyncRequest) => Promise<ImportBatch[]> = () => Promise.resolve([batch('snapshot', 0, 1, [])]);

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
  sync(s: SyncRequest): Promise<ImportBatch[]> {
    if (!this.up) return Promise.reject(new Error('not connected'));
    this.syncs.push(s);
    return this.onSync(s);
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

function batch(kind: 'snapshot' | 'delta', from: number, revision: number, upserts: ImportState[], extra: Partial<ImportBatch> = {}): ImportBatch {
  return { v: PROTOCOL_VERSION, cluster: CLUSTER, kind, fromRevision: from, revision, upserts, removals: [], exportStatus: [], ...extra };
}

function imp(name: string, n: number, cluster = 'remote'): ImportState {
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

function seedExport(kube: MemoryCluster, name: string, ips: string[]): void {
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

const names = (objects: KubeObject[]): string[] => objects.map((o) => o.metadata.name).sort();

describe('agent logic against MemoryCluster (in-memory Kubernetes port) and an in-memory hub', () => {
  let agents: Agent[] = [];
  afterEach(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    agents = [];
  });
  function startAgent(kube: MemoryCluster, hub: FakeTransport): Agent {
    const agent = new Agent(kube, hub, {
      cluster: CLUSTER,
      heartbeatIntervalMs: 20,
      resyncJitterMs: 0,
      retryBaseMs: 5,
      retryMaxMs: 40,
      chunkWaitMs: 300,
      driftCheckIntervalMs: 0,
    });
    agents.push(agent);
    void agent.start();
    return agent;
  }

  it('sends a full report too large for one message in ordered parts', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    for (let i = 0; i < 6; i++) seedExport(kube, `svc-${i}`, [`10.0.1.${i + 1}`]);
    const agent = new Agent(kube, hub, {
      cluster: CLUSTER,
      heartbeatIntervalMs: 20,
      resyncJitterMs: 0,
      retryBaseMs: 5,
      retryMaxMs: 40,
      chunkWaitMs: 300,
      driftCheckIntervalMs: 0,
      maxReportBytes: 900,
    });
    agents.push(agent);
    void agent.start();
    await waitFor(
      'every part',
      () =>
        hub.reports.length > 1 &&
        hub.reports.every((r) => r.part !== undefined) &&
        hub.reports.at(-1)?.part?.index === (hub.reports.at(-1)?.part?.count ?? 0) - 1,
    );
    const count = hub.reports[0]?.part?.count ?? 0;
    assert.ok(count > 1);
    assert.deepEqual(
      hub.reports.map((r) => [r.full, r.part?.index, r.part?.count]),
      Array.from({ length: count }, (_, i) => [true, i, count]),
    );
    assert.deepEqual(hub.reports.flatMap((r) => r.upserts.map((u) => u.name)).sort(), ['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4', 'svc-5']);
  });

  it('sends a full report first, then incremental reports one at a time with increasing seq', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    seedExport(kube, 'web', ['10.0.0.1']);
    seedExport(kube, 'api', ['10.0.0.2']);
    let release: (() => void) | undefined;
    hub.onReport = async (r) => {
      // Hold the first incremental report, so that later changes must coalesce behind it.
      if (!r.full && release === undefined) await new Promise<void>((res) => (release = res));
      return { ok: true, seq: r.seq, revision: r.seq };
    };
    startAgent(kube, hub);
    const full = await waitFor('the full report', () => hub.reports[0]);
    assert.equal(full.full, true);
    assert.deepEqual(full.upserts.map((u) => u.name).sort(), ['api', 'web']);

    seedExport(kube, 'web', ['10.0.0.1', '10.0.0.3']);
    await waitFor('the held incremental report', () => release !== undefined);
    seedExport(kube, 'api', ['10.0.0.4']);
    kube.remove('ServiceExport', 'apps', 'web');
    release?.();
    await waitFor('the coalesced report', () => hub.reports.length === 3);
    const [, first, second] = hub.reports;
    assert.deepEqual(
      first?.upserts.map((u) => [u.name, u.endpoints.length]),
      [['web', 2]],
    );
    assert.equal(second?.full, false);
    assert.deepEqual(
      second.upserts.map((u) => [u.name, u.endpoints.map((e) => e.addresses[0])]),
      [['api', ['10.0.0.4']]],
    );
    assert.deepEqual(second.removals, [{ namespace: 'apps', name: 'web' }]);
    assert.deepEqual(
      hub.reports.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(hub.maxInFlight, 1, 'reports are sequential');
  });

  it('retries a failed report and sends a full report after a reconnect', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    seedExport(kube, 'web', ['10.0.0.1']);
    let failures = 2;
    hub.onReport = (r) => (failures-- > 0 ? Promise.reject(new Error('timeout')) : Promise.resolve({ ok: true, seq: r.seq, revision: 1 }));
    const agent = startAgent(kube, hub);
    await waitFor('an acknowledged report', () => agent.metrics.reportsSent === 1);
    assert.ok(
      hub.reports.every((r) => r.full),
      'every attempt of the first report is full',
    );
    assert.equal(agent.metrics.reportFailures, 2);
    hub.setUp(false);
    hub.setUp(true);
    await waitFor('a full report after reconnect', () => agent.metrics.fullReportsSent === 2);
  });

  it('applies a snapshot, a delta, asks to sync on a gap, and deletes only what it owns', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSync = (s) =>
      Promise.resolve(s.afterRevision === 0 ? [batch('snapshot', 0, 5, [imp('web', 150)])] : [batch('delta', s.afterRevision, 9, [imp('web', 1)])]);
    const agent = startAgent(kube, hub);
    await waitFor('the snapshot applied', () => agent.appliedRevision() === 5);
    assert.deepEqual(names(kube.list('EndpointSlice', 'apps')), ['web-remote-ipv4-0', 'web-remote-ipv4-1']);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['web']);

    hub.push(batch('delta', 5, 6, [imp('web', 120)]));
    await waitFor('the delta applied', () => agent.appliedRevision() === 6);
    hub.push(batch('delta', 7, 8, [imp('web', 2)]));
    await waitFor('a sync after the gap', () => hub.syncs.some((s) => s.afterRevision === 6));
    await waitFor('the sync reply applied', () => agent.appliedRevision() === 9);
    assert.deepEqual(names(kube.list('EndpointSlice', 'apps')), ['web-remote-ipv4-0']);

    kube.put({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-hand-made', namespace: 'apps', labels: { 'multicluster.kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [],
    });
    hub.push(batch('delta', 9, 10, [], { removals: [{ namespace: 'apps', name: 'web' }] }));
    await waitFor('the removal applied', () => agent.appliedRevision() === 10);
    assert.deepEqual(names(kube.list('EndpointSlice', 'apps')), ['web-hand-made']);
    assert.deepEqual(kube.list('ServiceImport', 'apps'), []);
  });

  it('assembles a chunked snapshot from the sync reply and pushed chunks', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSync = () => {
      setImmediate(() => {
        hub.push(batch('snapshot', 0, 3, [imp('b', 1)], { chunk: { index: 1, count: 2 } }));
      });
      return Promise.resolve([batch('snapshot', 0, 3, [imp('a', 1)], { chunk: { index: 0, count: 2 } })]);
    };
    const agent = startAgent(kube, hub);
    await waitFor('both chunks applied', () => agent.appliedRevision() === 3);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['a', 'b']);
  });

  it('adopts objects of a previous agent: unchanged ones are not rewritten, stale ones go only after the snapshot', async () => {
    const kube = new MemoryCluster();
    const d = desiredImport(imp('web', 3));
    for (const o of [d.serviceImport, ...d.endpointSlices]) kube.put(o);
    kube.put({
      ...d.serviceImport,
      metadata: { ...d.serviceImport.metadata, name: 'gone', labels: { 'causeway.dev/owned-by': 'agent', 'multicluster.kubernetes.io/service-name': 'gone' } },
    });
    const uid = kube.object('EndpointSlice', 'apps', 'web-remote-ipv4-0')?.metadata.uid;
    const hub = new FakeTransport();
    let answer: ((b: ImportBatch[]) => void) | undefined;
    hub.onSync = () => new Promise((res) => (answer = res));
    const agent = startAgent(kube, hub);
    await waitFor('the sync request', () => answer !== undefined);
    await waitFor('adoption', () => agent.metrics.objectsAdopted === 3);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['gone', 'web'], 'nothing deleted before a snapshot');
    answer?.([batch('snapshot', 0, 4, [imp('web', 3)])]);
    await waitFor('the snapshot applied', () => agent.appliedRevision() === 4);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['web']);
    assert.equal(kube.object('EndpointSlice', 'apps', 'web-remote-ipv4-0')?.metadata.uid, uid);
    assert.equal(kube.writes.apply, 0, 'adopted objects that match are not rewritten');
  });

  it('keeps everything while the hub is away and leaves objects it does not own alone', async () => {
    const kube = new MemoryCluster();
    kube.put({
      apiVersion: 'multicluster.x-k8s.io/v1alpha1',
      kind: 'ServiceImport',
      metadata: { name: 'theirs', namespace: 'apps' },
      spec: { type: 'Headless' },
    });
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 2, [imp('web', 2), imp('theirs', 1)])]);
    const agent = startAgent(kube, hub);
    await waitFor('the snapshot applied', () => agent.appliedRevision() === 2);
    assert.equal(agent.metrics.ownershipConflicts, 1);
    assert.deepEqual(kube.object('ServiceImport', 'apps', 'theirs')?.spec, { type: 'Headless' });
    hub.onSync = () => Promise.reject(new Error('timeout'));
    hub.setUp(false);
    hub.setUp(true);
    await waitFor('failed syncs', () => agent.metrics.syncFailures >= 2);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['theirs', 'web']);
    assert.equal(kube.list('EndpointSlice', 'apps').length, 2);
    assert.equal(kube.writes.delete, 0);
  });

  it('retries failed Kubernetes writes, then reports the applied revision in heartbeats', async () => {
    const kube = new MemoryCluster();
    kube.failNext(3, ['apply']);
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 7, [imp('web', 1)])]);
    const agent = startAgent(kube, hub);
    // The failing key retries on its own backoff; the heartbeat says up to date once it is in.
    const hb = await waitFor('a heartbeat at revision 7, up to date', () =>
      hub.heartbeats.find((h) => h.appliedRevision === 7 && h.conditions?.find((c) => c.type === 'ImportsApplied')?.status === 'True'),
    );
    assert.ok(agent.metrics.applyErrors >= 1);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['web']);
    assert.equal(hb.conditions?.find((c) => c.type === 'KubernetesReachable')?.status, 'True');
    assert.equal(hb.conditions.find((c) => c.type === 'ImportsApplied')?.status, 'True');
  });

  it("writes Valid=False ServiceNotFound on a ServiceExport without a Service, and the hub's conditions otherwise", async () => {
    const kube = new MemoryCluster();
    kube.put({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'lonely', namespace: 'apps' } });
    seedExport(kube, 'web', ['10.0.0.1']);
    const hub = new FakeTransport();
    const ready = { type: 'Ready', status: 'True' as const, reason: 'Exported', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' };
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 1, [], { exportStatus: [{ namespace: 'apps', name: 'web', conditions: [ready] }] })]);
    startAgent(kube, hub);
    await waitFor(
      'Valid=False',
      () =>
        (kube.object('ServiceExport', 'apps', 'lonely')?.status as { conditions?: { reason: string }[] } | undefined)?.conditions?.[0]?.reason ===
        'ServiceNotFound',
    );
    await waitFor(
      "the hub's Ready",
      () => (kube.object('ServiceExport', 'apps', 'web')?.status as { conditions?: unknown[] } | undefined)?.conditions?.length === 1,
    );
    assert.deepEqual((kube.object('ServiceExport', 'apps', 'web')?.status as { conditions: unknown[] }).conditions, [ready]);
  });
});
