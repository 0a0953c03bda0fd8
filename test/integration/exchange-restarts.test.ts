// Restarts withdraw nothing and lose nothing (issue 4 §5): an agent restart, a nats-server restart
// and a hub restart (same data dir and etcd), each while a consuming cluster's imported
// EndpointSlices are sampled every 25 ms, during the fault and for a heartbeat TTL after it. Real
// hub, etcd and nats-server (the hub's embedded default, operator mode); real agents; one Kubernetes
// API double (test double of kube-apiserver) per simulated cluster.
import assert from 'node:assert/strict';
import { EXPORTS_PREFIX } from '../../controlplane/api/keys.ts';
import {
  AWS,
  GCP,
  ONPREM,
  SERVICE_IMPORTS,
  conditionOf,
  endpointSlice,
  endpointSummary,
  exportedService,
  importedSlices,
  sampleWhile,
  serviceImport,
  startClusterSet,
  waitForEndpoints,
  type ClusterSet,
  type SimulatedCluster,
} from '../harness/clusterset.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const TTL_SECONDS = 5;
/** Long enough after a fault for a silent cluster to expire: anything withdrawn would show. */
const WATCH_AFTER_MS = (TTL_SECONDS + 2) * 1000;
const NS = 'inference';
const SVC = 'llm-serving';

describe('restarts withdraw nothing and lose nothing (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(90_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;
  let aws: SimulatedCluster;
  let gcp: SimulatedCluster;
  /** The exporter's endpoints now; each test adds one after its fault. */
  let endpoints = ['10.32.1.10', '10.32.1.11', '10.32.2.12'];

  const exportsInEtcd = async (): Promise<Record<string, string>> => {
    const { keys } = await etcdSnapshot(set.etcdUrl);
    return Object.fromEntries(
      Object.entries(keys)
        .filter(([k]) => k.startsWith(EXPORTS_PREFIX))
        .map(([k, v]) => [k, v.value]),
    );
  };
  const sample = (): string => JSON.stringify([aws, gcp].map((c) => endpointSummary(c, NS, SVC)));
  const assertNothingWithdrawn = (samples: readonly string[], what: string): void => {
    const expected = JSON.stringify([endpoints, endpoints]);
    const bad = samples.filter((s) => s !== expected);
    assert.deepEqual([...new Set(bad)], [], `${what}: ${bad.length} of ${samples.length} samples of aws-train/gcp-train differ from ${expected}`);
  };
  const allAvailable = async (): Promise<true> => {
    const clusters = await set.getClusters();
    const bad = clusters.filter((c) => conditionOf(c, 'Available')?.status !== 'True');
    if (bad.length === 0) return true;
    throw new Error(bad.map((c) => `${c.metadata.name}: ${JSON.stringify(conditionOf(c, 'Available'))}`).join('; '));
  };
  /** An endpoint change made after the fault must still reach both consumers. */
  const changePropagates = async (ip: string): Promise<void> => {
    endpoints = [...endpoints, ip].sort();
    await onprem.mergePatch(endpointSlice({ namespace: NS, name: SVC, endpoints: endpoints.map((e) => ({ ip: e })) }));
    await waitForEndpoints([aws, gcp], NS, SVC, endpoints, 20_000);
  };

  before(async () => {
    set = await startClusterSet({ heartbeatTTLSeconds: TTL_SECONDS, heartbeatIntervalMs: 1000 });
    onprem = set.cluster(ONPREM);
    aws = set.cluster(AWS);
    gcp = set.cluster(GCP);
    for (const o of exportedService({ namespace: NS, name: SVC, endpoints: endpoints.map((ip) => ({ ip })) })) onprem.double.seed(o);
    await waitForEndpoints([aws, gcp], NS, SVC, endpoints);
    await waitFor('every cluster Available=True', allAvailable);
  });
  after(async () => {
    await set.stop();
  });

  it("restarting aws-train's agent keeps its ServiceImport and EndpointSlices (same uid) and their endpoints", async () => {
    const uids = (): Record<string, string> => {
      const out: Record<string, string> = {};
      const si = serviceImport(aws, NS, SVC);
      if (si !== undefined) out[`ServiceImport/${si.metadata.name}`] = String(si.metadata.uid);
      for (const o of importedSlices(aws, NS, SVC)) out[`EndpointSlice/${o.metadata.name}`] = String(o.metadata.uid);
      return out;
    };
    const before = uids();
    assert.equal(Object.keys(before).length, 2, `a ServiceImport and one slice: ${JSON.stringify(before)}`);
    const exportsBefore = await exportsInEtcd();

    let restarted: Awaited<ReturnType<SimulatedCluster['restartAgent']>> | undefined;
    const samples = await sampleWhile(
      sample,
      async () => {
        restarted = await aws.restartAgent();
        const agent = restarted;
        await waitFor('the restarted agent to apply a snapshot', () => agent.metrics.batchesApplied > 0, 15_000);
      },
      { afterMs: 1000 },
    );
    assertNothingWithdrawn(samples, 'agent restart');
    assert.deepEqual(uids(), before, 'same objects (uids): nothing deleted and recreated');
    assert.equal(restarted?.metrics.objectsDeleted, 0, 'the restarted agent deleted nothing');
    // It named what it found in the cluster in its first sync, and the hub kept all of it.
    assert.equal(restarted.metrics.importsRecovered, aws.double.list(SERVICE_IMPORTS).length, 'every import read back from the cluster and kept');
    assert.equal(restarted.metrics.objectsApplied, 0, 'nothing rewritten');
    assert.deepEqual(await exportsInEtcd(), exportsBefore, 'no export changed in etcd');

    await changePropagates('10.32.2.20');
    assert.deepEqual(uids(), before, 'an update afterwards keeps the objects too');
    assert.equal(aws.double.list(SERVICE_IMPORTS, NS).length, 1);
    await waitFor('every cluster Available=True', allAvailable);
  });

  it("restarting the hub's nats-server withdraws nothing, and a change made afterwards propagates", async () => {
    const exportsBefore = await exportsInEtcd();
    const natsUrl = set.natsUrl();
    const samples = await sampleWhile(sample, () => set.restartNats(), { afterMs: WATCH_AFTER_MS });
    assertNothingWithdrawn(samples, 'nats-server restart');
    assert.equal(set.natsUrl(), natsUrl);
    await waitFor('every cluster Available=True', allAvailable);
    assert.deepEqual(await exportsInEtcd(), exportsBefore, 'no export lost or changed in etcd');
    await changePropagates('10.32.2.21');
  });

  it('restarting the hub (same data dir and etcd) withdraws nothing, and a change made afterwards propagates', async () => {
    const exportsBefore = await exportsInEtcd();
    const natsUrl = set.natsUrl();
    const samples = await sampleWhile(sample, () => set.restartHub(), { afterMs: WATCH_AFTER_MS });
    assertNothingWithdrawn(samples, 'hub restart');
    // The agents were given this URL (causeway agent --nats URL): the restarted hub's embedded
    // nats-server must be found there again, or no agent ever reconnects.
    assert.equal(set.natsUrl(), natsUrl, 'the restarted hub serves NATS at the URL its agents were given');
    await waitFor('every cluster Available=True', allAvailable, 15_000);
    assert.deepEqual(await exportsInEtcd(), exportsBefore, 'no export lost or changed in etcd');
    await changePropagates('10.32.2.22');
    const svc = (await set.client.services()).items.find((s) => s.name === SVC);
    assert.equal(svc?.endpoints, endpoints.length, 'get services counts every endpoint after the restart');
  });
});
