// The agent's controllers wired together (agent.ts) against the in-memory Kubernetes port
// (MemoryCluster) and an in-memory hub (test/unit/agent/fake-hub.ts), on a ManualClock: retries,
// heartbeats and the jittered sync run only when the test moves time, so nothing here waits on
// real timers. What each step decides is tested on the planners (test/unit/agent/*.test.ts);
// this proves the loops: full report first, sequential and coalescing reports, retries, full
// report and jittered sync after a reconnect, snapshot/delta/gap/chunks end to end, adoption,
// ownership, the hub away, ServiceExport status.
import assert from 'node:assert/strict';
import { importDigest } from '../../controlplane/api/import-digest.ts';
import type { ImportBatch, ImportState } from '../../controlplane/api/messages.ts';
import { desiredImport } from '../../cluster-agent/imports.ts';
import { MemoryCluster } from '../../cluster-agent/memory-cluster.ts';
import { agentsOnClock } from './agent/agents-on-clock.ts';
import { FakeTransport, batch, drive, imp, names, seedExport, settle } from './agent/fake-hub.ts';

describe('agent loops on a ManualClock against MemoryCluster (in-memory Kubernetes port) and an in-memory hub', () => {
  const agents = agentsOnClock({ heartbeatIntervalMs: 100, chunkWaitMs: 300 });

  it('sends a full report too large for one message in ordered parts, one after another', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    for (let i = 0; i < 6; i++) seedExport(kube, `svc-${i}`, [`10.0.1.${i + 1}`]);
    agents.start(kube, hub, { maxReportBytes: 900 });
    await drive(agents.clock, 'every part', () => hub.reports.length > 1 && hub.reports.at(-1)?.part?.index === (hub.reports.at(-1)?.part?.count ?? 0) - 1);
    const count = hub.reports[0]?.part?.count ?? 0;
    assert.ok(count > 1);
    assert.deepEqual(
      hub.reports.map((r) => [r.full, r.part?.index, r.part?.count]),
      Array.from({ length: count }, (_, i) => [true, i, count]),
    );
    assert.deepEqual(hub.reports.flatMap((r) => r.upserts.map((u) => u.name)).sort(), ['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4', 'svc-5']);
    assert.equal(hub.maxInFlight, 1);
  });

  it('sends a full report first, then incremental reports one at a time, coalescing changes behind the one in flight', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    seedExport(kube, 'web', ['10.0.0.1']);
    seedExport(kube, 'api', ['10.0.0.2']);
    let release: (() => void) | undefined;
    hub.onReport = async (r) => {
      if (!r.full && release === undefined) await new Promise<void>((res) => (release = res));
      return { ok: true, seq: r.seq, revision: r.seq };
    };
    agents.start(kube, hub);
    const full = await drive(agents.clock, 'the full report', () => hub.reports[0]);
    assert.equal(full.full, true);
    assert.deepEqual(full.upserts.map((u) => u.name).sort(), ['api', 'web']);

    seedExport(kube, 'web', ['10.0.0.1', '10.0.0.3']);
    await drive(agents.clock, 'the held incremental report', () => release !== undefined);
    seedExport(kube, 'api', ['10.0.0.4']);
    kube.remove('ServiceExport', 'apps', 'web');
    release?.();
    await drive(agents.clock, 'the coalesced report', () => hub.reports.length === 3);
    await settle();
    assert.equal(hub.reports.length, 3, 'the changes behind the held report went in one report');
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

  it('retries a failed report on its backoff, and sends a full report after a reconnect', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    seedExport(kube, 'web', ['10.0.0.1']);
    let failures = 2;
    hub.onReport = (r) => (failures-- > 0 ? Promise.reject(new Error('timeout')) : Promise.resolve({ ok: true, seq: r.seq, revision: 1 }));
    const agent = agents.start(kube, hub);
    await settle();
    assert.equal(hub.reports.length, 1, 'no retry before its backoff has passed');
    await drive(agents.clock, 'an acknowledged report', () => agent.metrics.reportsSent === 1);
    assert.equal(hub.reports.length, 3);
    assert.ok(
      hub.reports.every((r) => r.full),
      'every attempt of the first report is full',
    );
    assert.equal(agent.metrics.reportFailures, 2);
    hub.setUp(false);
    hub.setUp(true);
    await drive(agents.clock, 'a full report after reconnect', () => agent.metrics.fullReportsSent === 2);
  });

  // A report whose reply was lost (a timeout) may still have been stored: the agent cannot know,
  // so what it reports next must be right whichever it was.
  const lostReplies: [string, (kube: MemoryCluster) => void, string[]][] = [
    [
      'a new export removed before the retry',
      (kube) => {
        kube.remove('ServiceExport', 'apps', 'api');
      },
      ['web=10.0.0.1,10.0.0.3'],
    ],
    [
      'an export changed back to what the hub acknowledged',
      (kube) => {
        seedExport(kube, 'web', ['10.0.0.1']);
      },
      ['api=10.0.0.2', 'web=10.0.0.1'],
    ],
  ];
  for (const [what, change, expected] of lostReplies) {
    it(`a report that timed out but was stored leaves the hub right: ${what}`, async () => {
      const kube = new MemoryCluster();
      const hub = new FakeTransport();
      seedExport(kube, 'web', ['10.0.0.1']);
      // The hub's exports as stored: every report is applied, and the second one's reply is lost.
      const stored = new Map<string, string>();
      hub.onReport = (r) => {
        if (r.full) stored.clear();
        for (const u of r.upserts) stored.set(u.name, u.endpoints.map((e) => e.addresses[0]).join(','));
        for (const x of r.removals) stored.delete(x.name);
        return r.seq === 2 ? Promise.reject(new Error('TIMEOUT')) : Promise.resolve({ ok: true, seq: r.seq, revision: r.seq });
      };
      const agent = agents.start(kube, hub);
      await drive(agents.clock, 'the full report', () => agent.metrics.reportsSent === 1);
      seedExport(kube, 'api', ['10.0.0.2']);
      seedExport(kube, 'web', ['10.0.0.1', '10.0.0.3']);
      await drive(agents.clock, 'the report whose reply is lost', () => agent.metrics.reportFailures === 1);
      change(kube);
      await drive(agents.clock, 'the retry acknowledged', () => agent.metrics.reportsSent === 2);
      await settle();
      assert.deepEqual([...stored].map(([name, addresses]) => `${name}=${addresses}`).sort(), expected);
    });
  }

  it('retries reports at most every 5 s however long the hub was away, so its return is seen within seconds', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    seedExport(kube, 'web', ['10.0.0.1']);
    let away = true;
    hub.onReport = (r) => (away ? Promise.reject(new Error('no responders')) : Promise.resolve({ ok: true, seq: r.seq, revision: 1 }));
    // The product's defaults: 250 ms doubling, Kubernetes writes up to 30 s.
    const agent = agents.start(kube, hub, { retryBaseMs: 250, retryMaxMs: 30_000 });
    // Two minutes of a hub that never answers: the backoff has long reached its ceiling.
    await drive(agents.clock, 'two minutes of failed reports', () => agents.clock.now() >= 120_000, 130_000, 100);
    assert.ok(agent.metrics.reportFailures >= 25, `${agent.metrics.reportFailures} attempts in two minutes`);
    away = false;
    const back = agents.clock.now();
    await drive(agents.clock, 'the report once the hub answers', () => agent.metrics.reportsSent === 1, 10_000, 50);
    assert.ok(agents.clock.now() - back <= 5000, `sent ${agents.clock.now() - back} ms after the hub was back`);
  });

  it('syncs after a reconnect only after its random delay', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 2, [imp('web', 1)])]);
    const agent = agents.start(kube, hub, { resyncJitterMs: 1000 });
    await drive(agents.clock, 'the first snapshot applied', () => agent.appliedRevision() === 2);
    const before = hub.syncs.length;
    hub.setUp(false);
    hub.setUp(true);
    agents.clock.advance(499);
    await settle();
    assert.equal(hub.syncs.length, before, 'random() = 0.5 of 1000 ms: not yet');
    agents.clock.advance(1);
    await settle();
    assert.equal(hub.syncs.length, before + 1);
    assert.equal(hub.syncs.at(-1)?.afterRevision, 2, 'a delta from where it is, not a snapshot');
  });

  it('applies a snapshot, a delta, asks to sync on a gap, and deletes only what it owns', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSync = (s) =>
      Promise.resolve(s.afterRevision === 0 ? [batch('snapshot', 0, 5, [imp('web', 150)])] : [batch('delta', s.afterRevision, 9, [imp('web', 1)])]);
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 5);
    assert.deepEqual(names(kube.list('EndpointSlice', 'apps')), ['web-remote-ipv4-0', 'web-remote-ipv4-1']);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['web']);

    hub.push(batch('delta', 5, 6, [imp('web', 120)]));
    await drive(agents.clock, 'the delta applied', () => agent.appliedRevision() === 6);
    hub.push(batch('delta', 7, 8, [imp('web', 2)]));
    await drive(agents.clock, 'a sync after the gap', () => hub.syncs.some((s) => s.afterRevision === 6));
    await drive(agents.clock, 'the sync reply applied', () => agent.appliedRevision() === 9);
    assert.deepEqual(names(kube.list('EndpointSlice', 'apps')), ['web-remote-ipv4-0']);

    kube.put({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-hand-made', namespace: 'apps', labels: { 'multicluster.kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [],
    });
    hub.push(batch('delta', 9, 10, [], { removals: [{ namespace: 'apps', name: 'web' }] }));
    await drive(agents.clock, 'the removal applied', () => agent.appliedRevision() === 10);
    assert.deepEqual(names(kube.list('EndpointSlice', 'apps')), ['web-hand-made']);
    assert.deepEqual(kube.list('ServiceImport', 'apps'), []);
  });

  it('a new leader’s "sync wanted" replaces a sync hanging on a dead hub, and its snapshot keeps what is held as is', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 2, [imp('web', 3), imp('api', 1)])]);
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the first snapshot applied', () => agent.appliedRevision() === 2);
    const web = kube.list('EndpointSlice', 'apps').find((s) => s.metadata.name.startsWith('web-'));
    assert.ok(web?.metadata.resourceVersion !== undefined);
    // The leader dies: a gap makes the agent ask, and no one answers.
    hub.onSync = () => new Promise<ImportBatch[]>(() => undefined);
    hub.push(batch('delta', 7, 8, []));
    await drive(agents.clock, 'a sync in flight', () => hub.syncs.length === 2);
    // A new leader asks for a sync; it keeps what the agent holds as it has it.
    hub.onSync = (s) => Promise.resolve([batch('snapshot', 0, 9, [imp('new', 1)], { kept: (s.held ?? []).filter((h) => h.name === 'web') })]);
    hub.push({ ...batch('delta', 9, 9, []), syncWanted: true });
    await drive(agents.clock, 'the new leader’s snapshot applied', () => agent.appliedRevision() === 9, 2000);
    const asked = hub.syncs[2];
    assert.deepEqual(asked?.held?.map((h) => h.name).sort(), ['api', 'web'], 'it named what it holds');
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['new', 'web']);
    assert.equal(
      kube.list('EndpointSlice', 'apps').find((s) => s.metadata.name === web.metadata.name)?.metadata.resourceVersion,
      web.metadata.resourceVersion,
      'the kept import was not rewritten',
    );
    assert.equal(agent.metrics.syncFailures, 0, 'the replaced sync is no failure');
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
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'both chunks applied', () => agent.appliedRevision() === 3);
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
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the sync request', () => answer !== undefined);
    await drive(agents.clock, 'adoption', () => agent.metrics.objectsAdopted === 3);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['gone', 'web'], 'nothing deleted before a snapshot');
    answer?.([batch('snapshot', 0, 4, [imp('web', 3)])]);
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 4);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['web']);
    assert.equal(kube.object('EndpointSlice', 'apps', 'web-remote-ipv4-0')?.metadata.uid, uid);
    assert.equal(kube.writes.apply, 0, 'adopted objects that match are not rewritten');
  });

  it('restarted on its cluster, names what the objects there say in its first sync: what the snapshot keeps is held, not rewritten', async () => {
    // As the hub builds them: a clusterPorts entry for every cluster with endpoints.
    const hubImport = (name: string, n: number): ImportState => ({
      ...imp(name, n),
      clusterPorts: [{ cluster: 'remote', ports: [{ port: 80, protocol: 'TCP' }] }],
    });
    const web = hubImport('web', 3);
    const api = hubImport('api', 2);
    const kube = new MemoryCluster();
    for (const s of [web, api]) {
      const d = desiredImport(s);
      kube.put({ ...d.serviceImport, status: d.serviceImportStatus['status'] });
      for (const o of d.endpointSlices) kube.put(o);
    }
    // The hub now has api with another endpoint: it keeps web and sends api.
    const apiNow = hubImport('api', 3);
    const hub = new FakeTransport();
    hub.onSync = (s) =>
      Promise.resolve([batch('snapshot', 0, 5, [apiNow], { kept: (s.held ?? []).filter((h) => h.name === 'web' && h.digest === importDigest(web)) })]);
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 5);
    assert.deepEqual(
      hub.syncs[0]?.held?.map((h) => [h.name, h.digest]).sort(),
      [
        ['api', importDigest(api)],
        ['web', importDigest(web)],
      ],
      'the first sync named both, by the digests the hub has for them',
    );
    assert.equal(kube.writes.apply, 1, 'only the import that changed was written (its one slice)');
    assert.equal((kube.object('EndpointSlice', 'apps', 'api-remote-ipv4-0')?.['endpoints'] as unknown[]).length, 3);
    assert.equal(agent.metrics.importsUnfit, 0);
    assert.equal(agent.metrics.importsRecovered, 1, 'web was read back from the cluster and kept');
    // What was kept is held as the hub has it: an endpoint patch applies on top of it.
    const added = { cluster: 'remote', addresses: ['10.9.0.99'], ready: true, serving: true, terminating: false };
    hub.push(batch('delta', 5, 6, [], { patches: [{ namespace: 'apps', name: 'web', count: 3, at: 3, remove: 0, insert: [added] }] }));
    await drive(agents.clock, 'the patch applied', () => agent.appliedRevision() === 6);
    assert.deepEqual(
      (kube.object('EndpointSlice', 'apps', 'web-remote-ipv4-0')?.['endpoints'] as { addresses: string[] }[]).map((e) => e.addresses[0]),
      ['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.9.0.99'],
    );
    assert.equal(hub.syncs.length, 1, 'no second sync: nothing was unfit');
  });

  it('repairs drift on its interval: an owned object someone deleted is applied again', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 2, [imp('web', 1)])]);
    const agent = agents.start(kube, hub, { driftCheckIntervalMs: 1000 });
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 2);
    kube.remove('EndpointSlice', 'apps', 'web-remote-ipv4-0');
    agents.clock.advance(990);
    await settle();
    assert.equal(kube.object('EndpointSlice', 'apps', 'web-remote-ipv4-0'), undefined, 'not before the drift check');
    await drive(agents.clock, 'the slice re-applied', () => kube.object('EndpointSlice', 'apps', 'web-remote-ipv4-0'), 100);
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
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 2);
    assert.equal(agent.metrics.ownershipConflicts, 1);
    assert.deepEqual(kube.object('ServiceImport', 'apps', 'theirs')?.spec, { type: 'Headless' });
    hub.onSync = () => Promise.reject(new Error('timeout'));
    hub.setUp(false);
    hub.setUp(true);
    await drive(agents.clock, 'failed syncs', () => agent.metrics.syncFailures >= 2);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['theirs', 'web']);
    assert.equal(kube.list('EndpointSlice', 'apps').length, 2);
    assert.equal(kube.writes.delete, 0);
  });

  it('retries failed Kubernetes writes, then heartbeats say the applied revision is up to date', async () => {
    const kube = new MemoryCluster();
    kube.failNext(3, ['apply']);
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 7, [imp('web', 1)])]);
    const agent = agents.start(kube, hub);
    const hb = await drive(agents.clock, 'a heartbeat at revision 7, up to date', () =>
      hub.heartbeats.find((h) => h.appliedRevision === 7 && h.conditions?.find((c) => c.type === 'ImportsApplied')?.status === 'True'),
    );
    assert.ok(agent.metrics.applyErrors >= 1);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['web']);
    assert.equal(hb.conditions?.find((c) => c.type === 'KubernetesReachable')?.status, 'True');
    const sent = hub.heartbeats.length;
    agents.clock.advance(100);
    await settle();
    assert.equal(hub.heartbeats.length, sent + 1, 'one heartbeat per interval');
  });

  it("writes Valid=False ServiceNotFound on a ServiceExport without a Service, and the hub's conditions otherwise", async () => {
    const kube = new MemoryCluster();
    kube.put({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'lonely', namespace: 'apps' } });
    seedExport(kube, 'web', ['10.0.0.1']);
    const hub = new FakeTransport();
    const ready = { type: 'Ready', status: 'True' as const, reason: 'Exported', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' };
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 1, [], { exportStatus: [{ namespace: 'apps', name: 'web', conditions: [ready] }] })]);
    agents.start(kube, hub);
    const conditionsOf = (name: string): { reason: string }[] | undefined =>
      (kube.object('ServiceExport', 'apps', name)?.status as { conditions?: { reason: string }[] } | undefined)?.conditions;
    await drive(agents.clock, 'Valid=False', () => conditionsOf('lonely')?.[0]?.reason === 'ServiceNotFound');
    await drive(agents.clock, "the hub's Ready", () => conditionsOf('web')?.length === 1);
    assert.deepEqual(conditionsOf('web'), [ready]);
  });
});
