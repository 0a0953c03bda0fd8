// The on-prem provider adapter (providers/onprem) against a REAL gobgpd driven through its gRPC API
// and a REAL BIRD 2 peer standing for the site's fabric router. Tests assert what BIRD's table holds
// (and, for what must never reach the fabric, what gobgpd's RIB holds); the one count of calls is
// the idempotence check the issue asks for. Servers are shared per describe, and the tests that drop
// the BGP session run last (gobgpd refuses reconnects for 5 s after a drop).
import assert from 'node:assert/strict';
import { freePort } from '../../controlplane/embedded/child-server.ts';
import { FixedIntentSource } from '../../providers/model/intents.ts';
import type { NetworkModel, Prefix } from '../../providers/model/model.ts';
import type { DomainReconcileResult } from '../../providers/model/reconcile.ts';
import { buildModel } from '../../providers/model/translate.ts';
import type { BgpPath } from '../../providers/onprem/gobgp-api.ts';
import { GrpcGobgpApi } from '../../providers/onprem/gobgp-grpc.ts';
import type { PeerStatus } from '../../providers/onprem/onprem-adapter.ts';
import { onpremAdapter } from '../../providers/onprem/onprem-factory.ts';
import { JOURNEY3_SERVICES } from '../fixtures/providers/journey3-services.ts';
import { BATCH_IPV6, BATCH_PREFIXES, ONPREM_ANNOUNCED, ONPREM_COMMUNITIES, ONPREM_NEXT_HOP, onpremJourney3 } from '../fixtures/providers/onprem-journey3.ts';
import { startBird, startGobgpd, type BirdRoute, type TestBird, type TestGobgpd } from '../harness/bgp.ts';
import { waitFor } from '../harness/wait.ts';

const DOMAIN = 'onprem-fra';
const signal = new AbortController().signal;

const fromCauseway = (routes: readonly BirdRoute[]): BirdRoute[] => routes.filter((r) => r.protocol === 'causeway');
const prefixes = (routes: readonly BirdRoute[]): string[] => routes.map((r) => r.prefix).sort();
const peersOf = (r: DomainReconcileResult): readonly PeerStatus[] => (r.status?.bgp as { peers: readonly PeerStatus[] }).peers;
const degraded = (r: DomainReconcileResult) => r.conditions.find((c) => c.type === 'Degraded');

describe('on-prem adapter: real gobgpd announcing to a real BIRD 2 peer', function () {
  this.timeout(60_000);
  let gobgpd: TestGobgpd;
  let bird: TestBird;
  let outside: GrpcGobgpApi;
  let intents: FixedIntentSource;
  let factory: ReturnType<typeof onpremAdapter>;
  const model = (opts: { batch?: boolean } = {}): NetworkModel => buildModel(onpremJourney3({ address: '127.0.0.1', asn: bird.asn, port: bird.port }, opts));
  const reconcile = (options: { dryRun?: boolean } = {}): Promise<DomainReconcileResult> => factory.adapter.reconcile(DOMAIN, signal, options);
  const birdHas = (want: readonly string[]) =>
    waitFor(`BIRD to hold exactly ${want.join(', ')} from gobgpd`, async () => {
      const got = fromCauseway(await bird.routes());
      return prefixes(got).join(',') === [...want].sort().join(',') ? got : undefined;
    });
  const established = () =>
    waitFor(
      'the BGP session to BIRD to show established in the result',
      async () => {
        const r = await reconcile();
        return peersOf(r)[0]?.state === 'established' ? r : undefined;
      },
      20_000,
    );

  before(async () => {
    gobgpd = await startGobgpd();
    bird = await startBird({ neighborPort: gobgpd.bgpPort, neighborAsn: 64512 });
    outside = new GrpcGobgpApi({ address: gobgpd.apiAddress });
    intents = new FixedIntentSource({ model: model(), services: JOURNEY3_SERVICES });
    factory = onpremAdapter({ gobgpFor: () => gobgpd.apiAddress, intents, connectRetrySeconds: 1 });
  });
  after(async () => {
    factory.close();
    outside.close();
    await bird.close();
    await gobgpd.close();
  });

  it('adds the peer and announces the journey-3 prefixes (pods, LoadBalancer block, VIP pool) to BIRD with the next hop and communities', async () => {
    const first = await reconcile();
    assert.equal(degraded(first)?.reason === 'ProviderUnavailable', false, JSON.stringify(first.conditions));
    assert.deepEqual(
      first.changes
        .filter((c) => c.kind === 'announce')
        .map((c) => c.what)
        .sort(),
      [...ONPREM_ANNOUNCED].sort(),
    );
    assert.ok(first.changes.every((c) => c.outcome === 'done'));

    const routes = await birdHas(ONPREM_ANNOUNCED);
    for (const r of routes) {
      assert.deepEqual([...r.communities].sort(), [...ONPREM_COMMUNITIES].sort(), `${r.prefix} communities`);
      assert.equal(r.asPath, '64512', `${r.prefix} AS path`);
      assert.equal(r.nextHop, ONPREM_NEXT_HOP, `${r.prefix} next hop`);
    }
    // BIRD's own routes are there, untouched.
    const own = (await bird.routes()).filter((r) => r.protocol.startsWith('own'));
    assert.deepEqual(prefixes(own), [...bird.ownRoutes].sort());

    const r = await established();
    const peer = peersOf(r)[0];
    assert.equal(peer?.address, '127.0.0.1');
    assert.equal(peer.asn, bird.asn);
    assert.equal(peer.managed, true);
    assert.ok(peer.uptime !== undefined && !Number.isNaN(Date.parse(peer.uptime)), 'uptime');
    assert.equal(degraded(r)?.status, 'False', JSON.stringify(r.conditions));
  });

  it('a second reconcile makes zero mutating calls and changes nothing', async () => {
    const r = await reconcile();
    assert.equal(r.mutatingCalls, 0);
    assert.deepEqual(r.changes, []);
    assert.equal(r.unchanged.announcements, ONPREM_ANNOUNCED.length);
    assert.equal(r.calls, 3, 'GetBgp, ListPeer, ListPath');
    assert.equal(r.drift, 0);
  });

  it('dryRun reports what it would withdraw and changes nothing', async () => {
    intents.set({ model: model({ batch: false }), services: JOURNEY3_SERVICES });
    try {
      const r = await reconcile({ dryRun: true });
      assert.equal(r.dryRun, true);
      assert.equal(r.mutatingCalls, 0);
      assert.deepEqual(
        r.changes.map((c) => [c.kind, c.what, c.outcome]),
        BATCH_PREFIXES.map((p) => ['withdraw', p, 'would-succeed']),
      );
      await birdHas(ONPREM_ANNOUNCED);
    } finally {
      intents.set({ model: model(), services: JOURNEY3_SERVICES });
    }
  });

  it('a cluster removed from the inputs withdraws exactly its prefixes; BIRD keeps everything else', async () => {
    intents.set({ model: model({ batch: false }), services: JOURNEY3_SERVICES });
    const r = await reconcile();
    assert.deepEqual(r.changes.map((c) => [c.kind, c.what, c.outcome]).sort(), BATCH_PREFIXES.map((p) => ['withdraw', p, 'done']).sort());
    await birdHas(ONPREM_ANNOUNCED.filter((p) => !BATCH_PREFIXES.includes(p)));
    assert.deepEqual(prefixes((await bird.routes()).filter((x) => x.protocol.startsWith('own'))), [...bird.ownRoutes].sort());

    // Back again: announced, and not drift (the plan withdrew it, nobody else did).
    intents.set({ model: model(), services: JOURNEY3_SERVICES });
    const back = await reconcile();
    assert.deepEqual(back.changes.map((c) => c.what).sort(), [...BATCH_PREFIXES].sort());
    assert.equal(back.drift, 0);
    await birdHas(ONPREM_ANNOUNCED);
  });

  it('a path withdrawn behind Causeway’s back is announced again and counted as drift', async () => {
    const lb: BgpPath = { prefix: '10.40.0.0/24', family: 4, nextHop: ONPREM_NEXT_HOP, communities: [], largeCommunities: [], origin: 'igp' };
    await outside.deletePaths([lb], { signal });
    await birdHas(ONPREM_ANNOUNCED.filter((p) => p !== lb.prefix));
    const r = await reconcile();
    assert.equal(r.drift, 1);
    assert.deepEqual(
      r.changes.map((c) => [c.kind, c.what, c.drift]),
      [['announce', lb.prefix, true]],
    );
    await birdHas(ONPREM_ANNOUNCED);
  });

  it('a path gobgpd originates outside Causeway is left alone, and a planned prefix it already holds is reported, not replaced', async () => {
    const byHand: BgpPath[] = [
      { prefix: '10.99.0.0/24', family: 4, nextHop: '192.0.2.99', communities: [], largeCommunities: [], origin: 'igp' },
      { prefix: '10.41.0.0/24', family: 4, nextHop: '192.0.2.99', communities: [], largeCommunities: [], origin: 'igp' },
    ];
    await outside.addPaths(byHand, { signal });
    try {
      // A second LoadBalancer block the plan now wants, which gobgpd already originates by hand.
      const base = model();
      const extra: Prefix = { cidr: '10.41.0.0/24', family: 4, owner: { kind: 'pool', name: 'onprem-extra-vips' }, role: 'load-balancer', domain: DOMAIN };
      intents.set({ model: { ...base, prefixes: [...base.prefixes, extra] }, services: JOURNEY3_SERVICES });
      const r = await reconcile();
      assert.equal(r.mutatingCalls, 0, JSON.stringify(r.changes));
      assert.equal(degraded(r)?.reason, 'AnnouncementConflict');
      assert.match(degraded(r)?.message ?? '', /10\.41\.0\.0\/24 of pool onprem-extra-vips is already originated by this gobgpd outside Causeway/);
      const held = fromCauseway(await birdHas([...ONPREM_ANNOUNCED, '10.99.0.0/24', '10.41.0.0/24']));
      assert.equal(held.find((x) => x.prefix === '10.41.0.0/24')?.nextHop, '192.0.2.99', 'the hand-made path keeps its own next hop');
    } finally {
      intents.set({ model: model(), services: JOURNEY3_SERVICES });
      await outside.deletePaths(byHand, { signal });
    }
    await birdHas(ONPREM_ANNOUNCED);
  });

  it('a bad prefix in the plan never reaches gobgpd: refused with a condition naming the prefix and its owner', async () => {
    const base = model();
    const bad: Prefix[] = [
      { cidr: '10.256.0.0/24', family: 4, owner: { kind: 'pool', name: 'broken-octets' }, role: 'load-balancer', domain: DOMAIN },
      { cidr: '10.42.0.1/24', family: 4, owner: { kind: 'pool', name: 'host-bits' }, role: 'load-balancer', domain: DOMAIN },
      { cidr: '10.43.0.0/24', family: 6, owner: { kind: 'pool', name: 'wrong-family' }, role: 'load-balancer', domain: DOMAIN },
    ];
    intents.set({ model: { ...base, prefixes: [...base.prefixes, ...bad] }, services: JOURNEY3_SERVICES });
    try {
      const r = await reconcile();
      assert.equal(r.mutatingCalls, 0);
      const c = degraded(r);
      assert.equal(c?.status, 'True');
      assert.equal(c.reason, 'AnnouncementRefused');
      assert.match(c.message, /"10\.256\.0\.0\/24" of pool broken-octets: "10\.256\.0\.0" is not an IPv4 or IPv6 address/);
      assert.match(c.message, /"10\.42\.0\.1\/24" of pool host-bits: host bits are set: did you mean "10\.42\.0\.0\/24"\?/);
      assert.match(c.message, /"10\.43\.0\.0\/24" of pool wrong-family: an IPv4 prefix planned as IPv6/);
      const rib = await outside.listPaths({ signal });
      assert.deepEqual(rib.map((p) => p.prefix).sort(), [...ONPREM_ANNOUNCED].sort(), 'gobgpd holds exactly the valid announcements');
      await birdHas(ONPREM_ANNOUNCED);
    } finally {
      intents.set({ model: model(), services: JOURNEY3_SERVICES });
    }
  });

  it('gobgpd unreachable: Degraded ProviderUnavailable naming the address, retried', async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const f = onpremAdapter({ gobgpFor: () => nowhere, intents, deadlineMs: 2000 });
    try {
      const r = await f.adapter.reconcile(DOMAIN, signal);
      assert.equal(r.retry, true);
      assert.ok(r.requeueAfterMs <= 1000);
      assert.equal(degraded(r)?.reason, 'ProviderUnavailable');
      assert.ok(degraded(r)?.message.includes(`gobgpd ${nowhere}`), degraded(r)?.message);
      assert.equal(r.mutatingCalls, 0);
    } finally {
      f.close();
    }
  });

  it('after a gobgpd restart (RIB and neighbor gone) the next reconcile puts everything back, counted as drift', async () => {
    await gobgpd.restart();
    const r = await reconcile();
    assert.equal(r.drift, ONPREM_ANNOUNCED.length);
    assert.equal(r.retry, false);
    await birdHas(ONPREM_ANNOUNCED);
    await established();
  });

  it('a session that goes down (BIRD stopped) shows as not established with BgpSessionDown, and recovers', async () => {
    await bird.stop();
    const r = await waitFor('the session to show down', async () => {
      const x = await reconcile();
      return peersOf(x)[0]?.state !== 'established' ? x : undefined;
    });
    const c = degraded(r);
    assert.equal(c?.status, 'True');
    assert.equal(c.reason, 'BgpSessionDown');
    assert.match(c.message, /BGP session to 127\.0\.0\.1 \(AS 64600\) is (idle|active|connect)/);
    assert.ok(r.requeueAfterMs <= 10_000, 'requeued soon, so the status follows the session');
    assert.equal(r.mutatingCalls, 0, 'a session down is not a reason to touch the announcements');

    await bird.start();
    const up = await established();
    assert.equal(degraded(up)?.status, 'False');
    await birdHas(ONPREM_ANNOUNCED);
  });
});

describe('on-prem adapter: IPv6 announcements', function () {
  this.timeout(30_000);

  it('announces a dual-stack cluster’s IPv6 pod CIDR with the Network’s IPv6 next hop, and withdraws it', async () => {
    const gobgpd = await startGobgpd();
    const bird = await startBird({ neighborPort: gobgpd.bgpPort });
    const peer = { address: '127.0.0.1', asn: bird.asn, port: bird.port };
    const intents = new FixedIntentSource({ model: buildModel(onpremJourney3(peer, { ipv6NextHop: 'fd00::10' })), services: JOURNEY3_SERVICES });
    const f = onpremAdapter({ gobgpFor: () => gobgpd.apiAddress, intents, connectRetrySeconds: 1 });
    try {
      await f.adapter.reconcile(DOMAIN, signal);
      const routes = await waitFor('BIRD to hold the IPv6 pod CIDR and the IPv4 prefixes', async () => {
        const got = fromCauseway(await bird.routes());
        return got.length === ONPREM_ANNOUNCED.length + 1 ? got : undefined;
      });
      const v6 = routes.find((r) => r.prefix === BATCH_IPV6);
      assert.equal(v6?.table, 'master6');
      assert.equal(v6.nextHop, 'fd00::10');
      assert.deepEqual([...v6.communities].sort(), [...ONPREM_COMMUNITIES].sort());
      // The IPv4 prefixes go with gobgpd's own address on the session (the Network's next hop is IPv6).
      assert.ok(
        routes.filter((r) => r.table === 'master4').every((r) => r.nextHop === '127.0.0.1'),
        JSON.stringify(routes),
      );

      intents.set({ model: buildModel(onpremJourney3(peer, { ipv6NextHop: 'fd00::10', batch: false })), services: JOURNEY3_SERVICES });
      await f.adapter.reconcile(DOMAIN, signal);
      await waitFor('the IPv6 prefix to leave BIRD', async () => !(await bird.routes()).some((r) => r.prefix === BATCH_IPV6));
      assert.ok(
        (await bird.routes()).some((r) => r.prefix === '2001:db8:ffff::/48' && r.protocol === 'own6'),
        'BIRD’s own IPv6 route stays',
      );
    } finally {
      f.close();
      await bird.close();
      await gobgpd.close();
    }
  });
});

describe('on-prem adapter: gobgpd global config', function () {
  this.timeout(30_000);
  const birdPeer = { address: '127.0.0.1', asn: 64600, port: 1 };

  it('starts an unstarted gobgpd with the Network’s AS and its next hop as router id', async () => {
    const gobgpd = await startGobgpd({ global: false });
    const intents = new FixedIntentSource({ model: buildModel(onpremJourney3(birdPeer)), services: JOURNEY3_SERVICES });
    const f = onpremAdapter({ gobgpFor: () => gobgpd.apiAddress, intents });
    const api = new GrpcGobgpApi({ address: gobgpd.apiAddress });
    try {
      const dry = await f.adapter.reconcile(DOMAIN, signal, { dryRun: true });
      assert.equal(dry.mutatingCalls, 0);
      assert.equal((await api.getBgp({ signal })).asn, 0, 'dry run started nothing');
      const r = await f.adapter.reconcile(DOMAIN, signal);
      assert.equal(r.retry, false, JSON.stringify(r.conditions));
      assert.deepEqual(await api.getBgp({ signal }), { asn: 64512, routerId: ONPREM_NEXT_HOP, listenPort: -1 });
      assert.deepEqual((await api.listPaths({ signal })).map((p) => p.prefix).sort(), [...ONPREM_ANNOUNCED].sort());
    } finally {
      api.close();
      f.close();
      await gobgpd.close();
    }
  });

  it('a gobgpd running another AS: Degraded BgpAsnMismatch naming both, nothing announced', async () => {
    const gobgpd = await startGobgpd({ global: { asn: 65010, routerId: '192.0.2.77' } });
    const intents = new FixedIntentSource({ model: buildModel(onpremJourney3(birdPeer)), services: JOURNEY3_SERVICES });
    const f = onpremAdapter({ gobgpFor: () => gobgpd.apiAddress, intents });
    const api = new GrpcGobgpApi({ address: gobgpd.apiAddress });
    try {
      const r = await f.adapter.reconcile(DOMAIN, signal);
      assert.equal(degraded(r)?.reason, 'BgpAsnMismatch');
      assert.match(degraded(r)?.message ?? '', /runs AS 65010 .* has spec\.onprem\.asn 64512/);
      assert.equal(r.mutatingCalls, 0);
      assert.deepEqual(await api.listPaths({ signal }), []);
      assert.deepEqual(await api.listPeers({ signal }), []);
    } finally {
      api.close();
      f.close();
      await gobgpd.close();
    }
  });
});
