// Clusterset VIPs: the pure decisions (vipAction, planVip) table-driven, and the VipStore port on the
// in-memory store fake (MemoryStore): first free address, stable reuse, release quarantine,
// exhaustion, pool changes, stale caches and concurrent allocators.
import assert from 'node:assert/strict';
import { UnavailableError } from '../../controlplane/api/errors.ts';
import { VIPS_PREFIX, vipClaimKey } from '../../controlplane/api/keys.ts';
import type { IPPoolResource } from '../../controlplane/api/resources.ts';
import { planVip, PoolExhaustedError, usableRange, vipAction, vipMap, type VipAssignment, type VipClaim } from '../../controlplane/ipam/vips.ts';
import { VipStore } from '../../controlplane/registry/vip-store.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';

function pool(name: string, cidrs: string[], use: IPPoolResource['spec']['use'] = 'ClusterSetIPs'): IPPoolResource {
  return { apiVersion: 'causeway.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec: { use, cidrs } };
}

const svc = (name: string, namespace = 'inference'): { namespace: string; name: string } => ({ namespace, name });
const T0 = new Date('2026-01-01T00:00:00Z');
const later = (ms: number): Date => new Date(T0.getTime() + ms);
const MINUTE = 60_000;

describe('VipStore (on the in-memory store fake)', () => {
  let store: MemoryStore;
  let vips: VipStore;
  const pools = [pool('vips', ['10.96.0.0/29'])];
  beforeEach(() => {
    store = new MemoryStore();
    vips = new VipStore(store);
  });

  it('skips the network and broadcast addresses of IPv4 blocks, and the anycast address of IPv6 ones', () => {
    assert.deepEqual(usableRange('10.96.0.0/29'), { first: 0x0a600001n, last: 0x0a600006n, version: 4 });
    assert.deepEqual(usableRange('10.96.0.8/31'), { first: 0x0a600008n, last: 0x0a600009n, version: 4 });
    assert.deepEqual(usableRange('10.96.0.9/32'), { first: 0x0a600009n, last: 0x0a600009n, version: 4 });
    const v6 = usableRange('fd00::/126');
    assert.equal(v6.last - v6.first, 2n);
  });

  it('hands out the first free address and keeps it for the service', async () => {
    const a = await vips.ensure(svc('a'), pools, T0);
    const b = await vips.ensure(svc('b'), pools, T0);
    assert.deepEqual([a.ip, a.pool, b.ip], ['10.96.0.1', 'vips', '10.96.0.2']);
    assert.deepEqual(await vips.ensure(svc('a'), pools, later(5 * MINUTE)), a);
    // A second allocator (another hub replica) sees the same assignment.
    assert.deepEqual(await new VipStore(store).ensure(svc('a'), pools, T0), a);
    assert.deepEqual(
      vipMap(await vips.list()),
      new Map([
        ['inference/a', '10.96.0.1'],
        ['inference/b', '10.96.0.2'],
      ]),
    );
    assert.deepEqual(await vips.listClaims(), [
      { ip: '10.96.0.1', service: 'inference/a' },
      { ip: '10.96.0.2', service: 'inference/b' },
    ]);
  });

  it('uses only ClusterSetIPs pools, in name order', async () => {
    const mixed = [pool('z-vips', ['10.97.0.0/30']), pool('lb', ['10.98.0.0/30'], 'LoadBalancer'), pool('a-vips', ['10.96.0.0/30'])];
    assert.equal((await vips.ensure(svc('a'), mixed, T0)).ip, '10.96.0.1');
    assert.equal((await vips.ensure(svc('b'), mixed, T0)).ip, '10.96.0.2');
    assert.deepEqual(await vips.ensure(svc('c'), mixed, T0), {
      namespace: 'inference',
      name: 'c',
      ip: '10.97.0.1',
      pool: 'z-vips',
      allocatedAt: T0.toISOString(),
    });
  });

  it('allocates IPv6 VIPs', async () => {
    assert.equal((await vips.ensure(svc('a'), [pool('v6', ['fd00:96::/120'])], T0)).ip, 'fd00:96::1');
  });

  it('holds a released address in quarantine before another service may have it', async () => {
    const a = await vips.ensure(svc('a'), pools, T0);
    assert.deepEqual(await vips.release(svc('a'), later(MINUTE)), a);
    assert.equal(await vips.release(svc('a'), later(MINUTE)), undefined);
    assert.deepEqual(await vips.listClaims(), [{ ip: '10.96.0.1', service: 'inference/a', releasedAt: later(MINUTE).toISOString() }]);
    assert.deepEqual(await vips.list(), []);
    // Inside the 10-minute quarantine: the next address.
    assert.equal((await vips.ensure(svc('b'), pools, later(10 * MINUTE))).ip, '10.96.0.2');
    // Exactly when it ends: reusable.
    assert.equal((await vips.ensure(svc('c'), pools, later(11 * MINUTE))).ip, '10.96.0.1');
    assert.deepEqual(await vips.listClaims(), [
      { ip: '10.96.0.1', service: 'inference/c' },
      { ip: '10.96.0.2', service: 'inference/b' },
    ]);
  });

  it('gives a service its own released address back even inside the quarantine', async () => {
    await vips.ensure(svc('a'), pools, T0);
    await vips.ensure(svc('b'), pools, T0);
    await vips.release(svc('a'), later(MINUTE));
    assert.equal((await vips.ensure(svc('a'), pools, later(2 * MINUTE))).ip, '10.96.0.1');
  });

  it('honours a configured quarantine', async () => {
    const short = new VipStore(store, { quarantineMs: 1000 });
    await short.ensure(svc('a'), pools, T0);
    await short.release(svc('a'), T0);
    assert.equal((await short.ensure(svc('b'), pools, later(999))).ip, '10.96.0.2');
    assert.equal((await short.ensure(svc('c'), pools, later(1000))).ip, '10.96.0.1');
  });

  it('says when the pools are exhausted, and when quarantined addresses come back', async () => {
    const tiny = [pool('tiny', ['10.96.0.0/30'])];
    await vips.ensure(svc('a'), tiny, T0);
    await vips.ensure(svc('b'), tiny, T0);
    await vips.release(svc('b'), T0);
    await assert.rejects(vips.ensure(svc('c'), tiny, later(MINUTE)), (err: unknown) => {
      assert.ok(err instanceof PoolExhaustedError);
      assert.match(
        err.message,
        /inference\/c: IPPool "tiny" \(10\.96\.0\.0\/30\) exhausted \(1 address\(es\) held, 1 in release quarantine; the first quarantined address is free again at 2026-01-01T00:10:00\.000Z\)/,
      );
      return true;
    });
    await assert.rejects(vips.ensure(svc('c'), [], T0), PoolExhaustedError);
    const keys = (await store.range(VIPS_PREFIX)).kvs.map((kv) => kv.key);
    assert.deepEqual(keys, ['/causeway/v1/vips/inference/a']);
  });

  it('moves a VIP that a shrunk pool no longer contains, quarantining the old address', async () => {
    const wide = [pool('vips', ['10.96.0.0/29', '10.97.0.0/30'])];
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) await vips.ensure(svc(n), wide, T0);
    assert.equal((await vips.ensure(svc('g'), wide, T0)).ip, '10.97.0.1');
    await vips.release(svc('a'), T0);
    const moved = await vips.ensure(svc('g'), [pool('vips', ['10.96.0.0/29'])], later(20 * MINUTE));
    assert.equal(moved.ip, '10.96.0.1');
    const claims = await vips.listClaims();
    assert.deepEqual(
      claims.find((c) => c.ip === '10.97.0.1'),
      { ip: '10.97.0.1', service: 'inference/g', releasedAt: later(20 * MINUTE).toISOString() },
    );
    assert.deepEqual(
      claims.find((c) => c.ip === '10.96.0.1'),
      { ip: '10.96.0.1', service: 'inference/g' },
    );
  });

  it('retries when its view of the claims is stale, never taking an address another replica holds', async () => {
    const replica = new VipStore(store);
    assert.equal((await vips.ensure(svc('a'), pools, T0)).ip, '10.96.0.1');
    // The other replica claims .2 behind this allocator's back; this one's cache still says .2 is free.
    assert.equal((await replica.ensure(svc('b'), pools, T0)).ip, '10.96.0.2');
    assert.equal((await vips.ensure(svc('c'), pools, T0)).ip, '10.96.0.3');
    // Both replicas ensuring one new service agree on its address.
    const [x, y] = await Promise.all([vips.ensure(svc('d'), pools, T0), replica.ensure(svc('d'), pools, T0)]);
    assert.deepEqual(x, y);
  });

  it('writes nothing when the store fails, and says so', async () => {
    store.failNext('txn');
    await assert.rejects(vips.ensure(svc('a'), pools, T0), UnavailableError);
    assert.deepEqual(await vips.list(), []);
    assert.equal(await store.get(vipClaimKey('10.96.0.1')), undefined);
    assert.equal((await vips.ensure(svc('a'), pools, T0)).ip, '10.96.0.1');
  });

  it('never hands one address to two services when two allocators race for 100 services', async () => {
    const big = [pool('vips', ['10.96.0.0/24'])];
    const a = new VipStore(store);
    const b = new VipStore(store);
    const names = Array.from({ length: 100 }, (_, i) => `s${i}`);
    const results = await Promise.all([...names.map((n) => a.ensure(svc(n), big, T0)), ...[...names].reverse().map((n) => b.ensure(svc(n), big, T0))]);
    const byService = new Map<string, string>();
    for (const r of results) {
      const seen = byService.get(r.name);
      if (seen !== undefined) assert.equal(r.ip, seen, `${r.name} got two addresses`);
      byService.set(r.name, r.ip);
    }
    const claims = await a.listClaims();
    assert.equal(claims.length, 100);
    assert.equal(new Set(claims.map((c) => c.ip)).size, 100);
    assert.deepEqual(new Map(claims.map((c) => [c.service.slice('inference/'.length), c.ip])), byService);
    assert.deepEqual(vipMap(await a.list()), new Map([...byService].map(([n, ip]) => [`inference/${n}`, ip])));
  });
});

describe('VIP decisions (pure: vipAction, planVip)', () => {
  const pools = [pool('vips', ['10.96.0.0/29'])];
  const claim = (ip: string, service: string, releasedAt?: Date): VipClaim => ({
    ip,
    service,
    ...(releasedAt !== undefined ? { releasedAt: releasedAt.toISOString() } : {}),
  });
  const assignment = (ip: string, name = 'a'): VipAssignment => ({ namespace: 'inference', name, ip, pool: 'vips', allocatedAt: T0.toISOString() });

  const actions: [string, boolean, string | undefined, IPPoolResource[], ReturnType<typeof vipAction>][] = [
    ['a ClusterSetIP service without a VIP is ensured', true, undefined, pools, 'ensure'],
    ['a known VIP inside the pools needs no round trip', true, '10.96.0.1', pools, 'none'],
    ['a known VIP outside every pool is ensured (moved)', true, '10.97.0.1', pools, 'ensure'],
    ['with no ClusterSetIPs pool nothing can be done', true, undefined, [pool('lb', ['10.98.0.0/30'], 'LoadBalancer')], 'none'],
    ['a service gone (or Headless) with a VIP releases it', false, '10.96.0.1', pools, 'release'],
    ['a service gone without a VIP needs nothing', false, undefined, pools, 'none'],
  ];
  for (const [name, wanted, known, p, action] of actions) {
    it(name, () => {
      assert.equal(vipAction(wanted, known, p), action);
    });
  }

  const plans: [string, Parameters<typeof planVip>[0], string][] = [
    [
      'keeps an assignment inside the pools',
      { service: svc('a'), pools, current: assignment('10.96.0.5'), claims: new Map(), now: T0, quarantineMs: MINUTE },
      'keep 10.96.0.5',
    ],
    [
      'keeps an assignment when no pool exists to judge it',
      { service: svc('a'), pools: [], current: assignment('10.97.0.5'), claims: new Map(), now: T0, quarantineMs: MINUTE },
      'keep 10.97.0.5',
    ],
    [
      'takes the first unclaimed address',
      { service: svc('a'), pools, current: undefined, claims: new Map([['10.96.0.1', claim('10.96.0.1', 'inference/x')]]), now: T0, quarantineMs: MINUTE },
      'assign 10.96.0.2',
    ],
    [
      'skips an address in quarantine, takes it once the quarantine passed',
      {
        service: svc('a'),
        pools,
        current: undefined,
        claims: new Map([['10.96.0.1', claim('10.96.0.1', 'inference/x', T0)]]),
        now: later(MINUTE - 1),
        quarantineMs: MINUTE,
      },
      'assign 10.96.0.2',
    ],
    [
      'reuses an address whose quarantine passed',
      {
        service: svc('a'),
        pools,
        current: undefined,
        claims: new Map([['10.96.0.1', claim('10.96.0.1', 'inference/x', T0)]]),
        now: later(MINUTE),
        quarantineMs: MINUTE,
      },
      'assign 10.96.0.1',
    ],
    [
      'gives a service its own released address back inside the quarantine',
      {
        service: svc('a'),
        pools,
        current: undefined,
        claims: new Map([['10.96.0.3', claim('10.96.0.3', 'inference/a', T0)]]),
        now: later(1),
        quarantineMs: MINUTE,
      },
      'assign 10.96.0.3',
    ],
    [
      'moves an assignment a shrunk pool no longer holds, releasing the old address',
      {
        service: svc('a'),
        pools,
        current: assignment('10.97.0.1'),
        claims: new Map([['10.97.0.1', claim('10.97.0.1', 'inference/a')]]),
        now: T0,
        quarantineMs: MINUTE,
      },
      'assign 10.96.0.1 moved 10.97.0.1',
    ],
    ['refuses when no pool exists', { service: svc('a'), pools: [], current: undefined, claims: new Map(), now: T0, quarantineMs: MINUTE }, 'exhausted'],
    [
      'refuses when every address is held',
      {
        service: svc('a'),
        pools: [pool('tiny', ['10.96.0.0/30'])],
        current: undefined,
        claims: new Map([
          ['10.96.0.1', claim('10.96.0.1', 'inference/x')],
          ['10.96.0.2', claim('10.96.0.2', 'inference/y')],
        ]),
        now: T0,
        quarantineMs: MINUTE,
      },
      'exhausted',
    ],
  ];
  for (const [name, observed, expected] of plans) {
    it(`planVip ${name}`, () => {
      const p = planVip(observed);
      const shown =
        p.kind === 'keep'
          ? `keep ${p.assignment.ip}`
          : p.kind === 'assign'
            ? `assign ${p.assignment.ip}${p.moved !== undefined ? ` moved ${p.moved}` : ''}`
            : 'exhausted';
      assert.equal(shown, expected);
      if (p.kind === 'exhausted') assert.ok(p.error instanceof PoolExhaustedError);
      if (p.kind === 'assign')
        assert.deepEqual([p.assignment.namespace, p.assignment.name, p.assignment.allocatedAt], ['inference', 'a', observed.now.toISOString()]);
    });
  }
});
