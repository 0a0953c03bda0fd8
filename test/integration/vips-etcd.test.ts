// Clusterset VIP allocation on a real etcd: each test in its own key namespace. The race test
// runs two allocators on two separate etcd clients, as two hub replicas would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IPPoolResource } from '../../controlplane/api/resources.ts';
import { PoolExhaustedError, vipMap } from '../../controlplane/ipam/vips.ts';
import { VipStore } from '../../controlplane/registry/vip-store.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';

function pool(name: string, cidrs: string[]): IPPoolResource {
  return { apiVersion: 'causeway.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec: { use: 'ClusterSetIPs', cidrs } };
}

const svc = (name: string): { namespace: string; name: string } => ({ namespace: 'inference', name });
const T0 = new Date('2026-01-01T00:00:00Z');
const later = (ms: number): Date => new Date(T0.getTime() + ms);
const MINUTE = 60_000;

describe('VipStore on a real etcd', () => {
  let etcd: TestEtcd;
  let namespace: string;
  const stores: EtcdStore[] = [];
  const client = (): EtcdStore => {
    const s = new EtcdStore({ endpoints: [etcd.url], namespace });
    stores.push(s);
    return s;
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

  it("reuses a service's address and respects the release quarantine", async () => {
    const vips = new VipStore(client());
    const pools = [pool('vips', ['10.96.0.0/29'])];
    const a = await vips.ensure(svc('a'), pools, T0);
    assert.equal(a.ip, '10.96.0.1');
    assert.deepEqual(await new VipStore(client()).ensure(svc('a'), pools, later(MINUTE)), a);
    await vips.release(svc('a'), later(MINUTE));
    assert.equal((await vips.ensure(svc('b'), pools, later(5 * MINUTE))).ip, '10.96.0.2');
    assert.equal((await vips.ensure(svc('c'), pools, later(11 * MINUTE))).ip, '10.96.0.1');
    assert.deepEqual(
      vipMap(await vips.list()),
      new Map([
        ['inference/b', '10.96.0.2'],
        ['inference/c', '10.96.0.1'],
      ]),
    );
  });

  it('refuses with PoolExhaustedError when every address is held, writing nothing', async () => {
    const vips = new VipStore(client());
    const tiny = [pool('tiny', ['10.96.0.4/31'])];
    await vips.ensure(svc('a'), tiny, T0);
    await vips.ensure(svc('b'), tiny, T0);
    await assert.rejects(vips.ensure(svc('c'), tiny, T0), PoolExhaustedError);
    assert.deepEqual(
      (await vips.list()).map((v) => v.name),
      ['a', 'b'],
    );
    assert.equal((await vips.listClaims()).length, 2);
  });

  it('never hands one address to two services when two replicas race for 100 services', async () => {
    const pools = [pool('vips', ['10.96.0.0/24'])];
    const a = new VipStore(client());
    const b = new VipStore(client());
    const names = Array.from({ length: 100 }, (_, i) => `s${i}`);
    // Interleaved so that both replicas contend for the same addresses and the same services.
    const results = await Promise.all([...names.map((n) => a.ensure(svc(n), pools, T0)), ...[...names].reverse().map((n) => b.ensure(svc(n), pools, T0))]);
    const byService = new Map<string, string>();
    for (const r of results) {
      const seen = byService.get(r.name);
      if (seen !== undefined) assert.equal(r.ip, seen, `${r.name} was given two addresses`);
      byService.set(r.name, r.ip);
    }
    const claims = await new VipStore(client()).listClaims();
    assert.equal(claims.length, 100);
    assert.equal(new Set(claims.map((c) => c.ip)).size, 100, 'an address is claimed twice');
    assert.ok(claims.every((c) => c.releasedAt === undefined));
    assert.deepEqual(new Map(claims.map((c) => [c.service.slice('inference/'.length), c.ip])), byService);
    assert.deepEqual(vipMap(await a.list()), new Map([...byService].map(([n, ip]) => [`inference/${n}`, ip])));
    // 100 addresses, the first 100 of the pool: racing wasted none.
    assert.deepEqual(
      [...byService.values()].sort((x, y) => Number(x.split('.')[3]) - Number(y.split('.')[3])),
      names.map((_, i) => `10.96.0.${i + 1}`),
    );
  });
});
