// The defect of issue 8: one ServiceImport the API server refuses must not hold back the other
// services nor the applied revision; it is retried on its own key's backoff and shows in the
// heartbeat. Runs the real Agent against MemoryCluster (in-memory Kubernetes port, refusing one
// object) and the in-memory hub of fake-hub.ts, on a ManualClock.
import assert from 'node:assert/strict';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import { Agent } from '../../../cluster-agent/agent.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import { CLUSTER, FakeTransport, batch, drive, imp, names, settle } from './fake-hub.ts';

const endpointsOf = (kube: MemoryCluster, slice: string): number =>
  ((kube.object('EndpointSlice', 'apps', slice)?.endpoints as unknown[] | undefined) ?? []).length;

describe('agent: a refused ServiceImport backs off alone (MemoryCluster, in-memory hub, ManualClock)', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it('applies the other services, advances the applied revision, reports ApplyFailed, and applies the refused one on its retry', async () => {
    const clock = new ManualClock(0);
    const kube = new MemoryCluster();
    kube.refuse('ServiceImport', 'apps', 'bad', 'admission webhook "deny.example" denied the request');
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 3, [imp('good-1', 1), imp('bad', 1), imp('good-2', 1)])]);
    // random() = 1: retries at exactly 100, 200, 400, 800, 1000, 1000 ... ms.
    agent = new Agent(kube, hub, {
      cluster: CLUSTER,
      heartbeatIntervalMs: 50,
      resyncJitterMs: 0,
      retryBaseMs: 100,
      retryMaxMs: 1000,
      driftCheckIntervalMs: 0,
      random: () => 1,
      clock,
    });
    const a = agent;
    void a.start();

    await settle();
    assert.equal(a.appliedRevision(), 3, 'revision 3 applied at once although one service fails');
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['good-1', 'good-2']);
    assert.equal(a.metrics.applyErrors, 1);
    const failed = a.heartbeat().conditions?.find((c) => c.type === 'ImportsApplied');
    assert.equal(failed?.status, 'False');
    assert.equal(failed.reason, 'ApplyFailed');
    assert.match(failed.message, /apps\/bad: .*deny\.example/);
    assert.deepEqual([...a.failingServices().keys()], ['apps/bad']);
    const sent = await drive(clock, 'a heartbeat saying so', () => hub.heartbeats.find((h) => h.conditions?.some((c) => c.reason === 'ApplyFailed')));
    assert.equal(sent.appliedRevision, 3);

    // Later revisions go on while the refused key waits for its retry.
    hub.push(batch('delta', 3, 4, [imp('good-1', 3)]));
    await settle();
    assert.equal(a.appliedRevision(), 4);
    assert.equal(endpointsOf(kube, 'good-1-remote-ipv4-0'), 3);
    assert.equal(a.metrics.applyErrors, 1, 'the delta did not retry the refused key early');

    // Its own backoff: 100 ms after the first failure, then 200 ms after the second.
    await drive(clock, 'the first retry', () => a.metrics.applyErrors === 2, 100);
    assert.equal(kube.object('ServiceImport', 'apps', 'bad'), undefined);
    kube.stopRefusing('ServiceImport', 'apps', 'bad');
    clock.advance(190);
    await settle();
    assert.equal(kube.object('ServiceImport', 'apps', 'bad'), undefined, 'not before its next retry');
    await drive(clock, 'the refused service applied on its retry', () => kube.object('ServiceImport', 'apps', 'bad'), 20);
    assert.equal(endpointsOf(kube, 'bad-remote-ipv4-0'), 1);
    const ok = a.heartbeat().conditions?.find((c) => c.type === 'ImportsApplied');
    assert.deepEqual([ok?.status, ok?.reason], ['True', 'UpToDate']);
    assert.equal(a.appliedRevision(), 4);
    assert.equal(a.failingServices().size, 0);
  });
});
