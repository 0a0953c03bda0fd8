// Issue 12 §1 reproduced end to end: large services must never take the control plane down. The
// real hub with real etcd and its embedded real nats-server (default 1 MB max payload), simulated
// clusters (Kubernetes API doubles, test doubles of kube-apiserver) with real agents.
import assert from 'node:assert/strict';
import { AWS, GCP, ONPREM, exportedService, importedEndpoints, startClusterSet, type ClusterSet, type SimulatedCluster } from '../harness/clusterset.ts';
import { waitFor } from '../harness/wait.ts';

const SHARED = { namespace: 'inference', name: 'batch-scorer' } as const;

/** `count` distinct addresses inside `base` (a /16 such as "10.16"). */
function endpoints(base: string, count: number): { ip: string; zone: string; node: string }[] {
  return Array.from({ length: count }, (_, i) => ({ ip: `${base}.${(i >> 8) + 1}.${i & 255}`, zone: 'zone-a', node: `node-${i % 50}` }));
}

describe('large services through the real exchange (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(120_000);
  let set: ClusterSet;
  let aws: SimulatedCluster;
  let gcp: SimulatedCluster;
  let onprem: SimulatedCluster;

  before(async () => {
    set = await startClusterSet();
    aws = set.cluster(AWS);
    gcp = set.cluster(GCP);
    onprem = set.cluster(ONPREM);
  });
  after(async () => {
    await set.stop();
  });

  it('two clusters exporting 5,000 endpoints each reach the consumer whole (10,000 endpoints, a >1 MB import), and the hub stays up', async () => {
    for (const o of exportedService({ ...SHARED, endpoints: endpoints('10.16', 5000) })) aws.double.seed(o);
    for (const o of exportedService({ ...SHARED, endpoints: endpoints('10.64', 5000) })) gcp.double.seed(o);

    const got = await waitFor(
      'all 10,000 endpoints imported in onprem-inference',
      () => {
        const imported = importedEndpoints(onprem, SHARED.namespace, SHARED.name);
        if (imported.length !== 10_000) throw new Error(`${imported.length} endpoints so far`);
        return imported;
      },
      60_000,
    );
    assert.deepEqual([...new Set(got.map((e) => e.sourceCluster))].sort(), [AWS, GCP]);
    assert.equal(new Set(got.map((e) => e.ip)).size, 10_000);
    const health = await fetch(`${set.testHub.url}/healthz`);
    assert.equal(health.status, 200);
    // The consumer applied what it was sent: it is not stuck refusing an oversized import.
    await waitFor(
      'onprem-inference Synced=True',
      async () => (await set.getClusters()).find((c) => c.metadata.name === ONPREM)?.status?.conditions?.find((c) => c.type === 'Synced')?.status === 'True',
      20_000,
    );
  });
});
