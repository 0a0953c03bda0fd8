// poolUsage (pure): size, used, quarantined and free per pool, holders named, overlaps counted once.
import assert from 'node:assert/strict';
import type { ClusterResource, IPPoolResource } from '../../../controlplane/api/resources.ts';
import { poolUsage } from '../../../controlplane/ipam/pool-usage.ts';
import { cluster, declared, pool } from '../../fixtures/resources.ts';

const NOW = new Date('2026-11-23T00:10:00Z');
const base = { now: NOW, vipQuarantineMs: 600_000, blockQuarantineMs: 600_000 };

function pools(...p: Record<string, unknown>[]): IPPoolResource[] {
  return declared(...p).map((d) => d.resource as IPPoolResource);
}

describe('poolUsage', () => {
  it('counts clusterset VIPs held and in quarantine', () => {
    const [u] = poolUsage({
      ...base,
      pools: pools(pool('vips', 'ClusterSetIPs', ['10.255.0.0/30'])),
      clusters: [],
      vipClaims: [
        { ip: '10.255.0.1', service: 'inference/llm' },
        { ip: '10.255.0.2', service: 'inference/old', releasedAt: '2026-11-23T00:05:00Z' },
        { ip: '10.255.0.3', service: 'inference/older', releasedAt: '2026-11-22T00:00:00Z' },
      ],
      releases: [],
    });
    assert.deepEqual([u?.size, u?.used, u?.quarantined, u?.free], ['4', '1', '1', '2']);
    assert.deepEqual(u?.holders, [{ holder: 'Service/inference/llm', field: 'clusterSetIP', cidr: '10.255.0.1/32' }]);
  });

  it('IPv6 sizes beyond a JSON number are exact decimal strings; given and allocated CIDRs both count, overlaps once', () => {
    const [a, b] = declared(
      cluster('a', 'fd00:64::/64', '10.65.0.0/20', { provider: 'onprem' }),
      cluster('b', 'fd00:64::/65', '10.66.0.0/20', { provider: 'onprem', spec: { clusterSet: 'other' } }),
    ).map((d) => d.resource as ClusterResource);
    const [u] = poolUsage({
      ...base,
      pools: pools(pool('cidrs', 'ClusterCIDRs', ['fd00:64::/48'])),
      clusters: [a as ClusterResource, b as ClusterResource],
      vipClaims: [],
      releases: [],
    });
    assert.ok(u !== undefined);
    assert.equal(u.size, String(2n ** 80n));
    assert.equal(u.used, String(2n ** 64n));
    assert.equal(u.free, String(2n ** 80n - 2n ** 64n));
    assert.deepEqual(
      u.holders.map((h) => h.holder),
      ['Cluster/a', 'Cluster/b'],
    );
  });

  it('counts a released LoadBalancer block in quarantine, not once it passed', () => {
    const lb = pools({ ...pool('lb', 'LoadBalancer', ['10.40.0.0/28']), spec: { use: 'LoadBalancer', cidrs: ['10.40.0.0/28'], network: 'fra' } });
    const release = { cidr: '10.40.0.0/29', pool: 'lb', cluster: 'a', use: 'loadBalancer' as const };
    const [inside] = poolUsage({ ...base, pools: lb, clusters: [], vipClaims: [], releases: [{ ...release, releasedAt: '2026-11-23T00:09:00Z' }] });
    assert.deepEqual([inside?.used, inside?.quarantined, inside?.free], ['0', '8', '8']);
    const [past] = poolUsage({ ...base, pools: lb, clusters: [], vipClaims: [], releases: [{ ...release, releasedAt: '2026-11-22T00:00:00Z' }] });
    assert.deepEqual([past?.used, past?.quarantined, past?.free], ['0', '0', '16']);
  });
});
