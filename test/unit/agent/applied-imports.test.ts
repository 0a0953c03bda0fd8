// Agent.appliedImports() (the import controller's read-only view that clusterset.local answers
// from) against the in-memory Kubernetes port (MemoryCluster) and an in-memory hub, on a
// ManualClock: a service is listed only once its ServiceImport is in the cluster, with the
// EndpointSlices that are, and goes once it is deleted.
import assert from 'node:assert/strict';
import type { Agent } from '../../../cluster-agent/agent.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import { agentsOnClock } from './agents-on-clock.ts';
import { FakeTransport, batch, drive, imp } from './fake-hub.ts';

describe('agent: the applied imports clusterset.local answers from (MemoryCluster, in-memory hub, ManualClock)', () => {
  const agents = agentsOnClock();
  const listed = (agent: Agent): Record<string, string[]> =>
    Object.fromEntries(
      [...agent.appliedImports().services].map(([k, v]) => [k, [v.serviceImport.metadata.name, ...v.endpointSlices.map((s) => s.metadata.name)]]),
    );

  it('is incomplete and empty until the snapshot is applied, then lists each service with its slices; a removal takes it out', async () => {
    const kube = new MemoryCluster();
    const hub = new FakeTransport();
    let answer: ((b: ReturnType<typeof batch>[]) => void) | undefined;
    hub.onSync = () => new Promise((res) => (answer = res));
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the sync request', () => answer !== undefined);
    assert.equal(agent.appliedImports().complete, false);
    assert.deepEqual(listed(agent), {});

    answer?.([batch('snapshot', 0, 5, [imp('web', 2), imp('api', 1)])]);
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 5);
    assert.equal(agent.appliedImports().complete, true);
    assert.equal(agent.appliedImports().revision, 5);
    assert.deepEqual(listed(agent), { 'apps/web': ['web', 'web-remote-ipv4-0'], 'apps/api': ['api', 'api-remote-ipv4-0'] });
    assert.deepEqual(
      kube.object('ServiceImport', 'apps', 'web')?.spec,
      agent.appliedImports().services.get('apps/web')?.serviceImport.spec,
      'what is listed is what the cluster has',
    );

    hub.push(batch('delta', 5, 6, [], { removals: [{ namespace: 'apps', name: 'web' }] }));
    await drive(agents.clock, 'the removal applied', () => agent.appliedRevision() === 6);
    assert.equal(kube.object('ServiceImport', 'apps', 'web'), undefined);
    assert.deepEqual(listed(agent), { 'apps/api': ['api', 'api-remote-ipv4-0'] });
  });

  it('leaves out a service whose namespace does not exist here, and one whose ServiceImport the API server refuses, until they are written', async () => {
    const kube = new MemoryCluster({ namespaces: ['other'] });
    const hub = new FakeTransport();
    hub.onSync = () => Promise.resolve([batch('snapshot', 0, 3, [imp('web', 1)])]);
    const agent = agents.start(kube, hub);
    await drive(agents.clock, 'the snapshot applied', () => agent.appliedRevision() === 3);
    assert.equal(agent.metrics.missingNamespaces > 0, true);
    assert.deepEqual(listed(agent), {}, 'nothing was written into the missing namespace apps');

    kube.addNamespace('apps');
    kube.refuse('ServiceImport', 'apps', 'web');
    hub.push(batch('delta', 3, 4, [imp('web', 2)]));
    await drive(agents.clock, 'the refusal seen', () => agent.failingServices().has('apps/web'));
    assert.deepEqual(listed(agent), {}, 'a refused ServiceImport is not served');

    kube.stopRefusing('ServiceImport', 'apps', 'web');
    await drive(agents.clock, 'the retry applied', () => !agent.failingServices().has('apps/web') && listed(agent)['apps/web'] !== undefined);
    assert.deepEqual(listed(agent), { 'apps/web': ['web', 'web-remote-ipv4-0'] });
  });
});
