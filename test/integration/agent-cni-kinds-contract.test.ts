// The agent's Kubernetes port on the Calico and Cilium policy kinds (objects.ts POLICY_KINDS:
// projectcalico.org/v3 Tier and GlobalNetworkPolicy, cilium.io/v2 CiliumClusterwideNetworkPolicy,
// all cluster-scoped). One contract, two implementations: KubeCluster against the Kubernetes API
// double (a test double of kube-apiserver, serving test/harness/cni-crds.ts) and MemoryCluster (the
// in-memory fake), so the fake cannot drift. State is asserted after each call.
import assert from 'node:assert/strict';
import { KubeCluster } from '../../cluster-agent/kube-cluster.ts';
import { MemoryCluster } from '../../cluster-agent/memory-cluster.ts';
import { OWNED_BY_LABEL, OWNED_BY_VALUE, type KubeObject } from '../../cluster-agent/objects.ts';
import { KindNotServedError, type ClusterPort } from '../../cluster-agent/ports.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { mcsCustomResourceDefinitions, startKubeApiDouble, type KubeObject as DoubleObject } from '../harness/kube-api-double.ts';

const CNI_KINDS = ['Tier', 'GlobalNetworkPolicy', 'CiliumClusterwideNetworkPolicy'];

const fixtures: { name: string; make: (served: boolean) => Promise<{ port: ClusterPort; create: (o: KubeObject) => void }> }[] = [
  {
    name: 'MemoryCluster (in-memory fake)',
    make: (served) => {
      const m = new MemoryCluster({ namespaces: ['default'], ...(served ? {} : { notServing: CNI_KINDS }) });
      return Promise.resolve({ port: m, create: (o) => void m.put(o) });
    },
  },
  {
    name: 'KubeCluster against the Kubernetes API double (test double)',
    make: async (served) => {
      const double = await startKubeApiDouble(served ? {} : { crds: mcsCustomResourceDefinitions });
      onCleanup(() => double.stop());
      const port = new KubeCluster({ kubeconfigYaml: double.kubeconfigYaml(), restartBaseMs: 50, pageSize: 2 });
      onCleanup(() => port.stop());
      return { port, create: (o) => void double.seed(o as DoubleObject) };
    },
  },
];

const owned = { [OWNED_BY_LABEL]: OWNED_BY_VALUE };
const tier = (name: string, order: number, labels: Record<string, string> = owned): KubeObject => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'Tier',
  metadata: { name, labels },
  spec: { order, defaultAction: 'Pass' },
});
const gnp = (name: string, order: number): KubeObject => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: { name: `causeway-platform.${name}`, labels: owned },
  spec: {
    tier: 'causeway-platform',
    order,
    namespaceSelector: "kubernetes.io/metadata.name in {'apps'}",
    selector: 'all()',
    types: ['Ingress'],
    ingress: [{ action: 'Deny', protocol: 'TCP', source: { nets: ['10.16.1.10/32'] }, destination: { ports: [22, '8000:8001'] } }],
  },
});
const ccnp = (name: string): KubeObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumClusterwideNetworkPolicy',
  metadata: { name, labels: owned },
  spec: {
    endpointSelector: { matchLabels: { 'io.kubernetes.pod.namespace': 'apps' } },
    ingress: [{ fromCIDRSet: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }], toPorts: [{ ports: [{ port: '80', endPort: 81, protocol: 'TCP' }] }] }],
    enableDefaultDeny: { ingress: true, egress: false },
  },
});
const ids = (os: readonly KubeObject[]): string[] => os.map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`).sort();

for (const f of fixtures) {
  describe(`ClusterPort Calico and Cilium kinds contract: ${f.name}`, function () {
    this.timeout(20_000);
    const signal = new AbortController().signal;

    it('applies, reads, lists and deletes owned Tiers, GlobalNetworkPolicies and CiliumClusterwideNetworkPolicies (cluster-scoped)', async () => {
      const fx = await f.make(true);
      for (const o of [tier('causeway-platform', 100), gnp('a', 10), gnp('b', 10.001), ccnp('causeway-c')]) await fx.port.apply(o, signal);
      fx.create(tier('users-own', 5, {}));
      assert.deepEqual(ids((await fx.port.listOwnedPolicies?.(signal)) ?? []), [
        'CiliumClusterwideNetworkPolicy -/causeway-c',
        'GlobalNetworkPolicy -/causeway-platform.a',
        'GlobalNetworkPolicy -/causeway-platform.b',
        'Tier -/causeway-platform',
      ]);
      const b = await fx.port.get({ kind: 'GlobalNetworkPolicy', namespace: '', name: 'causeway-platform.b' }, signal);
      assert.equal(b?.metadata.namespace, undefined);
      assert.deepEqual(b?.spec, gnp('b', 10.001).spec, 'a fractional order and mixed ports kept as sent');
      const c = await fx.port.get({ kind: 'CiliumClusterwideNetworkPolicy', namespace: '', name: 'causeway-c' }, signal);
      assert.deepEqual(c?.spec, ccnp('causeway-c').spec);
      await fx.port.apply(gnp('a', 11), signal);
      assert.equal(
        ((await fx.port.get({ kind: 'GlobalNetworkPolicy', namespace: '', name: 'causeway-platform.a' }, signal))?.spec as { order: number }).order,
        11,
      );
      for (const [kind, name] of [
        ['GlobalNetworkPolicy', 'causeway-platform.a'],
        ['GlobalNetworkPolicy', 'causeway-platform.b'],
        ['Tier', 'causeway-platform'],
        ['CiliumClusterwideNetworkPolicy', 'causeway-c'],
      ] as const)
        await fx.port.delete({ kind, namespace: '', name }, undefined, signal);
      assert.deepEqual(ids((await fx.port.listOwnedPolicies?.(signal)) ?? []), []);
      assert.ok((await fx.port.get({ kind: 'Tier', namespace: '', name: 'users-own' }, signal)) !== undefined, 'not owned: never listed, still there');
    });

    it('a cluster without Calico or Cilium: those kinds are not served, listing skips them, deleting is a no-op', async () => {
      const fx = await f.make(false);
      assert.deepEqual(ids((await fx.port.listOwnedPolicies?.(signal)) ?? []), []);
      await assert.rejects(fx.port.apply(tier('causeway-platform', 100), signal), (e: unknown) => e instanceof KindNotServedError);
      await assert.rejects(fx.port.apply(ccnp('causeway-c'), signal), (e: unknown) => e instanceof KindNotServedError);
      await fx.port.delete({ kind: 'GlobalNetworkPolicy', namespace: '', name: 'causeway-platform.a' }, undefined, signal);
    });
  });
}
