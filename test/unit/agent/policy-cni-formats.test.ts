// The agent applies the Calico and Cilium formats (MemoryCluster, in-memory hub, ManualClock):
// Calico's Tier before the GlobalNetworkPolicies that name it, and deleted after them — against a
// fake that refuses what Calico's API server refuses (a policy naming a Tier that does not exist, a
// Tier deleted while a policy is in it), so the first attempt succeeds and nothing is retried; a
// Cilium snapshot sweeps the Calico objects. Asserted on what the cluster holds.
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, type ClusterPolicyMessage, type PolicyObject, type PolicyRequest } from '../../../controlplane/api/messages.ts';
import { ConflictError, NotFoundError } from '../../../controlplane/api/errors.ts';
import { MemoryCluster } from '../../../cluster-agent/memory-cluster.ts';
import type { KubeObject, ObjectRef } from '../../../cluster-agent/objects.ts';
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

/** MemoryCluster with Calico's referential rules between Tiers and their policies. */
class CalicoCluster extends MemoryCluster {
  refusals = 0;
  override apply(object: KubeObject, signal: AbortSignal): Promise<KubeObject> {
    const tier = (object.spec as { tier?: string } | undefined)?.tier;
    if (object.kind === 'GlobalNetworkPolicy' && tier !== undefined && this.list('Tier').every((t) => t.metadata.name !== tier)) {
      this.refusals++;
      return Promise.reject(new NotFoundError(`tier ${tier} does not exist`));
    }
    return super.apply(object, signal);
  }
  override delete(ref: ObjectRef, uid: string | undefined, signal: AbortSignal): Promise<void> {
    if (ref.kind === 'Tier' && this.list('GlobalNetworkPolicy').some((p) => (p.spec as { tier?: string }).tier === ref.name)) {
      this.refusals++;
      return Promise.reject(new ConflictError(`tier ${ref.name} still holds policies`));
    }
    return super.delete(ref, uid, signal);
  }
}

const meta = (name: string) => ({ name, labels: { 'causeway.dev/compiled-from': 'globalpolicy' }, annotations: { 'causeway.dev/policies': 'platform/p' } });
const tier = (name: string, order: number): PolicyObject => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'Tier',
  metadata: meta(name),
  specJson: JSON.stringify({ order, defaultAction: 'Pass' }),
});
const gnp = (tierName: string, name: string): PolicyObject => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: meta(`${tierName}.${name}`),
  specJson: JSON.stringify({ tier: tierName, order: 1, namespaceSelector: 'all()', selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny' }] }),
});
const ccnp = (name: string): PolicyObject => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumClusterwideNetworkPolicy',
  metadata: meta(name),
  specJson: JSON.stringify({ endpointSelector: {}, ingress: [{}] }),
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
  ['Tier', 'GlobalNetworkPolicy', 'CiliumClusterwideNetworkPolicy']
    .flatMap((k) => kube.list(k).map((o) => `${o.kind} ${o.metadata.name} ${o.metadata.labels?.['causeway.dev/owned-by'] ?? ''}`))
    .sort();

describe('agent: compiled policy of the Calico and Cilium formats (MemoryCluster, in-memory hub, ManualClock)', () => {
  const agents = agentsOnClock({ policyAskRetryMs: 1000 });

  it('applies a Tier before its policies and deletes it after them, at the first attempt; a Cilium snapshot sweeps the Calico objects', async () => {
    const kube = new CalicoCluster({ namespaces: ['inference'] });
    const hub = new PolicyHub();
    const agent = agents.start(kube, hub);
    hub.pushPolicy(snapshot(1, 'CalicoGlobalNetworkPolicy', [gnp('causeway-platform', 'a'), tier('causeway-platform', 100)]));
    await drive(agents.clock, 'snapshot 1 applied', () => agent.heartbeat().policy?.seq === 1);
    assert.deepEqual(held(kube), ['GlobalNetworkPolicy causeway-platform.a agent', 'Tier causeway-platform agent']);
    hub.pushPolicy(snapshot(2, 'CalicoGlobalNetworkPolicy', [tier('causeway-tenant', 200), gnp('causeway-tenant', 'b')]));
    await drive(agents.clock, 'snapshot 2 applied', () => agent.heartbeat().policy?.seq === 2);
    assert.deepEqual(held(kube), ['GlobalNetworkPolicy causeway-tenant.b agent', 'Tier causeway-tenant agent']);
    hub.pushPolicy(snapshot(3, 'CiliumClusterwideNetworkPolicy', [ccnp('causeway-c')]));
    await drive(agents.clock, 'snapshot 3 applied', () => agent.heartbeat().policy?.seq === 3);
    assert.deepEqual(held(kube), ['CiliumClusterwideNetworkPolicy causeway-c agent']);
    assert.equal(kube.refusals, 0, 'nothing was refused and retried');
    const c = agent.heartbeat().conditions?.find((x) => x.type === 'NetworkPolicyApplied');
    assert.equal(c?.status, 'True');
    assert.match(c.message, /1 CiliumClusterwideNetworkPolicy objects of snapshot 1\/3 applied/);
  });
});
