// The agent's MetalLB IPAddressPool planner and the hub's settings message, pure and table-driven.
import assert from 'node:assert/strict';
import { clusterSettingsCodec, type ClusterSettings } from '../../../controlplane/api/messages.ts';
import type { ClusterResource } from '../../../controlplane/api/resources.ts';
import { clusterSettings, settingsChanged } from '../../../controlplane/hub/cluster-settings-plan.ts';
import { desiredAddressPool, planAddressPool } from '../../../cluster-agent/planners/metallb-pool.ts';
import { cluster, declared } from '../../fixtures/resources.ts';

const withBlock: ClusterSettings = { v: 1, cluster: 'fra-1', revision: 7, loadBalancer: { pool: 'lb', cidrs: ['10.40.0.0/28', 'fd00:40::/120'] } };
const none: ClusterSettings = { v: 1, cluster: 'fra-1', revision: 8 };
const owned = { 'causeway.dev/owned-by': 'agent' };

describe('MetalLB IPAddressPool planner', () => {
  it('writes metallb.io/v1beta1 IPAddressPool in metallb-system, owned, with the block and autoAssign', () => {
    assert.deepEqual(desiredAddressPool(withBlock), {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'causeway-loadbalancer', namespace: 'metallb-system', labels: owned, annotations: { 'causeway.dev/ippool': 'lb' } },
      spec: { addresses: ['10.40.0.0/28', 'fd00:40::/120'], autoAssign: true },
    });
  });

  const current = (addresses: string[], labels: Record<string, string> = owned) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name: 'causeway-loadbalancer', namespace: 'metallb-system', uid: 'u1', labels },
    spec: { addresses, autoAssign: true },
  });
  const cases: { name: string; settings: ClusterSettings; current: ReturnType<typeof current> | undefined; expect: string }[] = [
    { name: 'absent, a block: apply', settings: withBlock, current: undefined, expect: 'apply' },
    { name: 'present and equal: nothing', settings: withBlock, current: current(['10.40.0.0/28', 'fd00:40::/120']), expect: 'none' },
    { name: 'the block changed: apply', settings: withBlock, current: current(['10.40.0.16/28']), expect: 'apply' },
    { name: 'the block went: delete ours (by uid)', settings: none, current: current(['10.40.0.0/28']), expect: 'delete:u1' },
    { name: 'no block, nothing there: nothing', settings: none, current: undefined, expect: 'none' },
    { name: 'a pool of that name we do not own: never touched', settings: withBlock, current: current(['192.0.2.0/24'], {}), expect: 'none' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const a = planAddressPool(c.settings, c.current);
      assert.equal(a.kind === 'delete' ? `delete:${a.uid ?? ''}` : a.kind, c.expect);
    });
  }
});

describe('hub: the ClusterSettings message', () => {
  it("carries the cluster's LoadBalancer block from status.allocated, and round-trips its codec", () => {
    const [c] = declared(cluster('fra-1', '10.1.0.0/16', '10.2.0.0/20', { provider: 'onprem', network: 'fra', spec: { loadBalancer: { pool: 'lb' } } }));
    const r = c?.resource as ClusterResource;
    const stored: ClusterResource = {
      ...r,
      metadata: { ...r.metadata, resourceVersion: '7' },
      status: { allocated: { loadBalancerPool: 'lb', loadBalancerCIDRs: ['10.40.0.0/28', 'fd00:40::/120'] } },
    };
    const s = clusterSettings(stored);
    assert.deepEqual(s, withBlock);
    const decoded = clusterSettingsCodec.decode(clusterSettingsCodec.encode(s), 'fra-1');
    assert.deepEqual(decoded, { ok: true, value: withBlock });
    assert.equal(clusterSettingsCodec.decode(clusterSettingsCodec.encode(s), 'other').ok, false);
    assert.equal(settingsChanged(withBlock, { ...withBlock, revision: 9 }), false);
    assert.equal(settingsChanged(withBlock, none), true);
    assert.deepEqual(clusterSettings({ ...stored, status: {} }), { v: 1, cluster: 'fra-1', revision: 7 });
  });

  it('refuses a settings message whose block is not a CIDR', () => {
    const bad = new TextEncoder().encode(JSON.stringify({ v: 1, cluster: 'fra-1', revision: 1, loadBalancer: { pool: 'lb', cidrs: ['10.40.0.1/28'] } }));
    assert.equal(clusterSettingsCodec.decode(bad).ok, false);
  });
});
