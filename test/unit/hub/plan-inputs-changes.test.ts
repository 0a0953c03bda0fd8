// Which registry changes make the hub look at the route plan's inputs and the address overlaps
// again (plan-inputs.ts changesPlanInputs): a plan resource coming or going, or a change of its
// labels, spec, allocations or observed prefixes — never a conditions-only status write (liveness
// writes one per heartbeat-driven change; at 1,000 clusters each look cost hundreds of ms).
import assert from 'node:assert/strict';
import type { Resource } from '../../../controlplane/api/resources.ts';
import { changesPlanInputs } from '../../../controlplane/hub/plan-inputs.ts';

const cluster = (patch: { labels?: Record<string, string>; spec?: Record<string, unknown>; status?: Record<string, unknown> } = {}): Resource =>
  ({
    apiVersion: 'causeway.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name: 'c1', labels: patch.labels ?? { env: 'prod' } },
    spec: { provider: 'onprem', region: 'r', network: 'n', ...patch.spec },
    ...(patch.status !== undefined ? { status: patch.status } : {}),
  }) as unknown as Resource;

const change = (before: Resource | undefined, after: Resource | undefined, kind = 'Cluster'): Parameters<typeof changesPlanInputs>[0] =>
  ({ ref: `${kind}/c1`, kind, before, after }) as Parameters<typeof changesPlanInputs>[0];

describe('route-plan input changes', () => {
  const available = { conditions: [{ type: 'Available', status: 'True', reason: 'HeartbeatReceived', message: '', lastTransitionTime: 't1' }] };
  const silent = {
    conditions: [{ type: 'Available', status: 'False', reason: 'HeartbeatMissed', message: '', lastTransitionTime: 't2' }],
    lastHeartbeatTime: 't2',
  };

  it('ignores a status write of conditions and heartbeat times only', () => {
    assert.equal(changesPlanInputs(change(cluster({ status: available }), cluster({ status: silent }))), false);
  });

  it('looks again when a resource comes or goes, or its labels, spec, allocations or observed prefixes change', () => {
    assert.equal(changesPlanInputs(change(undefined, cluster())), true);
    assert.equal(changesPlanInputs(change(cluster(), undefined)), true);
    assert.equal(changesPlanInputs(change(cluster(), cluster({ labels: { env: 'dev' } }))), true);
    assert.equal(changesPlanInputs(change(cluster(), cluster({ spec: { podCIDRs: ['10.1.0.0/16'] } }))), true);
    assert.equal(
      changesPlanInputs(change(cluster({ status: available }), cluster({ status: { ...available, allocated: { podCIDRs: ['10.2.0.0/16'] } } }))),
      true,
    );
    assert.equal(changesPlanInputs(change(cluster(), cluster({ status: { observedPrefixes: ['10.3.0.0/16'] } }), 'Network')), true);
  });

  it('ignores kinds no plan is made of', () => {
    assert.equal(changesPlanInputs(change(undefined, cluster(), 'GlobalPolicy')), false);
  });
});
