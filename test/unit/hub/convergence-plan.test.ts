// Convergence (issue 11 §3), the pure decision: applied only when the model reflects the revision,
// nothing is pending, something was sent and the agent applied it; never "applied" because nothing
// was sent; silent agents are unavailable.
import assert from 'node:assert/strict';
import type { ClusterResource } from '../../../controlplane/api/resources.ts';
import { planConvergence, type DeliveryState } from '../../../controlplane/hub/controllers/convergence-plan.ts';
import type { Seen } from '../../../controlplane/hub/controllers/liveness-plan.ts';
import { cluster } from '../../fixtures/providers/journey3.ts';

const NOW = 100_000;
const clusters: ClusterResource[] = [
  cluster('aws-train', 'aws', 'aws-train-vpc', ['10.16.0.0/16']),
  cluster('onprem-inference', 'onprem', 'onprem-fra', ['10.32.0.0/16']),
];

function seen(applied: number, agoMs = 1000): Seen {
  return {
    at: NOW - agoMs,
    heartbeat: { v: 1, cluster: 'x', session: 's', agentVersion: '0.1.0', appliedRevision: applied, time: new Date(NOW).toISOString() },
  };
}

const states = (r: ReturnType<typeof planConvergence>): Record<string, string> => Object.fromEntries(r.clusters.map((c) => [c.cluster, c.state]));

describe('planConvergence', () => {
  const delivery = (modelRevision: number, consumers: DeliveryState['consumers']): DeliveryState => ({ modelRevision, consumers });

  it('is applied when the model reflects the revision, nothing is pending and each agent applied what it was sent', () => {
    const r = planConvergence({
      revision: 40,
      clusters,
      delivery: delivery(42, { 'aws-train': { sent: 42, pending: false }, 'onprem-inference': { sent: 30, pending: false } }),
      seen: (c) => (c === 'aws-train' ? seen(42) : seen(30)),
      now: NOW,
    });
    // onprem-inference was sent nothing since 30: the change did not touch it, and it has applied 30.
    assert.deepEqual(states(r), { 'aws-train': 'applied', 'onprem-inference': 'applied' });
    assert.equal(r.converged, true);
    assert.deepEqual(r.clusters[0], { cluster: 'aws-train', state: 'applied', sent: 42, applied: 42, behindBy: 0, heardSecondsAgo: 1 });
  });

  it('is sending while the model has not reached the revision, or a batch is pending, or nothing was sent this term', () => {
    const base = { clusters, seen: () => seen(50), now: NOW };
    assert.deepEqual(
      states(
        planConvergence({
          ...base,
          revision: 60,
          delivery: delivery(55, { 'aws-train': { sent: 50, pending: false }, 'onprem-inference': { sent: 50, pending: false } }),
        }),
      ),
      {
        'aws-train': 'sending',
        'onprem-inference': 'sending',
      },
    );
    const r = planConvergence({
      ...base,
      revision: 50,
      delivery: delivery(60, { 'aws-train': { sent: 50, pending: true }, 'onprem-inference': { sent: undefined, pending: false } }),
    });
    assert.deepEqual(states(r), { 'aws-train': 'sending', 'onprem-inference': 'sending' });
    assert.equal(r.converged, false);
    // No leader: nobody has been sent anything.
    assert.deepEqual(states(planConvergence({ ...base, revision: 1, delivery: undefined })), { 'aws-train': 'sending', 'onprem-inference': 'sending' });
  });

  it('is applying, and says how far behind, while the agent has not reported the revision sent', () => {
    const r = planConvergence({
      revision: 40,
      clusters,
      delivery: delivery(45, { 'aws-train': { sent: 45, pending: false }, 'onprem-inference': { sent: 45, pending: false } }),
      seen: (c) => (c === 'aws-train' ? seen(41) : seen(45)),
      now: NOW,
    });
    assert.deepEqual(states(r), { 'aws-train': 'applying', 'onprem-inference': 'applied' });
    assert.equal(r.clusters[0]?.behindBy, 4);
  });

  it('is unavailable for an agent not heard within its TTL, or never heard', () => {
    const r = planConvergence({
      revision: 1,
      clusters,
      delivery: delivery(5, { 'aws-train': { sent: 5, pending: false }, 'onprem-inference': { sent: 5, pending: false } }),
      seen: (c) => (c === 'aws-train' ? seen(5, 31_000) : undefined),
      now: NOW,
    });
    assert.deepEqual(states(r), { 'aws-train': 'unavailable', 'onprem-inference': 'unavailable' });
    assert.equal(r.clusters[1]?.heardSecondsAgo, null);
  });
});
