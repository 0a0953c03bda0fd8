// Addresses that must never be handed to another cluster as an endpoint (issue 12 §3), and the
// ExternalService checks built on them.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkCidr, cidrContains, cidrMatcher, specialAddress } from '../../controlplane/api/cidr.ts';
import { MAX_EXTERNAL_ENDPOINTS } from '../../controlplane/api/resources.ts';
import { validateDocument } from '../../controlplane/api/validate.ts';

describe('special addresses', () => {
  const refused: [string, RegExp][] = [
    ['127.0.0.1', /loopback/],
    ['0.0.0.0', /unspecified/],
    ['169.254.169.254', /metadata/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fe80::1', /link-local/],
    ['ff02::1', /multicast/],
    ['::ffff:10.0.0.1', /IPv4-mapped/],
  ];
  for (const [ip, why] of refused) {
    it(`refuses ${ip}`, () => {
      assert.match(specialAddress(ip) ?? 'allowed', why);
    });
  }
  for (const ip of ['10.32.1.5', '192.168.1.1', '100.64.0.1', '8.8.8.8', 'fd00::7', '2001:db8::1']) {
    it(`allows ${ip}`, () => {
      assert.equal(specialAddress(ip), undefined);
    });
  }
});

describe('special addresses: the IPv4 fast path', () => {
  // The ranges as cidr-tools reads them: what the numeric fast path must agree with.
  const reference: [string, RegExp][] = [
    ['0.0.0.0/8', /unspecified/],
    ['127.0.0.0/8', /loopback/],
    ['169.254.0.0/16', /link-local/],
    ['224.0.0.0/4', /multicast/],
    ['240.0.0.0/4', /reserved/],
  ];
  const expected = (ip: string): RegExp | undefined => reference.find(([cidr]) => cidrContains(cidr, `${ip}/32`))?.[1];

  it('agrees with a containment check on every range edge and on random addresses', () => {
    const edges = ['0.0.0.0', '0.255.255.255', '1.0.0.0', '126.255.255.255', '127.0.0.0', '127.255.255.255', '128.0.0.0', '169.253.255.255', '169.254.0.0'];
    const more = ['169.254.255.255', '169.255.0.0', '223.255.255.255', '224.0.0.0', '239.255.255.255', '240.0.0.0', '255.255.255.255', '10.0.0.1'];
    for (const ip of [...edges, ...more]) {
      const want = expected(ip);
      const got = specialAddress(ip);
      if (want === undefined) assert.equal(got, undefined, ip);
      else assert.match(got ?? '', want, ip);
    }
    fc.assert(
      fc.property(fc.ipV4(), (ip) => (expected(ip) === undefined) === (specialAddress(ip) === undefined)),
      { numRuns: 2000 },
    );
  });
});

describe('ExternalService endpoints', () => {
  function externalService(endpoints: unknown[]): unknown {
    return {
      apiVersion: 'causeway.dev/v1alpha1',
      kind: 'ExternalService',
      metadata: { name: 'db', namespace: 'data' },
      spec: { network: 'onprem-fra', ports: [{ port: 5432 }], endpoints },
    };
  }
  function problems(object: unknown): string[] {
    const v = validateDocument({ source: { file: 'es.yaml', document: 1 }, object });
    return v.ok ? [] : v.problems.map((p) => `${p.field}: ${p.message}`);
  }

  it('refuses a special address, naming the field', () => {
    assert.deepEqual(problems(externalService([{ address: '10.1.0.1' }, { address: '169.254.169.254' }])), [
      'spec.endpoints[1].address: 169.254.169.254 is link-local (169.254.169.254 is the cloud metadata service): not an address other clusters may be sent to',
    ]);
  });

  it('refuses a duplicated address', () => {
    assert.deepEqual(problems(externalService([{ address: '10.1.0.1' }, { address: '10.1.0.2' }, { address: '10.1.0.1' }])), [
      'spec.endpoints[2].address: duplicates endpoints[0].address',
    ]);
  });

  it(`refuses more than ${MAX_EXTERNAL_ENDPOINTS} endpoints, naming the limit`, () => {
    const many = Array.from({ length: MAX_EXTERNAL_ENDPOINTS + 1 }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
    const [p, ...rest] = problems(externalService(many));
    assert.deepEqual(rest, []);
    assert.match(p ?? '', /^spec\.endpoints: .*at most 1000 endpoints per ExternalService/);
    assert.deepEqual(problems(externalService(many.slice(0, MAX_EXTERNAL_ENDPOINTS))), []);
  });
});

describe('cidrMatcher: ranges parsed once, as cidrContains reads them', () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
  const host = fc.oneof(v4, v6, fc.constantFrom('10.1.2.3', '10.255.255.255', '11.0.0.0', 'fd00::1', '::ffff:10.0.0.1', '::'));
  const range = fc.oneof(
    fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, l]) => normalised(`${a}/${l}`)),
    fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, l]) => normalised(`${a}/${l}`)),
    fc.constantFrom('10.0.0.0/8', '0.0.0.0/0', '10.1.2.3/32', 'fd00::/8', '::/0'),
  );

  it('says what `ranges.some(cidrContains)` says, for random IPv4 and IPv6 ranges and addresses', () => {
    fc.assert(
      fc.property(fc.array(range, { maxLength: 4 }), fc.array(host, { minLength: 1, maxLength: 8 }), (ranges, ips) => {
        const inRanges = cidrMatcher(ranges);
        for (const ip of ips) {
          const expected = ranges.some((r) => cidrContains(r, `${ip}/${ip.includes(':') ? 128 : 32}`));
          assert.equal(inRanges(ip), expected, `${ip} in ${ranges.join(', ')}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** The CIDR as a Cluster may declare it: host bits cleared, as checkCidr suggests. */
function normalised(cidr: string): string {
  const checked = checkCidr(cidr);
  if (checked.ok) return checked.cidr;
  const suggested = /did you mean "(.+)"/.exec(checked.message)?.[1];
  if (suggested === undefined) throw new Error(`${cidr}: ${checked.message}`);
  return suggested;
}
