// Cross-cluster service exchange end to end (issue 4, "Done when"): the real hub with real etcd and
// its embedded real nats-server (operator mode), three simulated clusters — each a Kubernetes API
// double (test double of kube-apiserver) with a real agent holding its own NATS credential.
// Assertions read resulting state: objects in the Kubernetes API doubles, keys in etcd, and what
// `causeway get clusters` / `causeway get services` return through the CLI's HubClient.
import assert from 'node:assert/strict';
import { cidrContains } from '../../controlplane/api/cidr.ts';
import { vipKey } from '../../controlplane/api/keys.ts';
import type { GlobalServiceView } from '../../controlplane/api/read-model.ts';
import {
  AWS,
  GCP,
  ONPREM,
  Label,
  SERVICE_EXPORTS,
  SERVICE_IMPORTS,
  conditionOf,
  endpointSlice,
  endpointSummary,
  exportedService,
  importedSlices,
  serviceImport,
  startClusterSet,
  waitForEndpoints,
  type ClusterSet,
  type SimulatedCluster,
} from '../harness/clusterset.ts';
import { etcdSnapshot } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const LLM = { namespace: 'inference', name: 'llm-serving' } as const;
const LLM_ENDPOINTS = [
  { ip: '10.32.1.10', zone: 'fra1-a', node: 'gpu-node-1' },
  { ip: '10.32.1.11', zone: 'fra1-a', node: 'gpu-node-2' },
  { ip: '10.32.2.12', zone: 'fra1-b', node: 'gpu-node-3' },
];

async function globalService(set: ClusterSet, namespace: string, name: string): Promise<GlobalServiceView | undefined> {
  return (await set.client.services()).items.find((s) => s.namespace === namespace && s.name === name);
}

describe('service exchange across three simulated clusters (real hub, etcd, nats-server, agents; Kubernetes API doubles)', function () {
  this.timeout(60_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;
  let aws: SimulatedCluster;
  let gcp: SimulatedCluster;

  before(async () => {
    set = await startClusterSet();
    onprem = set.cluster(ONPREM);
    aws = set.cluster(AWS);
    gcp = set.cluster(GCP);
  });
  after(async () => {
    await set.stop();
  });

  it('an export in onprem-inference appears in aws-train and gcp-train as a ServiceImport with the clusterset VIP and labelled EndpointSlices; get services and get clusters show it', async () => {
    for (const o of exportedService({ ...LLM, endpoints: LLM_ENDPOINTS })) onprem.double.seed(o);

    await waitForEndpoints([aws, gcp], LLM.namespace, LLM.name, ['10.32.1.10', '10.32.1.11', '10.32.2.12']);
    const vip = await waitFor('a clusterset VIP on the ServiceImports', () => {
      const ips = [aws, gcp].map((c) => ((serviceImport(c, LLM.namespace, LLM.name)?.spec ?? {}) as { ips?: string[] }).ips ?? []);
      return ips.every((i) => i.length === 1) && ips[0]?.[0] === ips[1]?.[0] ? ips[0]?.[0] : undefined;
    });
    assert.ok(cidrContains('10.255.0.0/16', `${vip}/32`), `VIP ${vip} is in the ClusterSetIPs pool 10.255.0.0/16`);
    const stored = (await etcdSnapshot(set.etcdUrl)).keys[vipKey(LLM.namespace, LLM.name)];
    assert.equal((JSON.parse(stored?.value ?? '{}') as { ip?: string }).ip, vip, 'the VIP is the one the hub allocated in etcd');

    for (const c of [aws, gcp]) {
      const si = serviceImport(c, LLM.namespace, LLM.name);
      assert.deepEqual(
        si?.spec,
        { type: 'ClusterSetIP', ports: [{ name: 'http', port: 8000, protocol: 'TCP' }], ips: [vip], sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' },
        `ServiceImport in ${c.name}`,
      );
      assert.deepEqual((si.status as { clusters?: unknown } | undefined)?.clusters, [{ cluster: ONPREM }], `ServiceImport status in ${c.name}`);
      const slices = importedSlices(c, LLM.namespace, LLM.name);
      assert.equal(slices.length, 1, `one EndpointSlice in ${c.name}`);
      const slice = slices[0];
      assert.ok(slice !== undefined);
      const labels = slice.metadata.labels ?? {};
      assert.equal(labels[Label.ServiceName], LLM.name);
      assert.equal(labels[Label.SourceCluster], ONPREM);
      assert.equal(labels[Label.ManagedBy], 'agent.causeway.dev');
      assert.equal(labels['kubernetes.io/service-name'], undefined, 'never claims a local Service');
      assert.equal(slice.addressType, 'IPv4');
      assert.deepEqual(slice.ports, [{ name: 'http', port: 8000, protocol: 'TCP' }]);
      const endpoints = (slice.endpoints ?? []) as { addresses: string[]; conditions: object; zone?: string; hints?: unknown }[];
      assert.deepEqual(
        endpoints
          .map((e) => ({ addresses: e.addresses, conditions: e.conditions, zone: e.zone, hints: e.hints }))
          .sort((a, b) => (a.addresses[0] ?? '').localeCompare(b.addresses[0] ?? '')),
        LLM_ENDPOINTS.map((e) => ({
          addresses: [e.ip],
          conditions: { ready: true, serving: true, terminating: false },
          zone: e.zone,
          hints: { forZones: [{ name: e.zone }] },
        })),
      );
    }

    // causeway get services
    const svc = await waitFor('get services to list inference/llm-serving with its VIP', async () => {
      const s = await globalService(set, LLM.namespace, LLM.name);
      return s !== undefined && s.ips.length === 1 ? s : undefined;
    });
    assert.equal(svc.type, 'ClusterSetIP');
    assert.deepEqual(svc.ips, [vip]);
    assert.deepEqual(svc.ports, [{ port: 8000, protocol: 'TCP', name: 'http' }]);
    assert.deepEqual(svc.exporters, [{ cluster: ONPREM, endpoints: 3 }]);
    assert.deepEqual([...svc.importers].sort(), [AWS, GCP, ONPREM].sort());
    assert.equal(svc.endpoints, 3);
    assert.equal(svc.conditions.find((c) => c.type === 'Conflict')?.status, 'False');
    assert.equal(svc.conditions.find((c) => c.type === 'Ready')?.status, 'True');

    // The exporter's ServiceExport carries Valid/Ready from the hub.
    await waitFor('Valid=True and Ready=True on the ServiceExport in onprem-inference', () => {
      const se = onprem.double.get(SERVICE_EXPORTS, LLM.namespace, LLM.name);
      return conditionOf(se, 'Valid')?.status === 'True' && conditionOf(se, 'Ready')?.status === 'True' && conditionOf(se, 'Conflict')?.status === 'False';
    });

    // causeway get clusters
    await waitFor('every cluster Available=True and Synced=True', async () => {
      const clusters = await set.getClusters();
      const bad = clusters.filter((c) => conditionOf(c, 'Available')?.status !== 'True' || conditionOf(c, 'Synced')?.status !== 'True');
      if (clusters.length === 3 && bad.length === 0) return true;
      throw new Error(bad.map((c) => `${c.metadata.name}: ${JSON.stringify(c.status?.conditions)}`).join('; '));
    });
  });

  it('an endpoint change in onprem-inference (one added, one not ready) propagates to aws-train and gcp-train', async () => {
    await onprem.mergePatch(
      endpointSlice({
        ...LLM,
        endpoints: [
          { ip: '10.32.1.10', zone: 'fra1-a' },
          { ip: '10.32.1.11', zone: 'fra1-a', ready: false },
          { ip: '10.32.2.12', zone: 'fra1-b' },
          { ip: '10.32.2.13', zone: 'fra1-b' },
        ],
      }),
    );
    await waitForEndpoints([aws, gcp], LLM.namespace, LLM.name, ['10.32.1.10', '10.32.1.11(not-ready)', '10.32.2.12', '10.32.2.13']);
    const svc = await waitFor('get services to count 4 endpoints', async () => {
      const s = await globalService(set, LLM.namespace, LLM.name);
      return s?.endpoints === 4 ? s : undefined;
    });
    assert.deepEqual(svc.exporters, [{ cluster: ONPREM, endpoints: 4 }]);
  });

  it('a conflicting export (same name, other protocol) gets Conflict=True naming the older export, which wins in every import', async () => {
    const echo = { namespace: 'apps', name: 'echo' } as const;
    for (const o of exportedService({ ...echo, ports: [{ name: 'echo', port: 7000, protocol: 'TCP' }], endpoints: [{ ip: '10.32.5.1' }] }))
      onprem.double.seed(o);
    await waitForEndpoints([aws], echo.namespace, echo.name, ['10.32.5.1']);
    // The oldest export wins by its ServiceExport's creationTimestamp (whole seconds): make sure
    // the second export is younger by at least one second.
    const firstCreated = Date.parse(String(onprem.double.get(SERVICE_EXPORTS, echo.namespace, echo.name)?.metadata.creationTimestamp));
    await waitFor("the clock to pass the first export's second", () => Date.now() >= firstCreated + 1000, 3000);
    for (const o of exportedService({ ...echo, ports: [{ name: 'echo', port: 7000, protocol: 'UDP' }], endpoints: [{ ip: '10.48.5.1' }] })) gcp.double.seed(o);

    const conflict = await waitFor('Conflict=True on the ServiceExport in gcp-train', () => {
      const c = conditionOf(gcp.double.get(SERVICE_EXPORTS, echo.namespace, echo.name), 'Conflict');
      return c?.status === 'True' ? c : undefined;
    });
    assert.match(conflict.message, new RegExp(ONPREM), `the condition names the winner: ${conflict.message}`);
    // Every affected cluster gets the condition (KEP-1645), the winner included.
    await waitFor(
      'Conflict=True on the ServiceExport in onprem-inference',
      () => conditionOf(onprem.double.get(SERVICE_EXPORTS, echo.namespace, echo.name), 'Conflict')?.status === 'True',
    );

    for (const c of [aws, gcp, onprem]) {
      await waitFor(`the ServiceImport in ${c.name} to have the winner's ports only`, () => {
        const spec = serviceImport(c, echo.namespace, echo.name)?.spec as { ports?: unknown; type?: string } | undefined;
        return JSON.stringify(spec?.ports) === JSON.stringify([{ name: 'echo', port: 7000, protocol: 'TCP' }]) && spec?.type === 'ClusterSetIP';
      });
    }
    const svc = await globalService(set, echo.namespace, echo.name);
    assert.ok(svc !== undefined, 'get services lists apps/echo');
    assert.deepEqual(svc.ports, [{ port: 7000, protocol: 'TCP', name: 'echo' }]);
    assert.equal(svc.conditions.find((c) => c.type === 'Conflict')?.status, 'True');
    assert.equal(svc.exporters[0]?.cluster, ONPREM, 'the oldest exporter first');
    assert.equal(svc.exporters[0].conflict, undefined, 'the winner lost nothing');
    assert.ok(svc.exporters.find((e) => e.cluster === GCP)?.conflict !== undefined, 'get services marks the losing exporter');
  });

  it('an export limited with causeway.dev/export-to: gpu=true is imported only by gpu=true clusters; onprem-inference gets nothing', async () => {
    // aws-train exports two services at once: one for gpu=true clusters only, one for everybody.
    for (const o of exportedService({ namespace: 'apps', name: 'gpu-batch', exportTo: 'gpu=true', endpoints: [{ ip: '10.16.7.1' }, { ip: '10.16.7.2' }] }))
      aws.double.seed(o);
    for (const o of exportedService({ namespace: 'apps', name: 'public-batch', endpoints: [{ ip: '10.16.8.1' }] })) aws.double.seed(o);

    await waitForEndpoints([aws, gcp], 'apps', 'gpu-batch', ['10.16.7.1', '10.16.7.2']);
    // onprem-inference has caught up with the report that carried both exports.
    await waitForEndpoints([onprem], 'apps', 'public-batch', ['10.16.8.1']);
    const svc = await waitFor('get services to list apps/gpu-batch', () => globalService(set, 'apps', 'gpu-batch'));
    assert.deepEqual([...svc.importers].sort(), [AWS, GCP]);

    assert.equal(serviceImport(onprem, 'apps', 'gpu-batch'), undefined, 'no ServiceImport in onprem-inference');
    assert.deepEqual(endpointSummary(onprem, 'apps', 'gpu-batch'), [], 'no EndpointSlices in onprem-inference');
    assert.ok(!onprem.double.list(SERVICE_IMPORTS).some((o) => o.metadata.name === 'gpu-batch'), 'nothing named gpu-batch in any namespace');
    const sourceGcp = importedSlices(gcp, 'apps', 'gpu-batch').map((s) => s.metadata.labels?.[Label.SourceCluster]);
    assert.deepEqual(sourceGcp, [AWS]);
  });
});
