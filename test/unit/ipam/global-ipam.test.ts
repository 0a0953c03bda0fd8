// Global IPAM (issue 9 §2), pure and on the in-memory store fake: Network ranges in the overlap
// checks, LoadBalancer blocks for on-prem clusters, IPv6, prefix lengths, exhaustion, release
// quarantine, and bad input refused with nothing written.
import assert from 'node:assert/strict';
import { InvalidInputError } from '../../../controlplane/api/errors.ts';
import { BLOCK_RELEASES_PREFIX, OBJECTS_PREFIX, HEAD_KEY } from '../../../controlplane/api/keys.ts';
import type { ClusterResource, NetworkResource, Resource } from '../../../controlplane/api/resources.ts';
import { addressConflicts, checkSet } from '../../../controlplane/api/semantic.ts';
import { MemoryStore } from '../../../controlplane/registry/memory-store.ts';
import { Registry } from '../../../controlplane/registry/registry.ts';
import { cluster, declared, network, pool } from '../../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };

function resources(...objects: Record<string, unknown>[]): Resource[] {
  return declared(...objects).map((d) => d.resource);
}

function withStatus<T extends Resource>(r: T, status: Record<string, unknown>): T {
  return { ...r, status: { ...r.status, ...status } };
}

function lbPool(name: string, cidrs: string[], networkName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const p = pool(name, 'LoadBalancer', cidrs);
  return { ...p, spec: { ...(p.spec as object), network: networkName, ...extra } };
}

function onpremCluster(
  name: string,
  lb: Record<string, unknown> | undefined,
  pod = undefined as string | undefined,
  networkName = 'fra',
): Record<string, unknown> {
  return cluster(name, pod, pod === undefined ? undefined : '10.250.0.0/20', {
    provider: 'onprem',
    network: networkName,
    spec: { ...(pod === undefined ? { ipam: { pool: 'cidrs' } } : {}), ...(lb !== undefined ? { loadBalancer: lb } : {}) },
  });
}

/** Everything the store holds, to prove a refused write changed nothing. */
async function dump(store: MemoryStore): Promise<string> {
  const { kvs } = await store.range('/');
  return JSON.stringify(kvs.map((kv) => [kv.key, kv.value, kv.modRevision]));
}

function clock(start = '2026-11-23T00:00:00Z'): { now: () => Date; advance: (ms: number) => void } {
  let t = Date.parse(start);
  return {
    now: () => new Date((t += 1)),
    advance: (ms) => {
      t += ms;
    },
  };
}

function allocated(r: Resource): Record<string, unknown> {
  return (r.status?.allocated ?? {}) as Record<string, unknown>;
}

describe('global IPAM: Network ranges in the overlap checks (pure)', () => {
  const cases: { name: string; set: () => Resource[]; expect: RegExp | undefined }[] = [
    {
      name: "a cluster inside its own Network's declared prefix is fine",
      set: () => resources(network('vpc', 'aws', { prefixes: ['10.16.0.0/12'] }), cluster('a', '10.16.0.0/16', '10.17.0.0/20', { network: 'vpc' })),
      expect: undefined,
    },
    {
      name: "a cluster inside another Network's declared prefix is refused naming both",
      set: () =>
        resources(network('vpc'), network('fra', 'onprem', { prefixes: ['10.32.0.0/12'] }), cluster('a', '10.33.0.0/16', '10.100.0.0/20', { network: 'vpc' })),
      expect: /Cluster "a" podCIDRs\[0\] 10\.33\.0\.0\/16 overlaps Network "fra" prefix prefixes\[0\] 10\.32\.0\.0\/12/,
    },
    {
      name: "a cluster's service CIDR inside another Network's observed VPC CIDR is refused naming the observation",
      set: () => {
        const [vpc, other, a] = resources(network('vpc'), network('other'), cluster('a', '10.1.0.0/16', '172.31.0.0/20', { network: 'vpc' }));
        return [vpc as Resource, withStatus(other as NetworkResource, { observedPrefixes: ['172.31.0.0/16'] }), a as Resource];
      },
      expect: /Cluster "a" serviceCIDRs\[0\] 172\.31\.0\.0\/20 overlaps Network "other" observed prefix status\.observedPrefixes\[0\] 172\.31\.0\.0\/16/,
    },
    {
      name: 'an observed value that is not a CIDR is skipped, not trusted',
      set: () => {
        const [vpc, other, a] = resources(network('vpc'), network('other'), cluster('a', '10.1.0.0/16', '10.2.0.0/20', { network: 'vpc' }));
        return [vpc as Resource, withStatus(other as NetworkResource, { observedPrefixes: ['10.1.0.0', 7, '10.256.0.0/16'] }), a as Resource];
      },
      expect: undefined,
    },
    {
      name: 'a ClusterSetIPs pool may overlap no Network range',
      set: () => resources(network('vpc', 'aws', { prefixes: ['10.255.0.0/16'] }), pool('vips', 'ClusterSetIPs', ['10.255.1.0/24'])),
      expect: /IPPool "vips" cidrs\[0\] 10\.255\.1\.0\/24 overlaps Network "vpc" prefix/,
    },
    {
      name: "a LoadBalancer pool inside its own on-prem Network's prefix is fine",
      set: () => resources(network('fra', 'onprem', { prefixes: ['10.32.0.0/12'] }), lbPool('lb', ['10.40.0.0/24'], 'fra')),
      expect: undefined,
    },
    {
      name: "a LoadBalancer pool inside another Network's range is refused",
      set: () => resources(network('fra', 'onprem'), network('vpc', 'aws', { prefixes: ['10.40.0.0/16'] }), lbPool('lb', ['10.40.0.0/24'], 'fra')),
      expect: /IPPool "lb" cidrs\[0\] 10\.40\.0\.0\/24 overlaps Network "vpc" prefix/,
    },
    {
      name: 'a ClusterCIDRs pool may span Network ranges (the allocator avoids them instead)',
      set: () => resources(network('vpc', 'aws', { prefixes: ['10.64.0.0/16'] }), pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/10'])),
      expect: undefined,
    },
    {
      name: 'two Networks may overlap each other (unlinked VPCs often share a CIDR)',
      set: () => resources(network('a', 'aws', { prefixes: ['10.0.0.0/16'] }), network('b', 'aws', { prefixes: ['10.0.0.0/16'] })),
      expect: undefined,
    },
    {
      name: "IPv6: a cluster inside another Network's IPv6 prefix is refused",
      set: () =>
        resources(
          network('vpc'),
          network('fra', 'onprem', { prefixes: ['fd00:32::/48'] }),
          cluster('a', 'fd00:32:0:1::/64', 'fd00:99::/112', { network: 'vpc' }),
        ),
      expect: /Cluster "a" podCIDRs\[0\] fd00:32:0:1::\/64 overlaps Network "fra" prefix prefixes\[0\] fd00:32::\/48/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const problems = checkSet(c.set());
      if (c.expect === undefined) assert.deepEqual(problems, []);
      else {
        assert.equal(problems.length, 1, JSON.stringify(problems));
        assert.match(problems[0]?.message ?? '', c.expect);
      }
    });
  }

  it('addressConflicts names both objects of an overlap (what the AddressConflict condition reports)', () => {
    const [vpc, other, a] = resources(network('vpc'), network('other'), cluster('a', '10.1.0.0/16', '10.2.0.0/20', { network: 'vpc' }));
    const set = [vpc as Resource, withStatus(other as NetworkResource, { observedPrefixes: ['10.0.0.0/8'] }), a as Resource];
    const conflicts = addressConflicts(set);
    assert.deepEqual(
      conflicts.map((p) => [...p.involves].sort()),
      [
        ['Cluster/a', 'Network/other'],
        ['Cluster/a', 'Network/other'],
      ],
    );
  });
});

describe('global IPAM: allocation in the registry (in-memory store fake)', () => {
  let store: MemoryStore;
  let registry: Registry;
  let c: ReturnType<typeof clock>;
  beforeEach(() => {
    store = new MemoryStore();
    c = clock();
    registry = new Registry(store, { now: c.now, blockQuarantineMs: 60_000 });
  });

  const base = (): Record<string, unknown>[] => [
    network('fra', 'onprem', { prefixes: ['10.32.0.0/12'] }),
    network('other', 'onprem'),
    pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/12']),
    lbPool('lb', ['10.40.0.0/26', 'fd00:40::/120'], 'fra', { blockPrefixLength: { ipv4: 28, ipv6: 124 } }),
  ];

  it('gives each on-prem cluster that asks its own LoadBalancer block per family, sized by the pool', async () => {
    await registry.apply(declared(...base(), onpremCluster('a', { pool: 'lb' }), onpremCluster('b', { pool: 'lb' })), admin);
    const a = allocated(await registry.get({ kind: 'Cluster', name: 'a' }));
    const b = allocated(await registry.get({ kind: 'Cluster', name: 'b' }));
    assert.deepEqual(a.loadBalancerCIDRs, ['10.40.0.0/28', 'fd00:40::/124']);
    assert.deepEqual(b.loadBalancerCIDRs, ['10.40.0.16/28', 'fd00:40::10/124']);
    assert.equal(a.loadBalancerPool, 'lb');
  });

  it("takes the cluster's own prefix lengths over the pool's, and changes the block when they change", async () => {
    await registry.apply(declared(...base(), onpremCluster('a', { pool: 'lb', prefixLength: 27, ipv6PrefixLength: 122 })), admin);
    assert.deepEqual(allocated(await registry.get({ kind: 'Cluster', name: 'a' })).loadBalancerCIDRs, ['10.40.0.0/27', 'fd00:40::/122']);
    await registry.apply(declared(onpremCluster('a', { pool: 'lb', prefixLength: 29, ipv6PrefixLength: 122 })), admin);
    const after = allocated(await registry.get({ kind: 'Cluster', name: 'a' }));
    // The cluster may reuse its own addresses; the rest of its old /27 stays in quarantine for others.
    assert.deepEqual(after.loadBalancerCIDRs, ['10.40.0.0/29', 'fd00:40::/122']);
    await registry.apply(declared(onpremCluster('b', { pool: 'lb', prefixLength: 29 })), admin);
    assert.deepEqual(allocated(await registry.get({ kind: 'Cluster', name: 'b' })).loadBalancerCIDRs, ['10.40.0.32/29', 'fd00:40::40/124']);
    assert.deepEqual(
      (await registry.blockReleases()).map((r) => `${r.cluster} ${r.use} ${r.cidr}`),
      ['a loadBalancer 10.40.0.0/27'],
    );
  });

  it('keeps a block across unrelated updates', async () => {
    await registry.apply(declared(...base(), onpremCluster('a', { pool: 'lb' })), admin);
    const before = allocated(await registry.get({ kind: 'Cluster', name: 'a' }));
    await registry.apply(declared({ ...onpremCluster('a', { pool: 'lb' }), metadata: { name: 'a', labels: { x: 'y' } } }), admin);
    assert.deepEqual(allocated(await registry.get({ kind: 'Cluster', name: 'a' })), before);
  });

  it('releases blocks on delete into quarantine; another cluster cannot take them until it passes, the same cluster gets its own back', async () => {
    await registry.apply(declared(...base(), onpremCluster('a', { pool: 'lb' })), admin);
    const a = allocated(await registry.get({ kind: 'Cluster', name: 'a' }));
    await registry.delete({ kind: 'Cluster', name: 'a' }, admin);
    const releases = await registry.blockReleases();
    assert.deepEqual(releases.map((r) => `${r.use} ${r.cidr}`).sort(), [
      'loadBalancer 10.40.0.0/28',
      'loadBalancer fd00:40::/124',
      'pod 10.64.0.0/16',
      'service 10.65.0.0/20',
    ]);
    await registry.apply(declared(onpremCluster('b', { pool: 'lb' })), admin);
    const b = allocated(await registry.get({ kind: 'Cluster', name: 'b' }));
    assert.deepEqual(b.loadBalancerCIDRs, ['10.40.0.16/28', 'fd00:40::10/124']);
    assert.deepEqual(b.podCIDRs, ['10.66.0.0/16']);
    await registry.apply(declared(onpremCluster('a', { pool: 'lb' })), admin);
    assert.deepEqual(allocated(await registry.get({ kind: 'Cluster', name: 'a' })), a);
    // Taken back: its release records are gone.
    assert.deepEqual(await registry.blockReleases(), []);
  });

  it('hands a released block to another cluster once the quarantine passed, and tidies the record', async () => {
    await registry.apply(declared(...base(), onpremCluster('a', { pool: 'lb' })), admin);
    await registry.delete({ kind: 'Cluster', name: 'a' }, admin);
    c.advance(61_000);
    await registry.apply(declared(onpremCluster('b', { pool: 'lb' })), admin);
    assert.deepEqual(allocated(await registry.get({ kind: 'Cluster', name: 'b' })).loadBalancerCIDRs, ['10.40.0.0/28', 'fd00:40::/124']);
    assert.deepEqual((await store.range(BLOCK_RELEASES_PREFIX)).kvs, []);
  });

  it("allocates cluster CIDRs outside every other Network's ranges", async () => {
    await registry.apply(
      declared(
        network('vpc', 'aws', { prefixes: ['10.64.0.0/15'] }),
        network('fra', 'onprem'),
        pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/12']),
        onpremCluster('a', undefined),
      ),
      admin,
    );
    assert.deepEqual(allocated(await registry.get({ kind: 'Cluster', name: 'a' })).podCIDRs, ['10.66.0.0/16']);
  });

  it('IPv6 cluster CIDRs from a dual-stack ClusterCIDRs pool', async () => {
    await registry.apply(
      declared(network('fra', 'onprem'), pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/12', 'fd00:64::/48']), onpremCluster('a', undefined)),
      admin,
    );
    const a = allocated(await registry.get({ kind: 'Cluster', name: 'a' }));
    assert.deepEqual(a.podCIDRs, ['10.64.0.0/16', 'fd00:64::/64']);
    assert.deepEqual(a.serviceCIDRs, ['10.65.0.0/20', 'fd00:64:0:1::/112']);
  });
});

describe('global IPAM: bad input is refused naming object and field, and nothing is written', () => {
  let store: MemoryStore;
  let registry: Registry;
  beforeEach(async () => {
    store = new MemoryStore();
    registry = new Registry(store, { now: clock().now });
    await registry.apply(
      declared(
        network('fra', 'onprem'),
        network('ams', 'onprem'),
        pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/12']),
        lbPool('lb', ['10.40.0.0/28'], 'fra'),
        lbPool('lb-ams', ['10.41.0.0/24'], 'ams'),
        pool('vips', 'ClusterSetIPs', ['10.255.0.0/24']),
      ),
      admin,
    );
  });

  async function refused(objects: Record<string, unknown>[], field: string, message: RegExp, name?: string): Promise<void> {
    const before = await dump(store);
    const err = await registry.apply(declared(...objects), admin).catch((e: unknown) => e);
    assert.ok(err instanceof InvalidInputError, String(err));
    const p = err.problems.find((x) => x.field.endsWith(field));
    assert.ok(p !== undefined, `no problem at ${field}: ${err.message}`);
    if (name !== undefined) assert.equal(p.name, name);
    assert.match(p.message, message);
    assert.equal(await dump(store), before);
  }

  it('overlapping IPPools', async () => {
    await refused(
      [lbPool('lb2', ['10.40.0.0/29'], 'fra')],
      'spec.cidrs[0]',
      /IPPool "lb2" cidrs\[0\] 10\.40\.0\.0\/29 overlaps IPPool "lb" cidrs\[0\] 10\.40\.0\.0\/28/,
      'lb2',
    );
  });

  it('an exhausted LoadBalancer pool, naming the pool, the size and what to do', async () => {
    await registry.apply(declared(onpremCluster('a', { pool: 'lb' })), admin);
    await refused(
      [onpremCluster('b', { pool: 'lb' })],
      'spec.loadBalancer.pool',
      /IPPool "lb" \(10\.40\.0\.0\/28\) has no free IPv4 \/28 block left for Cluster "b" \(1 block\(s\) held by other clusters, 0 in release quarantine\); add CIDRs/,
      'b',
    );
  });

  it('an exhausted ClusterCIDRs pool', async () => {
    await refused(
      [
        onpremCluster('a', undefined),
        { ...onpremCluster('b', undefined), spec: { ...(onpremCluster('b', undefined).spec as object), ipam: { pool: 'cidrs', podPrefixLength: 12 } } },
      ],
      'spec.ipam.pool',
      /IPPool "cidrs" has no free IPv4 \/12 left for pod CIDRs/,
      'b',
    );
  });

  it('a Cluster asking an LB block from a pool of another network', async () => {
    await refused(
      [onpremCluster('a', { pool: 'lb-ams' })],
      'spec.loadBalancer.pool',
      /IPPool "lb-ams" belongs to Network "ams", but this cluster is in Network "fra"/,
      'a',
    );
  });

  it('a Cluster asking an LB block from a pool of the wrong use', async () => {
    await refused([onpremCluster('a', { pool: 'vips' })], 'spec.loadBalancer.pool', /IPPool "vips" is for ClusterSetIPs, not LoadBalancer/, 'a');
  });

  it('a Cluster asking an LB block from a pool that does not exist', async () => {
    await refused([onpremCluster('a', { pool: 'nope' })], 'spec.loadBalancer.pool', /references IPPool "nope", which does not exist/, 'a');
  });

  it('a cloud Cluster asking for an LB block (schema)', () => {
    assert.throws(
      () => declared(cluster('a', '10.1.0.0/16', '10.2.0.0/20', { spec: { loadBalancer: { pool: 'lb' } } })),
      /spec\.loadBalancer.*only on-prem clusters get a LoadBalancer block/,
    );
  });

  it('blockPrefixLength on a pool that is not for LoadBalancer (schema)', () => {
    assert.throws(
      () =>
        declared({ ...pool('x', 'ClusterSetIPs', ['10.9.0.0/24']), spec: { use: 'ClusterSetIPs', cidrs: ['10.9.0.0/24'], blockPrefixLength: { ipv4: 28 } } }),
      /blockPrefixLength.*only LoadBalancer pools/,
    );
  });

  it('deleting a LoadBalancer pool a cluster draws from is refused', async () => {
    await registry.apply(declared(onpremCluster('a', { pool: 'lb' })), admin);
    const before = await dump(store);
    await assert.rejects(registry.delete({ kind: 'IPPool', name: 'lb' }, admin), /references IPPool "lb", which does not exist/);
    assert.equal(await dump(store), before);
  });

  it('an observed overlap that is already there does not freeze unrelated edits of the cluster', async () => {
    await registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/20', { provider: 'onprem', network: 'fra' })), admin);
    await registry.updateStatus({ kind: 'Network', name: 'ams' }, (n) => ({ ...n.status, observedPrefixes: ['10.1.0.0/16'] }));
    await registry.apply(declared(cluster('a', '10.1.0.0/16', '10.2.0.0/20', { provider: 'onprem', network: 'fra', labels: { team: 'x' } })), admin);
    // A new overlap with the observed range is refused all the same.
    await refused(
      [cluster('b', '10.1.128.0/17', '10.3.0.0/20', { provider: 'onprem', network: 'fra', spec: { clusterSet: 'other' } })],
      'spec.podCIDRs[0]',
      /observed prefix status\.observedPrefixes\[0\] 10\.1\.0\.0\/16/,
      'b',
    );
    const a = (await registry.get({ kind: 'Cluster', name: 'a' })) as ClusterResource;
    assert.deepEqual(a.metadata.labels, { team: 'x' });
  });

  it('keeps the head and objects untouched after every refusal above (sanity)', async () => {
    const { kvs } = await store.range(OBJECTS_PREFIX);
    assert.equal(kvs.length, 6);
    assert.ok((await store.get(HEAD_KEY)) !== undefined);
  });
});
