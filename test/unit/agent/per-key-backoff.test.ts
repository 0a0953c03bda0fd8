// The defect of issue 8: one ServiceImport the API server refuses must not hold back the other
// services nor the applied revision; it is retried on its own key's backoff and shows in the
// heartbeat. Runs the real Agent against MemoryCluster (in-memory Kubernetes port, refusing one
// object) and the in-memory hub of fake-hub.ts.
import assert from 'node:assert/strict';
import { Agent } from '../../../cluster-agent/agent.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import { waitFor } from '../../harness/wait.ts';
import { CLUSTER, FakeTransport, batch, imp, names } from './fake-hub.ts';

const endpointsOf = (kube: MemoryCluster, slice: string): number =>
  ((kube.object('EndpointSlice', 'apps', slice)?.endpoints as unknown[] | undefined) ?? []).length;

describe('agent: a refused ServiceImport backs off alone (MemoryCluster, in-memory hub)', () => {
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it('applies the other services, advances the applied revision, reports ApplyFailed, and applies the refused one on its retry', async () => {
    const kube = new MemoryCluster();
    kube.refuse('ServiceImport', 'apps', 'bad', 'admission webhook "deny.example" denied the request');
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 3, [imp('good-1', 1), imp('bad', 1), imp('good-2', 1)])]);
    agent = new Agent(kube, hub, { cluster: CLUSTER, heartbeatIntervalMs: 20, resyncJitterMs: 0, retryBaseMs: 5, retryMaxMs: 40, driftCheckIntervalMs: 0 });
    const a = agent;
    void a.start();

    await waitFor('revision 3 applied although one service fails', () => a.appliedRevision() === 3, 2000);
    assert.deepEqual(names(kube.list('ServiceImport', 'apps')), ['good-1', 'good-2']);
    const failed = await waitFor('ImportsApplied=False ApplyFailed', () =>
      a.heartbeat().conditions?.find((c) => c.type === 'ImportsApplied' && c.reason === 'ApplyFailed'),
    );
    assert.equal(failed.status, 'False');
    assert.match(failed.message, /apps\/bad/);
    assert.match(failed.message, /deny\.example/);

    // Later revisions go on while the refused key keeps retrying.
    hub.push(batch('delta', 3, 4, [imp('good-1', 3)]));
    await waitFor('revision 4 applied', () => a.appliedRevision() === 4, 2000);
    assert.equal(endpointsOf(kube, 'good-1-remote-ipv4-0'), 3);
    await waitFor('the refused key retried', () => a.metrics.applyErrors >= 3, 2000);
    assert.equal(kube.object('ServiceImport', 'apps', 'bad'), undefined);

    kube.stopRefusing('ServiceImport', 'apps', 'bad');
    await waitFor('the refused service applied on its retry', () => kube.object('ServiceImport', 'apps', 'bad'), 2000);
    await waitFor('its slice too', () => endpointsOf(kube, 'bad-remote-ipv4-0') === 1, 2000);
    const ok = await waitFor('ImportsApplied=True', () => a.heartbeat().conditions?.find((c) => c.type === 'ImportsApplied' && c.status === 'True'), 2000);
    assert.equal(ok.reason, 'UpToDate');
    assert.equal(a.appliedRevision(), 4);
  });
});
