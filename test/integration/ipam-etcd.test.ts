// Global IPAM on a real etcd, as two hub replicas run it: two Registry instances, each on its own
// etcd client, allocating cluster CIDRs and LoadBalancer blocks for many clusters at the same
// moment. Every allocation happens inside the registry's serialised write transaction, so no two
// blocks may overlap, releases go through quarantine, and an exhausted pool writes nothing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { parseCidr } from 'cidr-tools';
import { InvalidInputError } from '../../controlplane/api/errors.ts';
import type { Resource } from '../../controlplane/api/resources.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, network, pool } from '../fixtures/resources.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';

const admin = { name: 'alice', role: 'admin' };

function onprem(name: string): Record<string, unknown> {
  return cluster(name, undefined, undefined, {
    provider: 'onprem',
    network: 'fra',
    spec: { ipam: { pool: 'cidrs', podPrefixLength: 20, servicePrefixLength: 24 }, loadBalancer: { pool: 'lb' } },
  });
}

function base(lbCidrs: string[]): Record<string, unknown>[] {
  const lb = pool('lb', 'LoadBalancer', lbCidrs);
  return [
    network('fra', 'onprem', { prefixes: ['10.32.0.0/12'] }),
    pool('cidrs', 'ClusterCIDRs', ['10.64.0.0/12', 'fd00:64::/48']),
    { ...lb, spec: { ...(lb.spec as object), network: 'fra', blockPrefixLength: { ipv4: 28, ipv6: 124 } } },
  ];
}

/** Every block any cluster holds, with its holder. */
function blocks(items: readonly Resource[]): { holder: string; cidr: string }[] {
  const out: { holder: string; cidr: string }[] = [];
  for (const r of items) {
    if (r.kind !== 'Cluster') continue;
    const a = (r.status?.allocated ?? {}) as { podCIDRs?: string[]; serviceCIDRs?: string[]; loadBalancerCIDRs?: string[] };
    for (const cidr of [...(a.podCIDRs ?? []), ...(a.serviceCIDRs ?? []), ...(a.loadBalancerCIDRs ?? [])]) out.push({ holder: r.metadata.name, cidr });
  }
  return out;
}

function overlapping(list: readonly { holder: string; cidr: string }[]): string[] {
  const parsed = list
    .map((b) => ({ ...b, p: parseCidr(b.cidr) }))
    .sort((a, b) => a.p.version - b.p.version || (a.p.start < b.p.start ? -1 : a.p.start > b.p.start ? 1 : 0));
  const bad: string[] = [];
  for (let i = 1; i < parsed.length; i++) {
    const prev = parsed[i - 1];
    const cur = parsed[i];
    if (prev !== undefined && cur !== undefined && prev.p.version === cur.p.version && cur.p.start <= prev.p.end)
      bad.push(`${prev.holder} ${prev.cidr} / ${cur.holder} ${cur.cidr}`);
  }
  return bad;
}

describe('global IPAM on a real etcd: two hub replicas allocating at once', () => {
  let etcd: TestEtcd;
  let namespace: string;
  const stores: EtcdStore[] = [];
  const replica = (): Registry => {
    const s = new EtcdStore({ endpoints: [etcd.url], namespace });
    stores.push(s);
    return new Registry(s, { blockQuarantineMs: 60 * 60_000 });
  };

  before(async () => {
    etcd = await startTestEtcd();
  });
  beforeEach(() => {
    namespace = `/t-${randomUUID()}`;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('hands out no overlapping block among 40 clusters registered in parallel through two replicas, and quarantines what deletes release', async () => {
    const [a, b] = [replica(), replica()];
    await a.apply(declared(...base(['10.40.0.0/22', 'fd00:40::/112'])), admin);
    const names = Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((n, i) => (i % 2 === 0 ? a : b).apply(declared(onprem(n)), admin)));

    const { items } = await b.list('Cluster');
    assert.equal(items.length, 40);
    const held = blocks(items);
    // pod + service + LB, each IPv4 and IPv6 (LB pool and ClusterCIDRs pool are dual-stack).
    assert.equal(held.length, 40 * 6);
    assert.deepEqual(overlapping(held), []);

    // Half are deleted at once, through both replicas: their blocks go into quarantine.
    const gone = names.slice(0, 20);
    await Promise.all(gone.map((n, i) => (i % 2 === 0 ? b : a).delete({ kind: 'Cluster', name: n }, admin)));
    const releases = await a.blockReleases();
    assert.equal(releases.length, 20 * 6);
    assert.deepEqual(new Set(releases.map((r) => r.cluster)), new Set(gone));

    // New clusters registered at once get none of the quarantined blocks, and none overlaps another.
    const fresh = Array.from({ length: 20 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    await Promise.all(fresh.map((n, i) => (i % 2 === 0 ? a : b).apply(declared(onprem(n)), admin)));
    const after = blocks((await a.list('Cluster')).items);
    assert.deepEqual(overlapping([...after, ...releases.map((r) => ({ holder: `released:${r.cluster}`, cidr: r.cidr }))]), []);
  });

  it('refuses a cluster from an exhausted pool with a clear error naming the pool, writing nothing', async () => {
    const [a, b] = [replica(), replica()];
    // Four /28 blocks: four of the six clusters get one, whichever replica they came through.
    await a.apply(declared(...base(['10.40.0.0/26'])), admin);
    const names = Array.from({ length: 6 }, (_, i) => `c${i}`);
    const results = await Promise.allSettled(names.map((n, i) => (i % 2 === 0 ? a : b).apply(declared(onprem(n)), admin)));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(refused.length, 2);
    for (const r of refused) {
      assert.ok(r.reason instanceof InvalidInputError);
      const p = r.reason.problems[0];
      assert.ok(p !== undefined);
      assert.equal(p.field, 'spec.loadBalancer.pool');
      assert.match(p.message, /IPPool "lb" \(10\.40\.0\.0\/26\) has no free IPv4 \/28 block left for Cluster "c\d" \(4 block\(s\) held by other clusters/);
    }
    const { items } = await b.list('Cluster');
    assert.equal(items.length, 4);
    assert.deepEqual(overlapping(blocks(items)), []);
    // Nothing of a refused cluster was written: no object and no history record.
    assert.equal((await b.history()).length, 1 + 4);
  });
});
