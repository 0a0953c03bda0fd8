// One contract, two implementations of the agent's Kubernetes port: KubeCluster (the real
// adapter, here against the Kubernetes API double, a test double of kube-apiserver) and
// MemoryCluster (the in-memory fake). The same suite runs against both so the fake cannot drift.
import assert from 'node:assert/strict';
import { ConflictError, NotFoundError } from '../../controlplane/api/errors.ts';
import { desiredImport } from '../../cluster-agent/imports.ts';
import { KubeCluster } from '../../cluster-agent/kube-cluster.ts';
import { MemoryCluster } from '../../cluster-agent/memory-cluster.ts';
import type { KubeObject } from '../../cluster-agent/objects.ts';
import type { ClusterEvents, ClusterPort } from '../../cluster-agent/ports.ts';
import type { KubeObject as DoubleObject } from '../harness/kube-api-double.ts';
import type { ImportState } from '../../controlplane/api/messages.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startKubeApiDouble } from '../harness/kube-api-double.ts';
import { waitFor } from '../harness/wait.ts';

interface Fixture {
  readonly port: ClusterPort;
  /** Creates an object as a user would. */
  create(o: KubeObject): void;
}

const fixtures: { name: string; make: () => Promise<Fixture> }[] = [
  {
    name: 'MemoryCluster (in-memory fake)',
    make: () => {
      const m = new MemoryCluster({ namespaces: ['default', 'apps'] });
      return Promise.resolve({ port: m, create: (o) => void m.put(o) });
    },
  },
  {
    name: 'KubeCluster against the Kubernetes API double (test double)',
    make: async () => {
      const double = await startKubeApiDouble();
      onCleanup(() => double.stop());
      double.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
      const port = new KubeCluster({ kubeconfigYaml: double.kubeconfigYaml(), restartBaseMs: 50 });
      onCleanup(() => port.stop());
      // The double's object type requires a namespace on metadata; ours allows cluster-scoped ones.
      return { port, create: (o) => void double.seed(o as DoubleObject) };
    },
  },
];

const state: ImportState = {
  namespace: 'apps',
  name: 'web',
  type: 'ClusterSetIP',
  ports: [{ port: 80, protocol: 'TCP' }],
  ips: ['10.200.0.9'],
  sessionAffinity: 'None',
  clusters: ['east'],
  endpoints: [{ cluster: 'east', addresses: ['10.7.0.1'], ready: true, serving: true, terminating: false }],
};

async function expectError(call: Promise<unknown>, type: new (...args: never[]) => Error): Promise<void> {
  await assert.rejects(call, (err: unknown) => err instanceof type);
}

for (const f of fixtures) {
  describe(`ClusterPort contract: ${f.name}`, function () {
    this.timeout(20_000);
    let fx: Fixture;
    let changed: string[];
    const signal = new AbortController().signal;
    beforeEach(async () => {
      fx = await f.make();
      changed = [];
      const events: ClusterEvents = {
        exportChanged: (k) => changed.push(`${k.namespace}/${k.name}`),
        nodesChanged: () => changed.push('nodes'),
        healthChanged: () => undefined,
      };
      await fx.port.start(events, signal);
    });

    it("caches ServiceExports, Services, the Service's own EndpointSlices and node labels, and signals their keys", async () => {
      fx.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'nvidia.com/gpu.product': 'A100' } } });
      fx.create({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name: 'api', namespace: 'apps' } });
      fx.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'api', namespace: 'apps' },
        spec: { clusterIP: 'None', ports: [{ port: 80, protocol: 'TCP' }] },
      });
      fx.create({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'api-1', namespace: 'apps', labels: { 'kubernetes.io/service-name': 'api' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.0.1'] }],
      });
      fx.create({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'api-ours',
          namespace: 'apps',
          labels: { 'kubernetes.io/service-name': 'api', 'endpointslice.kubernetes.io/managed-by': 'agent.causeway.dev' },
        },
        addressType: 'IPv4',
        endpoints: [],
      });
      await waitFor('the slice cached', () => fx.port.endpointSlices({ namespace: 'apps', name: 'api' }).length === 1);
      await waitFor('node labels', () => fx.port.nodeLabels('n1')?.['nvidia.com/gpu.product'] === 'A100');
      assert.deepEqual(
        fx.port.serviceExports().map((o) => o.metadata.name),
        ['api'],
      );
      assert.equal(typeof fx.port.serviceExport({ namespace: 'apps', name: 'api' })?.metadata.creationTimestamp, 'string');
      assert.equal(fx.port.service({ namespace: 'apps', name: 'api' })?.spec?.clusterIP, 'None');
      assert.deepEqual(
        fx.port.endpointSlices({ namespace: 'apps', name: 'api' }).map((o) => o.metadata.name),
        ['api-1'],
      );
      assert.ok(changed.includes('apps/api'));
      assert.ok(changed.includes('nodes'));
    });

    it('applies, re-applies (same uid), writes status, lists owned objects and deletes by uid only', async () => {
      const d = desiredImport(state);
      const created = await fx.port.apply(d.serviceImport, signal);
      const uid = created.metadata.uid;
      assert.ok(uid !== undefined && uid !== '');
      const again = await fx.port.apply(d.serviceImport, signal);
      assert.equal(again.metadata.uid, uid);
      await fx.port.applyStatus(d.serviceImportStatus, signal);
      const slice = d.endpointSlices[0];
      assert.ok(slice);
      await fx.port.apply(slice, signal);
      const live = await fx.port.get({ kind: 'ServiceImport', namespace: 'apps', name: 'web' }, signal);
      assert.deepEqual(live?.['status'], { clusters: [{ cluster: 'east' }] });
      assert.deepEqual(live['spec'], d.serviceImport['spec']);
      fx.create({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'not-ours', namespace: 'apps', labels: { 'multicluster.kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        endpoints: [],
      });
      const owned = await fx.port.listOwned(signal);
      assert.deepEqual(owned.map((o) => `${o.kind}/${o.metadata.name}`).sort(), ['EndpointSlice/web-east-ipv4-0', 'ServiceImport/web']);

      await expectError(fx.port.delete({ kind: 'ServiceImport', namespace: 'apps', name: 'web' }, 'another-uid', signal), ConflictError);
      assert.ok(await fx.port.get({ kind: 'ServiceImport', namespace: 'apps', name: 'web' }, signal));
      await fx.port.delete({ kind: 'ServiceImport', namespace: 'apps', name: 'web' }, uid, signal);
      assert.equal(await fx.port.get({ kind: 'ServiceImport', namespace: 'apps', name: 'web' }, signal), undefined);
      await fx.port.delete({ kind: 'ServiceImport', namespace: 'apps', name: 'web' }, uid, signal);
    });

    it('refuses writes into a missing namespace and status of a missing object with NotFoundError', async () => {
      const d = desiredImport({ ...state, namespace: 'nowhere' });
      await expectError(fx.port.apply(d.serviceImport, signal), NotFoundError);
      await expectError(fx.port.applyStatus(desiredImport(state).serviceImportStatus, signal), NotFoundError);
    });
  });
}
