// The benchmark's light consumer (bench/light-agent.ts, light-cluster.ts): the agent's hub-facing
// half without a Kubernetes side. Against the in-memory hub side of the transport port: it reports
// its exports as the agent does (full first, then only what changed), syncs for its snapshot,
// applies deltas only on top of the revision it holds (a gap asks for a sync), reports each change
// marker once when the import carrying it arrives, acknowledges what it holds in its heartbeat,
// and writes nothing to a cluster.
import assert from 'node:assert/strict';
import { silentLogger } from '../../../cluster-agent/agent.ts';
import { LightAgent } from '../../../bench/light-agent.ts';
import { LightCluster } from '../../../bench/light-cluster.ts';
import type { KubeObject } from '../../../cluster-agent/objects.ts';
import { CLUSTER, FakeTransport, batch, imp } from '../agent/fake-hub.ts';

async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function exportObjects(): { slice: KubeObject; objects: KubeObject[] } {
  const slice: KubeObject = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: 'apps', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [
      { addresses: ['10.1.0.1'], conditions: { ready: true }, hostname: 'init' },
      { addresses: ['10.1.0.2'], conditions: { ready: true }, hostname: 'init' },
    ],
  };
  return {
    slice,
    objects: [
      { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'web', namespace: 'apps' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'apps' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
      slice,
    ],
  };
}

function marked(name: string, hosts: readonly string[]): ReturnType<typeof imp> {
  const s = imp(name, hosts.length);
  return { ...s, endpoints: s.endpoints.map((e, i) => ({ ...e, hostname: hosts[i] ?? 'init' })) };
}

function setup(): { transport: FakeTransport; cluster: LightCluster; agent: LightAgent; applied: number[]; slice: KubeObject } {
  const applied: number[] = [];
  const cluster = new LightCluster((seq) => applied.push(seq));
  const { slice, objects } = exportObjects();
  for (const o of objects) cluster.put(o);
  const transport = new FakeTransport();
  const agent = new LightAgent(cluster, transport, { cluster: CLUSTER, logger: silentLogger, resyncJitterMs: 0 });
  return { transport, cluster, agent, applied, slice };
}

describe('bench light consumer', () => {
  it('reports its exports full, then only the change, computed from its objects as the agent does', async () => {
    const { transport, cluster, agent, slice } = setup();
    await agent.start();
    try {
      await until('the full report', () => transport.reports.length === 1);
      const full = transport.reports[0];
      assert.ok(full !== undefined);
      assert.equal(full.full, true);
      assert.deepEqual(
        full.upserts.map((u) => [u.namespace, u.name, u.endpoints.map((e) => e.addresses[0])]),
        [['apps', 'web', ['10.1.0.1', '10.1.0.2']]],
      );
      const second = (slice.endpoints as { hostname: string }[])[1];
      assert.ok(second !== undefined);
      second.hostname = 'm7';
      transport.reports.length = 0;
      // The worker mutates its slice and puts it again, as a controller would write it.
      cluster.put(slice);
      await until('the incremental report', () => transport.reports.length === 1);
      const inc = transport.reports[0];
      assert.ok(inc !== undefined);
      assert.equal(inc.full, false);
      assert.deepEqual(
        inc.upserts[0]?.endpoints.map((e) => e.hostname),
        ['init', 'm7'],
      );
    } finally {
      await agent.stop();
    }
  });

  it('syncs for its snapshot, applies deltas on top of its revision, asks again on a gap, and reports each marker once', async () => {
    const { transport, cluster, agent, applied } = setup();
    transport.onSync = () => Promise.resolve([batch('snapshot', 0, 3, [marked('db', ['m16', 'init'])])]);
    await agent.start();
    try {
      await until('the snapshot', () => agent.stateRevision() === 3);
      assert.deepEqual(applied, [16]);
      assert.equal(cluster.importedEndpoints(), 2);
      // The same marker again (a re-sent state) is not a new arrival.
      transport.push(batch('delta', 3, 4, [marked('db', ['m16', 'm32'])]));
      assert.equal(agent.stateRevision(), 4);
      assert.deepEqual(applied, [16, 32]);
      // A delta from the future is held back and a sync asked for.
      const syncs = transport.syncs.length;
      transport.onSync = () => Promise.resolve([batch('snapshot', 0, 6, [marked('db', ['m16', 'm32'])])]);
      transport.push(batch('delta', 5, 6, [marked('db', ['m48', 'm32'])]));
      assert.deepEqual(applied, [16, 32]);
      await until('the sync after the gap', () => transport.syncs.length > syncs && agent.stateRevision() === 6);
      assert.equal(transport.syncs.at(-1)?.afterRevision, 4);
      // A removal takes the service's endpoints away.
      transport.push(batch('delta', 6, 7, [], { removals: [{ namespace: 'apps', name: 'db' }] }));
      assert.equal(cluster.importedEndpoints(), 0);
    } finally {
      await agent.stop();
    }
  });

  it('acknowledges the revision it holds in its heartbeat, and writes nothing to a cluster', async () => {
    const { transport, cluster, agent } = setup();
    transport.onSync = () => Promise.resolve([batch('snapshot', 0, 9, [imp('db', 1)])]);
    await agent.start();
    try {
      await until('a heartbeat acknowledging revision 9', () => transport.heartbeats.some((h) => h.appliedRevision === 9));
      const h = transport.heartbeats.at(-1);
      assert.equal(h?.conditions?.find((c) => c.type === 'ImportsApplied')?.status, 'True');
      await assert.rejects(cluster.apply(), /writes nothing/);
      assert.deepEqual(await cluster.listOwned(), []);
    } finally {
      await agent.stop();
    }
  });
});
