// Liveness end to end (issue 4 §5): a cluster whose agent falls silent for longer than its TTL has
// its endpoints withdrawn from every import and shows Available=False; when the agent returns they
// come back. Real hub, etcd and nats-server; real agents; one Kubernetes API double (test double of
// kube-apiserver) per simulated cluster. Clusters get spec.heartbeatTTLSeconds 5, agents beat every
// second.
import assert from 'node:assert/strict';
import { exportKey } from '../../controlplane/api/keys.ts';
import {
  AWS,
  GCP,
  ONPREM,
  conditionOf,
  exportedService,
  startClusterSet,
  waitForEndpoints,
  type ClusterSet,
  type SimulatedCluster,
} from '../harness/clusterset.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const TTL_SECONDS = 5;
const ENDPOINTS = ['10.32.1.10', '10.32.1.11', '10.32.2.12'];

describe('a silent cluster (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(60_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;
  let aws: SimulatedCluster;
  let gcp: SimulatedCluster;

  before(async () => {
    set = await startClusterSet({ heartbeatTTLSeconds: TTL_SECONDS, heartbeatIntervalMs: 1000 });
    onprem = set.cluster(ONPREM);
    aws = set.cluster(AWS);
    gcp = set.cluster(GCP);
    for (const o of exportedService({ namespace: 'inference', name: 'llm-serving', endpoints: ENDPOINTS.map((ip) => ({ ip })) })) onprem.double.seed(o);
    await waitForEndpoints([aws, gcp], 'inference', 'llm-serving', ENDPOINTS);
    await waitFor(
      'onprem-inference Available=True',
      async () =>
        conditionOf(
          (await set.getClusters()).find((c) => c.metadata.name === ONPREM),
          'Available',
        )?.status === 'True',
    );
  });
  after(async () => {
    await set.stop();
  });

  it("after its TTL, a stopped agent's endpoints are withdrawn from aws-train and gcp-train and onprem-inference shows Available=False; its return restores both", async () => {
    const stoppedAt = Date.now();
    await onprem.stopAgent();

    await waitForEndpoints([aws, gcp], 'inference', 'llm-serving', [], (TTL_SECONDS + 10) * 1000);
    const elapsed = Date.now() - stoppedAt;
    // The last heartbeat went out at most one interval before the stop.
    assert.ok(elapsed >= (TTL_SECONDS - 1) * 1000, `endpoints were withdrawn ${elapsed} ms after the agent stopped, before its ${TTL_SECONDS} s TTL`);

    const status = await waitFor('onprem-inference Available=False', async () => {
      const c = conditionOf(
        (await set.getClusters()).find((x) => x.metadata.name === ONPREM),
        'Available',
      );
      return c?.status === 'False' ? c : undefined;
    });
    assert.equal(status.reason, 'HeartbeatExpired');
    const others = await set.getClusters();
    for (const name of [AWS, GCP])
      assert.equal(
        conditionOf(
          others.find((c) => c.metadata.name === name),
          'Available',
        )?.status,
        'True',
        `${name} stays available`,
      );

    const svc = (await set.client.services()).items.find((s) => s.name === 'llm-serving');
    assert.ok(svc !== undefined, 'get services lists llm-serving');
    assert.equal(svc.endpoints, 0, 'get services counts no available endpoint');
    assert.equal(svc.conditions.find((c) => c.type === 'Ready')?.status, 'False');
    // Withdrawn, not forgotten: the export stays in etcd for the cluster's return.
    assert.ok((await etcdSnapshot(set.etcdUrl)).keys[exportKey(ONPREM, 'inference', 'llm-serving')] !== undefined, 'the export is still stored');

    await onprem.startAgent();
    await waitForEndpoints([aws, gcp], 'inference', 'llm-serving', ENDPOINTS);
    await waitFor(
      'onprem-inference Available=True again',
      async () =>
        conditionOf(
          (await set.getClusters()).find((c) => c.metadata.name === ONPREM),
          'Available',
        )?.status === 'True',
    );
    const back = (await set.client.services()).items.find((s) => s.name === 'llm-serving');
    assert.equal(back?.endpoints, 3);
  });
});
