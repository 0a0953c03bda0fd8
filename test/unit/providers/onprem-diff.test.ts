// The on-prem adapter's pure decisions: announcement validation, ownership of gobgpd's paths, the
// announce/withdraw diff and the neighbor diff. Table-driven, no sockets.
import assert from 'node:assert/strict';
import type { Announcement } from '../../../providers/model/model.ts';
import type { BgpPeerInfo, ObservedBgpPath } from '../../../providers/onprem/gobgp-api.ts';
import { checkAnnouncement, diffAnnouncements, diffPeers, networkHash, nextHopFor, pathMarker } from '../../../providers/onprem/onprem-diff.ts';

const NET = 'onprem-fra';
const MARK = pathMarker(NET, 64512);

function ann(prefix: string, extra: Partial<Announcement> = {}): Announcement {
  return {
    domain: NET,
    prefix,
    family: prefix.includes(':') ? 6 : 4,
    nextHop: '192.0.2.10',
    communities: ['64512:100'],
    peers: [],
    links: [],
    toward: [],
    owner: { kind: 'cluster', name: 'onprem-inference' },
    role: 'pods',
    ...extra,
  };
}

function path(prefix: string, extra: Partial<ObservedBgpPath> = {}): ObservedBgpPath {
  const family = prefix.includes(':') ? 6 : 4;
  return {
    prefix,
    family,
    nextHop: family === 4 ? '192.0.2.10' : '::',
    communities: ['64512:100'],
    largeCommunities: [MARK],
    origin: 'igp',
    local: true,
    ...extra,
  };
}

describe('onprem-diff: checkAnnouncement refuses what gobgpd would mangle', () => {
  const cases: { name: string; a: Announcement; ok?: string; error?: RegExp }[] = [
    { name: 'a valid IPv4 prefix', a: ann('10.32.0.0/16'), ok: '10.32.0.0/16' },
    { name: 'a valid IPv6 prefix, normalised', a: ann('FD00:0036:0000::/48'), ok: 'fd00:36::/48' },
    {
      name: 'an octet above 255',
      a: ann('10.256.0.0/24'),
      error: /"10\.256\.0\.0\/24" of cluster onprem-inference: "10\.256\.0\.0" is not an IPv4 or IPv6 address/,
    },
    { name: 'host bits set', a: ann('10.32.0.1/16'), error: /host bits are set: did you mean "10\.32\.0\.0\/16"\?/ },
    { name: 'IPv4 planned as IPv6', a: ann('10.32.0.0/16', { family: 6 }), error: /an IPv4 prefix planned as IPv6/ },
    { name: 'IPv6 planned as IPv4', a: ann('fd00::/48', { family: 4 }), error: /an IPv6 prefix planned as IPv4/ },
    { name: 'prefix length above 32', a: ann('10.0.0.0/33'), error: /prefix length must be a whole number from 0 to 32/ },
    { name: 'prefix length above 128', a: ann('fd00::/129'), error: /from 0 to 128/ },
    { name: 'a default route', a: ann('0.0.0.0/0'), error: /a default route \(\/0\) is never announced/ },
    { name: 'no mask', a: ann('10.32.0.0'), error: /CIDR mask is missing/ },
    { name: 'a bad next hop', a: ann('10.32.0.0/16', { nextHop: '192.0.2.300' }), error: /next hop "192\.0\.2\.300" is not an IPv4 or IPv6 address/ },
    { name: 'a bad community', a: ann('10.32.0.0/16', { communities: ['64512:70000'] }), error: /community "64512:70000"/ },
    { name: 'the owner is a pool', a: ann('10.40.0.1/24', { owner: { kind: 'pool', name: 'lb' } }), error: /of pool lb: host bits/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = checkAnnouncement(c.a);
      if (c.ok !== undefined) assert.deepEqual(r, { ok: true, prefix: c.ok });
      else {
        assert.ok(!r.ok, 'refused');
        assert.match(r.message, c.error ?? /./);
        assert.match(r.message, /^Network "onprem-fra": announcement /);
      }
    });
  }
});

describe('onprem-diff: diffAnnouncements', () => {
  const cases: {
    name: string;
    want: Announcement[];
    have: ObservedBgpPath[];
    announce?: string[];
    replaces?: string[];
    withdraw?: string[];
    unchanged?: number;
    refused?: string[];
    conflicts?: string[];
  }[] = [
    { name: 'nothing there: announce everything', want: [ann('10.32.0.0/16'), ann('fd00:36::/48')], have: [], announce: ['10.32.0.0/16', 'fd00:36::/48'] },
    { name: 'all in place: nothing to do', want: [ann('10.32.0.0/16'), ann('fd00:36::/48')], have: [path('10.32.0.0/16'), path('fd00:36::/48')], unchanged: 2 },
    {
      name: 'a prefix no longer planned is withdrawn',
      want: [ann('10.32.0.0/16')],
      have: [path('10.32.0.0/16'), path('10.36.0.0/16')],
      withdraw: ['10.36.0.0/16'],
      unchanged: 1,
    },
    {
      name: 'a changed next hop or community re-announces (replace)',
      want: [ann('10.32.0.0/16'), ann('10.40.0.0/24')],
      have: [path('10.32.0.0/16', { nextHop: '192.0.2.11' }), path('10.40.0.0/24', { communities: [] })],
      announce: ['10.32.0.0/16', '10.40.0.0/24'],
      replaces: ['10.32.0.0/16', '10.40.0.0/24'],
    },
    {
      name: 'communities compare as a set',
      want: [ann('10.32.0.0/16', { communities: ['64512:2', '64512:1'] })],
      have: [path('10.32.0.0/16', { communities: ['64512:1', '64512:2'] })],
      unchanged: 1,
    },
    {
      name: 'paths without the marker, learned paths and another Network’s paths are never withdrawn',
      want: [],
      have: [
        path('10.99.0.0/24', { largeCommunities: [] }),
        path('10.98.0.0/24', { local: false }),
        path('10.97.0.0/24', { largeCommunities: [pathMarker('other-site', 64512)] }),
      ],
    },
    {
      name: 'a planned prefix held by hand is a conflict, not replaced',
      want: [ann('10.41.0.0/24', { owner: { kind: 'pool', name: 'extra' } })],
      have: [path('10.41.0.0/24', { largeCommunities: [] })],
      conflicts: ['10.41.0.0/24'],
    },
    {
      name: 'a path marked under another ASN is still this Network’s',
      want: [ann('10.32.0.0/16')],
      have: [path('10.32.0.0/16', { largeCommunities: [pathMarker(NET, 65000)] })],
      unchanged: 1,
    },
    {
      name: 'bad prefixes are refused, the rest goes on',
      want: [ann('10.256.0.0/24'), ann('10.32.0.0/16')],
      have: [],
      announce: ['10.32.0.0/16'],
      refused: ['10.256.0.0/24'],
    },
    {
      name: 'a prefix planned twice is announced once',
      want: [ann('10.32.0.0/16'), ann('10.32.0.0/16', { owner: { kind: 'pool', name: 'p' } })],
      have: [],
      announce: ['10.32.0.0/16'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = diffAnnouncements({ network: NET, asn: 64512, announcements: c.want, observed: c.have });
      assert.deepEqual(
        d.announce.map((a) => a.path.prefix),
        c.announce ?? [],
      );
      assert.deepEqual(
        d.announce.filter((a) => a.replaces).map((a) => a.path.prefix),
        c.replaces ?? [],
      );
      assert.deepEqual(
        d.withdraw.map((p) => p.prefix),
        c.withdraw ?? [],
      );
      assert.equal(d.unchanged, c.unchanged ?? 0);
      assert.deepEqual(
        d.refused.map((r) => r.prefix),
        c.refused ?? [],
      );
      assert.deepEqual(
        d.conflicts.map((r) => r.prefix),
        c.conflicts ?? [],
      );
      for (const a of d.announce) assert.deepEqual(a.path.largeCommunities, [MARK], 'every announcement carries the marker');
    });
  }

  it('the next hop follows the family: the Network’s when it matches, else gobgpd’s own', () => {
    assert.equal(nextHopFor(4, '192.0.2.10'), '192.0.2.10');
    assert.equal(nextHopFor(6, '192.0.2.10'), '::');
    assert.equal(nextHopFor(4, 'fd00::10'), '0.0.0.0');
    assert.equal(nextHopFor(6, 'fd00::10'), 'fd00::10');
    assert.equal(nextHopFor(4, undefined), '0.0.0.0');
  });

  it('the marker is stable (changing it orphans running gobgpds’ paths)', () => {
    assert.equal(networkHash('onprem-fra'), networkHash('onprem-fra'));
    assert.notEqual(networkHash('onprem-fra'), networkHash('onprem-ams'));
    assert.equal(pathMarker('onprem-fra', 64512), `64512:1129791833:${networkHash('onprem-fra')}`);
  });
});

describe('onprem-diff: diffPeers', () => {
  const peer = (address: string, asn: number, description: string, port = 179): BgpPeerInfo => ({
    address,
    asn,
    port,
    description,
    state: 'established',
    received: 0,
    accepted: 0,
    advertised: 0,
  });
  const ours = `causeway:${NET}`;
  const cases: {
    name: string;
    want: { address: string; asn: number; port?: number }[];
    have: BgpPeerInfo[];
    add?: string[];
    del?: string[];
    conflicts?: string[];
  }[] = [
    { name: 'a missing peer is added', want: [{ address: '192.0.2.1', asn: 64600 }], have: [], add: ['192.0.2.1'] },
    { name: 'a matching peer is left alone (port 179 = default)', want: [{ address: '192.0.2.1', asn: 64600 }], have: [peer('192.0.2.1', 64600, ours, 0)] },
    {
      name: 'our peer with another AS is replaced',
      want: [{ address: '192.0.2.1', asn: 64601 }],
      have: [peer('192.0.2.1', 64600, ours)],
      add: ['192.0.2.1'],
      del: ['192.0.2.1'],
    },
    { name: 'our peer no longer wanted is deleted', want: [], have: [peer('192.0.2.1', 64600, ours)], del: ['192.0.2.1'] },
    {
      name: 'a foreign peer not wanted is never deleted',
      want: [],
      have: [peer('192.0.2.1', 64600, 'core-router'), peer('192.0.2.2', 64600, 'causeway:other')],
    },
    { name: 'a foreign peer matching the Network is used as it is', want: [{ address: '192.0.2.1', asn: 64600 }], have: [peer('192.0.2.1', 64600, '')] },
    {
      name: 'a foreign peer that differs is a conflict',
      want: [{ address: '192.0.2.1', asn: 64600, port: 1790 }],
      have: [peer('192.0.2.1', 64600, 'core-router')],
      conflicts: ['192.0.2.1'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = diffPeers({ network: NET, peers: c.want, observed: c.have });
      assert.deepEqual(
        d.add.map((p) => p.address),
        c.add ?? [],
      );
      assert.deepEqual(d.delete, c.del ?? []);
      assert.deepEqual(
        d.conflicts.map((p) => p.address),
        c.conflicts ?? [],
      );
      for (const p of d.add) assert.equal(p.description, ours);
    });
  }
});
