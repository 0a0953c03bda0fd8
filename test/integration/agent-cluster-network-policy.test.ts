// A Cluster whose CNI enforces sig-network's ClusterNetworkPolicy (spec.policy.format) end to end:
// the REAL hub (real etcd, its embedded real nats-server) compiles GlobalPolicy into
// ClusterNetworkPolicies (policy.networking.k8s.io/v1alpha2) and NetworkPolicies, and the REAL
// agent applies them into its cluster, a Kubernetes API double (a test double of kube-apiserver
// serving the policy CRDs, test/harness/policy-crds.ts) — cluster-scoped, owned, server-side applied
// by the agent's field manager. A changed policy changes the object, a deleted one deletes it; a
// format change back to NetworkPolicy sweeps every ClusterNetworkPolicy the agent owns and leaves
// someone else's alone.
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { KINDS } from '../../controlplane/api/kinds.ts';
import type { Source } from '../../controlplane/api/validate.ts';
import { readManifests } from '../../controlplane/cli/files.ts';
import { ONPREM, startClusterSet, type ClusterSet, type SimulatedCluster } from '../harness/clusterset.ts';
import type { KubeObject } from '../harness/kube-api-double.ts';
import { waitFor } from '../harness/wait.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const CNPS = 'clusternetworkpolicies.policy.networking.k8s.io';

/** The example on-prem Cluster with its policy format set (re-applied as a user would). */
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

const owned = (c: SimulatedCluster): KubeObject[] => c.double.list(CNPS).filter((o) => o.metadata.labels?.['causeway.dev/owned-by'] === 'agent');
const specOf = (o: KubeObject | undefined): { tier?: string; priority?: number; ingress?: { protocols?: unknown }[] } => o?.spec ?? {};

describe('ClusterNetworkPolicy from the hub (real hub, etcd, nats-server; Kubernetes API double; real agent)', function () {
  this.timeout(120_000);
  let set: ClusterSet;
  let onprem: SimulatedCluster;

  before(async () => {
    set = await startClusterSet({ clusters: [ONPREM], heartbeatTTLSeconds: 15, namespaces: ['inference', 'apps'] });
    onprem = set.cluster(ONPREM);
    await set.client.apply([onpremCluster('ClusterNetworkPolicy')], false);
  });
  after(async () => {
    await set.stop();
  });

  it('a platform Deny from on-prem pods becomes an Admin-tier ClusterNetworkPolicy the agent applies (cluster-scoped, owned, its field manager)', async () => {
    await set.client.apply([policy('no-ssh-from-apps', 10, 22)], false);
    const cnp = await waitFor('an owned ClusterNetworkPolicy on-prem', () => owned(onprem)[0], 30_000);
    assert.equal(cnp.metadata.namespace, undefined);
    assert.match(cnp.metadata.name, /^causeway-no-ssh-from-apps-[0-9a-z]{13}$/);
    assert.equal(cnp.metadata.annotations?.['causeway.dev/policies'], 'inference/no-ssh-from-apps');
    assert.deepEqual(cnp.spec, {
      tier: 'Admin',
      priority: 10,
      subject: { namespaces: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['inference'] }] } },
      ingress: [
        {
          name: 'inference/no-ssh-from-apps rule 0',
          action: 'Deny',
          from: [{ namespaces: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['apps'] }] } }],
          protocols: [{ tcp: { destinationPort: { number: 22 } } }],
        },
      ],
    });
    const managers = (cnp.metadata.managedFields as { manager: string; operation: string }[]).map((m) => `${m.manager}/${m.operation}`);
    assert.deepEqual(managers, ['causeway-agent/Apply']);
    const applied = await waitFor('the agent says it applied it', () =>
      onprem.agent?.agent.heartbeat().conditions?.find((x) => x.type === 'NetworkPolicyApplied' && x.status === 'True'),
    );
    assert.match(applied.message, /ClusterNetworkPolicy objects of snapshot/);
  });

  it('a changed policy changes the object in place; a deleted one is deleted with the next snapshot', async () => {
    const name = owned(onprem)[0]?.metadata.name;
    await set.client.apply([policy('no-ssh-from-apps', 20, 2222)], false);
    await waitFor(
      'priority 20, port 2222',
      () => {
        const o = owned(onprem).find((x) => x.metadata.name === name);
        return specOf(o).priority === 20 && JSON.stringify(specOf(o).ingress?.[0]?.protocols).includes('2222');
      },
      30_000,
    );
    await set.client.apply([policy('no-telnet-from-apps', 30, 23)], false);
    await waitFor('two objects', () => owned(onprem).length === 2, 30_000);
    await set.client.delete(KINDS.GlobalPolicy, 'no-ssh-from-apps', 'inference', false);
    await waitFor(
      'only the telnet one left',
      () =>
        owned(onprem)
          .map((o) => specOf(o).priority)
          .join() === '30',
      30_000,
    );
  });

  it('back to format NetworkPolicy: every owned ClusterNetworkPolicy is swept, someone else’s stays', async () => {
    onprem.double.seed({
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'users-own' },
      spec: { tier: 'Baseline', priority: 1, subject: { namespaces: {} } },
    });
    await set.client.apply([onpremCluster('NetworkPolicy')], false);
    await waitFor('no owned ClusterNetworkPolicy', () => owned(onprem).length === 0, 30_000);
    assert.ok(onprem.double.get(CNPS, undefined, 'users-own') !== undefined, 'an object without the ownership label is never touched');
  });
});
