// The agent's Kubernetes port on the policy kinds it writes compiled GlobalPolicy as (objects.ts
// POLICY_KINDS): namespaced NetworkPolicy and the cluster-scoped ClusterNetworkPolicy,
// AdminNetworkPolicy and BaselineAdminNetworkPolicy. One contract, two implementations: KubeCluster
// against the Kubernetes API double (a test double of kube-apiserver, serving the policy CRDs of
// test/harness/policy-crds.ts) and MemoryCluster (the in-memory fake), so the fake cannot drift.
// State is asserted after each call: what the cluster holds, not which calls were made.
import assert from 'node:assert/strict';
import { ConflictError } from '../../controlplane/api/errors.ts';
import { KubeCluster } from '../../cluster-agent/kube-cluster.ts';
import { MemoryCluster } from '../../cluster-agent/memory-cluster.ts';
import { OWNED_BY_LABEL, OWNED_BY_VALUE, type KubeObject } from '../../cluster-agent/objects.ts';
import { KindNotServedError, type ClusterPort } from '../../cluster-agent/ports.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { mcsCustomResourceDefinitions, startKubeApiDouble, type KubeObject as DoubleObject } from '../harness/kube-api-double.ts';

interface Fixture {
  readonly port: ClusterPort;
  /** Creates an object as a user would. */
  create(o: KubeObject): void;
}

const fixtures: { name: string; make: (withPolicyCrds: boolean) => Promise<Fixture> }[] = [
  {
    name: 'MemoryCluster (in-memory fake)',
    make: (withPolicyCrds) => {
      const m = new MemoryCluster({
        namespaces: ['default', 'apps'],
        ...(withPolicyCrds ? {} : { notServing: ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy'] }),
      });
      return Promise.resolve({ port: m, create: (o) => void m.put(o) });
    },
  },
  {
    name: 'KubeCluster against the Kubernetes API double (test double)',
    make: async (withPolicyCrds) => {
      const double = await startKubeApiDouble(withPolicyCrds ? {} : { crds: mcsCustomResourceDefinitions });
      onCleanup(() => double.stop());
      double.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
      const port = new KubeCluster({ kubeconfigYaml: double.kubeconfigYaml(), restartBaseMs: 50, pageSize: 2 });
      onCleanup(() => port.stop());
      return { port, create: (o) => void double.seed(o as DoubleObject) };
    },
  },
];

const owned = { [OWNED_BY_LABEL]: OWNED_BY_VALUE };
const cnp = (name: string, priority: number, labels: Record<string, string> = owned): KubeObject => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: { name, labels },
  spec: {
    tier: 'Admin',
    priority,
    subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'apps' } } },
    ingress: [{ name: 'r', action: 'Deny', from: [{ namespaces: {} }], protocols: [{ tcp: { destinationPort: { number: 22 } } }] }],
  },
});
const banp = (): KubeObject => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1',
  kind: 'BaselineAdminNetworkPolicy',
  metadata: { name: 'default', labels: owned },
  spec: { subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }], ports: [{ portNumber: { protocol: 'TCP', port: 23 } }] }] },
});
const np = (name: string): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'apps', labels: owned },
  spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
});
const ids = (os: readonly KubeObject[]): string[] => os.map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`).sort();

for (const f of fixtures) {
  describe(`ClusterPort policy kinds contract: ${f.name}`, function () {
    this.timeout(20_000);
    const signal = new AbortController().signal;

    it('applies, reads, lists and deletes owned objects of every policy kind; cluster-scoped ones have no namespace', async () => {
      const fx = await f.make(true);
      for (const o of [cnp('causeway-a', 10), cnp('causeway-b', 20), banp(), np('causeway-np'), np('causeway-np2')]) await fx.port.apply(o, signal);
      fx.create(cnp('users-own', 5, {}));
      const list = await fx.port.listOwnedPolicies?.(signal);
      assert.ok(list !== undefined);
      assert.deepEqual(ids(list), [
        'BaselineAdminNetworkPolicy -/default',
        'ClusterNetworkPolicy -/causeway-a',
        'ClusterNetworkPolicy -/causeway-b',
        'NetworkPolicy apps/causeway-np',
        'NetworkPolicy apps/causeway-np2',
      ]);
      const a = await fx.port.get({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, signal);
      assert.equal(a?.metadata.namespace, undefined);
      assert.deepEqual((a?.spec as { priority: number }).priority, 10);
      assert.equal(await fx.port.get({ kind: 'AdminNetworkPolicy', namespace: '', name: 'causeway-a' }, signal), undefined, 'another kind, same name: absent');
      // Server-side apply again changes what was sent.
      await fx.port.apply(cnp('causeway-a', 11), signal);
      assert.equal(
        ((await fx.port.get({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, signal))?.spec as { priority: number }).priority,
        11,
      );
      // Deletes are guarded by uid; absent is success.
      const uid = a?.metadata.uid;
      assert.ok(uid !== undefined);
      await assert.rejects(
        fx.port.delete({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, 'not-its-uid', signal),
        (e: unknown) => e instanceof ConflictError,
      );
      await fx.port.delete({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, uid, signal);
      await fx.port.delete({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, undefined, signal);
      await fx.port.delete({ kind: 'BaselineAdminNetworkPolicy', namespace: '', name: 'default' }, undefined, signal);
      assert.deepEqual(ids((await fx.port.listOwnedPolicies?.(signal)) ?? []), [
        'ClusterNetworkPolicy -/causeway-b',
        'NetworkPolicy apps/causeway-np',
        'NetworkPolicy apps/causeway-np2',
      ]);
      assert.ok(
        (await fx.port.get({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'users-own' }, signal)) !== undefined,
        'not owned: never listed, still there',
      );
    });

    it('a cluster without the policy CRDs: NetworkPolicies are listed, the other kinds are not served', async () => {
      const fx = await f.make(false);
      await fx.port.apply(np('causeway-np'), signal);
      assert.deepEqual(ids((await fx.port.listOwnedPolicies?.(signal)) ?? []), ['NetworkPolicy apps/causeway-np']);
      await assert.rejects(fx.port.apply(cnp('causeway-a', 1), signal), (e: unknown) => e instanceof KindNotServedError);
      await assert.rejects(
        fx.port.get({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, signal),
        (e: unknown) => e instanceof KindNotServedError,
      );
      await fx.port.delete({ kind: 'ClusterNetworkPolicy', namespace: '', name: 'causeway-a' }, undefined, signal);
    });
  });
}
