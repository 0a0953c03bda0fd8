// The agent applies compiled policy of every output format (MemoryCluster, in-memory hub,
// ManualClock): a ClusterNetworkPolicy snapshot's cluster-scoped objects and its NetworkPolicy tier
// are written owned; a later snapshot of another format sweeps the kinds it no longer has; a
// cluster that does not serve a kind says so in the condition and keeps what it had; an object of
// a kind outside the snapshot's format is never applied. Asserted on what the cluster holds.
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type ClusterPolicyMessage, type PolicyObject, type PolicyRequest } from '../../../controlplane/api/messages.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import { agentsOnClock } from './agents-on-clock.ts';
import { CLUSTER, FakeTransport, drive } from './fake-hub.ts';

class PolicyHub extends FakeTransport {
  readonly policyRequests: PolicyRequest[] = [];
  requestPolicy(r: PolicyRequest): void {
    this.policyRequests.push(r);
  }
  pushPolicy(m: ClusterPolicyMessage): void {
    this.events?.policy?.(m);
  }
}

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace === undefined ? {} : { namespace }),
  labels: { 'causeway.dev/compiled-from': 'globalpolicy' },
  annotations: { 'causeway.dev/policies': 'platform/p' },
});
const cnp = (name: string, priority: number): PolicyObject => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: meta(name),
  specJson: JSON.stringify({ tier: 'Admin', priority, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] }),
});
const anp = (name: string): PolicyObject => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1',
  kind: 'AdminNetworkPolicy',
  metadata: meta(name),
  specJson: JSON.stringify({ priority: 1, subject: { namespaces: {} }, ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }] }),
});
const np = (name: string): PolicyObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: meta(name, 'inference'),
  specJson: JSON.stringify({ podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] }),
});
const snapshot = (seq: number, format: string, objects: PolicyObject[]): ClusterPolicyMessage => ({
  v: PROTOCOL_VERSION,
  cluster: CLUSTER,
  term: 1,
  seq,
  format,
  objects,
});

const held = (kube: MemoryCluster): string[] =>
  ['ClusterNetworkPolicy', 'AdminNetworkPolicy', 'NetworkPolicy']
    .flatMap((k) =>
      kube.list(k).map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name} ${o.metadata.labels?.['causeway.dev/owned-by'] ?? ''}`),
    )
    .sort();

describe('agent: compiled policy of every output format (MemoryCluster, in-memory hub, ManualClock)', () => {
  const agents = agentsOnClock({ policyAskRetryMs: 1000 });

  it('applies a ClusterNetworkPolicy snapshot (cluster-scoped, owned) with its NetworkPolicies; another format sweeps what it no longer has', async () => {
    const kube = new MemoryCluster({ namespaces: ['inference'] });
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    hub.pushPolicy(snapshot(1, 'ClusterNetworkPolicy', [cnp('causeway-a', 10), np('causeway-n')]));
    await drive(agents.clock, 'snapshot 1 applied', () => agent.heartbeat().policy?.seq === 1);
    assert.deepEqual(held(kube), ['ClusterNetworkPolicy -/causeway-a agent', 'NetworkPolicy inference/causeway-n agent']);
    // Someone else's object of a policy kind is never touched.
    kube.put({ apiVersion: 'policy.networking.k8s.io/v1alpha2', kind: 'ClusterNetworkPolicy', metadata: { name: 'users-own' }, spec: { tier: 'Admin' } });
    hub.pushPolicy(snapshot(2, 'AdminNetworkPolicy', [anp('causeway-a'), np('causeway-n')]));
    await drive(agents.clock, 'snapshot 2 applied', () => agent.heartbeat().policy?.seq === 2);
    assert.deepEqual(held(kube), ['AdminNetworkPolicy -/causeway-a agent', 'ClusterNetworkPolicy -/users-own ', 'NetworkPolicy inference/causeway-n agent']);
    hub.pushPolicy(snapshot(3, 'NetworkPolicy', []));
    await drive(agents.clock, 'snapshot 3 applied', () => agent.heartbeat().policy?.seq === 3);
    assert.deepEqual(held(kube), ['ClusterNetworkPolicy -/users-own ']);
    assert.equal(agent.heartbeat().conditions?.find((c) => c.type === 'NetworkPolicyApplied')?.status, 'True');
  });

  it('a cluster that does not serve ClusterNetworkPolicy: a False condition naming the kind, nothing deleted; once it is served, applied', async () => {
    const kube = new MemoryCluster({ namespaces: ['inference'], notServing: ['ClusterNetworkPolicy'] });
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    hub.pushPolicy(snapshot(1, 'NetworkPolicy', [np('causeway-old')]));
    await drive(agents.clock, 'snapshot 1 applied', () => agent.heartbeat().policy?.seq === 1);
    hub.pushPolicy(snapshot(2, 'ClusterNetworkPolicy', [cnp('causeway-a', 10), np('causeway-n')]));
    const failed = await drive(agents.clock, 'a False condition', () =>
      agent.heartbeat().conditions?.find((c) => c.type === 'NetworkPolicyApplied' && c.status === 'False'),
    );
    assert.equal(failed.reason, 'ApplyFailed');
    assert.match(failed.message, /ClusterNetworkPolicy \/causeway-a: the cluster serves no ClusterNetworkPolicy/);
    assert.deepEqual(held(kube), ['NetworkPolicy inference/causeway-n agent', 'NetworkPolicy inference/causeway-old agent'], 'stale ones stay until all apply');
    kube.serveKind('ClusterNetworkPolicy', true);
    await drive(agents.clock, 'snapshot 2 applied', () => agent.heartbeat().policy?.seq === 2, 60_000);
    assert.deepEqual(held(kube), ['ClusterNetworkPolicy -/causeway-a agent', 'NetworkPolicy inference/causeway-n agent']);
  });

  it('an object of a kind outside the snapshot format is not applied, and the condition names it', async () => {
    const kube = new MemoryCluster({ namespaces: ['inference'] });
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    hub.pushPolicy(snapshot(1, 'NetworkPolicy', [np('causeway-n'), cnp('causeway-a', 1)]));
    const c = await drive(agents.clock, 'a condition', () => agent.heartbeat().conditions?.find((x) => x.type === 'NetworkPolicyApplied'));
    assert.equal(c.reason, 'UnsupportedFormat');
    assert.match(c.message, /not applied: policy\.networking\.k8s\.io\/v1alpha2 ClusterNetworkPolicy \/causeway-a/);
    assert.deepEqual(held(kube), ['NetworkPolicy inference/causeway-n agent']);
  });
});
