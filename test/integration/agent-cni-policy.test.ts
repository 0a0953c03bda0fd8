// A Cluster whose CNI is Calico, then Cilium (spec.policy.format), end to end: the REAL hub (real
// etcd, its embedded real nats-server) compiles GlobalPolicy into Calico Tiers and
// GlobalNetworkPolicies (projectcalico.org/v3), then CiliumClusterwideNetworkPolicies
// (cilium.io/v2), and the REAL agent applies them into its cluster, a Kubernetes API double (a test
// double of kube-apiserver serving those resources, test/harness/cni-crds.ts) — cluster-scoped,
// owned, server-side applied by the agent's field manager. A changed policy changes the object, a
// deleted one deletes it (its Tier with it); a format change sweeps every object of the old
// format the agent owns and leaves someone else's alone.
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { KINDS } from '../../controlplane/api/kinds.ts';
import type { Source } from '../../controlplane/api/validate.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { ONPREM, startClusterSet, type ClusterSet, type SimulatedCluster } from '../harness/clusterset.ts';
import type { KubeObject } from '../harness/kube-api-double.ts';
import { waitFor } from '../harness/wait.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const TIERS = 'tiers.projectcalico.org';
const GNPS = 'globalnetworkpolicies.projectcalico.org';
const CCNPS = 'ciliumclusterwidenetworkpolicies.cilium.io';

function onpremCluster(format: string): { source: Source; object: unknown } {
  const doc = readManifests([join(EXAMPLES, '20-clusters.yaml')], false).find(
    (d) => (d.object as { kind?: string; metadata?: { name?: string } }).metadata?.name === ONPREM,
  );
  if (doc === undefined) throw new Error('no onprem-inference in examples/20-clusters.yaml');
  const o = doc.object as { spec: Record<string, unknown> };
  return { source: doc.source, object: { ...o, spec: { ...o.spec, heartbeatTTLSeconds: 15, policy: { format } } } };
}

function policy(name: string, priority: number, port: number): { source: Source; object: unknown } {
  return {
    source: { document: 1 },
    object: {
      apiVersion: 'causeway.dev/v1alpha1',
      kind: 'GlobalPolicy',
      metadata: { name, namespace: 'inference' },
      spec: {
        tier: 'platform',
        priority,
        action: 'Deny',
        from: [{ clusters: { matchLabels: { role: 'inference' } }, namespaces: ['apps'] }],
        to: [{ namespaces: ['inference'] }],
        ports: [{ protocol: 'TCP', port }],
      },
    },
  };
}

/** A Pod as a user creates it, then running with `ip` as its kubelet would write it. */
function runPod(c: SimulatedCluster, namespace: string, name: string, labels: Record<string, string>, ip: string): void {
  c.double.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { containers: [{ name: 'main', image: 'example' }] } });
  c.double.setStatus('pods', namespace, name, { phase: 'Running', podIP: ip, podIPs: [{ ip }] });
}

const owned = (c: SimulatedCluster, resource: string): KubeObject[] =>
  c.double.list(resource).filter((o) => o.metadata.labels?.['causeway.dev/owned-by'] === 'agent');
const spec = (o: KubeObject | undefined): Record<string, unknown> => (o?.spec ?? {}) as Record<string, unknown>;

describe('Calico and Cilium policy from the hub (real hub, etcd, nats-server; Kubernetes API double; real agent)', function () {
  this.timeout(120_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;

  before(async () => {
    set = await startClusterSet({ clusters: [ONPREM], heartbeatTTLSeconds: 15, namespaces: ['inference', 'apps'] });
    onprem = set.cluster(ONPREM);
    runPod(onprem, 'inference', 'model', { app: 'llm-serving' }, '10.32.1.10');
    runPod(onprem, 'apps', 'web', { app: 'web' }, '10.32.2.10');
    await set.client.apply([onpremCluster('CalicoGlobalNetworkPolicy')], false);
  });
  after(async () => {
    await set.stop();
  });

  it('a platform Deny becomes a Tier and a GlobalNetworkPolicy in it, applied by the agent (cluster-scoped, owned, its field manager)', async () => {
    await set.client.apply([policy('no-ssh-from-apps', 10, 22)], false);
    const gnp = await waitFor('an owned GlobalNetworkPolicy on-prem', () => owned(onprem, GNPS)[0], 30_000);
    assert.equal(gnp.metadata.namespace, undefined);
    assert.match(gnp.metadata.name, /^causeway-platform\.causeway-no-ssh-from-apps-[0-9a-z]{13}$/);
    assert.equal(gnp.metadata.annotations?.['causeway.dev/policies'], 'inference/no-ssh-from-apps');
    assert.deepEqual(gnp.spec, {
      tier: 'causeway-platform',
      order: 10,
      namespaceSelector: "kubernetes.io/metadata.name in {'inference'}",
      selector: 'all()',
      types: ['Ingress'],
      ingress: [
        {
          action: 'Deny',
          protocol: 'TCP',
          source: { namespaceSelector: "kubernetes.io/metadata.name in {'apps'}", selector: 'all()' },
          destination: { ports: [22] },
        },
      ],
    });
    const tiers = owned(onprem, TIERS);
    assert.deepEqual(
      tiers.map((t) => [t.metadata.name, t.spec]),
      [['causeway-platform', { order: 100, defaultAction: 'Pass' }]],
    );
    for (const o of [gnp, ...tiers]) {
      const managers = (o.metadata.managedFields as { manager: string; operation: string }[]).map((m) => `${m.manager}/${m.operation}`);
      assert.deepEqual(managers, ['causeway-agent/Apply']);
    }
    const applied = await waitFor('the agent says it applied them', () =>
      onprem.agent?.agent.heartbeat().conditions?.find((x) => x.type === 'NetworkPolicyApplied' && x.status === 'True' && /Calico/.test(x.message)),
    );
    assert.match(applied.message, /2 CalicoGlobalNetworkPolicy objects of snapshot/);
  });

  it('a changed policy changes the object in place; a deleted one is deleted, and its Tier after it', async () => {
    const name = owned(onprem, GNPS)[0]?.metadata.name;
    await set.client.apply([policy('no-ssh-from-apps', 20, 2222)], false);
    await waitFor(
      'order 20, port 2222',
      () => {
        const s = spec(owned(onprem, GNPS).find((x) => x.metadata.name === name));
        return s.order === 20 && JSON.stringify(s.ingress).includes('2222');
      },
      30_000,
    );
    await set.client.delete(KINDS.GlobalPolicy, 'no-ssh-from-apps', 'inference', false);
    await waitFor('no owned Calico object', () => owned(onprem, GNPS).length === 0 && owned(onprem, TIERS).length === 0, 30_000);
  });

  it('to format Cilium: the Calico objects are swept, someone else’s stay, and the order-free CiliumClusterwideNetworkPolicy is applied', async () => {
    onprem.double.seed({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'users-own' }, spec: { order: 5 } });
    await set.client.apply([policy('no-telnet-from-apps', 30, 23)], false);
    await waitFor('the telnet Deny as Calico', () => owned(onprem, GNPS).length === 1, 30_000);
    await set.client.apply([onpremCluster('CiliumClusterwideNetworkPolicy')], false);
    const ccnp = await waitFor('an owned CiliumClusterwideNetworkPolicy on-prem', () => owned(onprem, CCNPS)[0], 30_000);
    await waitFor('no owned Calico object', () => owned(onprem, GNPS).length === 0 && owned(onprem, TIERS).length === 0, 30_000);
    assert.ok(onprem.double.get(TIERS, undefined, 'users-own') !== undefined, 'an object without the ownership label is never touched');
    // The inference pods admit apps everywhere but TCP 23 (the Deny resolved into an allow list).
    const s = spec(ccnp) as {
      endpointSelector: unknown;
      ingress: { fromEndpoints?: unknown[]; toPorts?: { ports: { port: string; endPort?: number; protocol: string }[] }[] }[];
    };
    assert.deepEqual(s.endpointSelector, { matchLabels: { 'io.kubernetes.pod.namespace': 'inference' } });
    const fromApps = s.ingress.find((r) => JSON.stringify(r.fromEndpoints ?? []).includes('"io.kubernetes.pod.namespace":"apps"'));
    assert.deepEqual(fromApps?.toPorts?.[0]?.ports, [
      { port: '1', endPort: 22, protocol: 'TCP' },
      { port: '24', endPort: 65_535, protocol: 'TCP' },
      { port: '0', protocol: 'UDP' },
      { port: '0', protocol: 'SCTP' },
    ]);
    assert.deepEqual(
      (ccnp.metadata.managedFields as { manager: string; operation: string }[]).map((m) => `${m.manager}/${m.operation}`),
      ['causeway-agent/Apply'],
    );
  });
});
