// The optional Network fields the provider adapters program from (issue 9 §1): route tables and
// security groups by id or tag, the transit gateway attachment, the route quota, the Cloud Router,
// the on-prem site's BGP peers, next hop and communities. Older Networks without them stay valid.
import assert from 'node:assert/strict';
import { formatProblem } from '../../../controlplane/api/errors.ts';
import { validateDocument } from '../../../controlplane/api/validate.ts';
import { network } from '../../fixtures/resources.ts';

function problemsOf(object: unknown): string[] {
  const v = validateDocument({ source: { file: 'n.yaml', document: 1 }, object });
  return v.ok ? [] : v.problems.map(formatProblem);
}

function withBlock(provider: 'aws' | 'gcp' | 'onprem', block: Record<string, unknown>): Record<string, unknown> {
  const base = network('n', provider);
  const spec = base.spec as Record<string, Record<string, unknown>>;
  return { ...base, spec: { ...spec, [provider]: { ...spec[provider], ...block } } };
}

describe('Network spec: the fields provider adapters program from', () => {
  it('accepts a Network without any of them (additive and optional)', () => {
    for (const p of ['aws', 'gcp', 'onprem'] as const) assert.deepEqual(problemsOf(network('n', p)), []);
  });

  it('accepts a full AWS block and keeps what it was given', () => {
    const v = validateDocument({
      source: {},
      object: withBlock('aws', {
        transitGatewayId: 'tgw-0f1e2d3c4b5a69788',
        transitGatewayAttachmentId: 'tgw-attach-0a1b2c3d4e5f6a7b8',
        vpnGatewayId: 'vgw-0a1b2c3d',
        routeTables: { ids: ['rtb-0a1b2c3d'], tag: { key: 'causeway.dev/routes', value: 'managed' } },
        securityGroups: { tag: { key: 'role', value: 'gpu-nodes' } },
        maxRoutesPerTable: 100,
      }),
    });
    assert.ok(v.ok && v.value.kind === 'Network');
    const aws = v.value.spec.aws;
    assert.ok(aws !== undefined);
    assert.deepEqual(aws.routeTables, { ids: ['rtb-0a1b2c3d'], tag: { key: 'causeway.dev/routes', value: 'managed' } });
    assert.equal(aws.maxRoutesPerTable, 100);
  });

  it('accepts a Cloud Router and on-prem peers, next hop and communities', () => {
    assert.deepEqual(problemsOf(withBlock('gcp', { cloudRouter: { region: 'europe-west4', name: 'train-router' } })), []);
    assert.deepEqual(
      problemsOf(
        withBlock('onprem', {
          peers: [
            { address: '192.0.2.1', asn: 64600, port: 1179 },
            { address: '2001:db8::1', asn: 64601 },
          ],
          nextHop: '192.0.2.10',
          communities: ['64512:100'],
        }),
      ),
      [],
    );
  });

  const cases: { name: string; object: unknown; expect: RegExp }[] = [
    {
      name: 'a route table id of the wrong kind',
      object: withBlock('aws', { routeTables: { ids: ['sg-0a1b2c3d'] } }),
      expect: /n\.yaml: document 1 \(Network n\): spec\.aws\.routeTables\.ids\[0\]: expected a route table id such as "rtb-0a1b2c3d"/,
    },
    {
      name: 'a selector naming nothing',
      object: withBlock('aws', { securityGroups: {} }),
      expect: /spec\.aws\.securityGroups: name the security groups by ids or by tag/,
    },
    {
      name: 'an empty id list',
      object: withBlock('aws', { routeTables: { ids: [] } }),
      expect: /spec\.aws\.routeTables\.ids/,
    },
    {
      name: 'a malformed attachment id',
      object: withBlock('aws', { transitGatewayAttachmentId: 'tgw-0a1b2c3d' }),
      expect: /spec\.aws\.transitGatewayAttachmentId: expected a transit gateway attachment id such as "tgw-attach-0a1b2c3d"/,
    },
    {
      name: 'a route quota of zero',
      object: withBlock('aws', { maxRoutesPerTable: 0 }),
      expect: /spec\.aws\.maxRoutesPerTable/,
    },
    {
      name: 'a Cloud Router without a region',
      object: withBlock('gcp', { cloudRouter: { name: 'r' } }),
      expect: /spec\.gcp\.cloudRouter\.region/,
    },
    {
      name: 'a peer address that is not an address',
      object: withBlock('onprem', { peers: [{ address: '192.0.2.300', asn: 64600 }] }),
      expect: /spec\.onprem\.peers\[0\]\.address: expected an IPv4 or IPv6 address/,
    },
    {
      name: 'a peer ASN out of range',
      object: withBlock('onprem', { peers: [{ address: '192.0.2.1', asn: 0 }] }),
      expect: /spec\.onprem\.peers\[0\]\.asn/,
    },
    {
      name: 'a community with a half above 16 bits',
      object: withBlock('onprem', { communities: ['64512:70000'] }),
      expect: /spec\.onprem\.communities\[0\]: expected a BGP community "ASN:value" with both parts 0-65535/,
    },
    {
      name: 'a misspelt field',
      object: withBlock('onprem', { nexthop: '192.0.2.1' }),
      expect: /spec\.onprem\.nexthop: unknown field: did you mean "nextHop"\?/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}, naming the field`, () => {
      const problems = problemsOf(c.object);
      assert.ok(
        problems.some((p) => c.expect.test(p)),
        problems.join('\n'),
      );
    });
  }
});
