// The AWS adapter's pure decisions (providers/aws/aws-diff.ts): which tables and groups a Network
// manages, which routes are Causeway's by record, and the changes from observed to planned.
import assert from 'node:assert/strict';
import { desiredRules, diffAws, managedTables, observedTables, ownerTags, type DiffInput } from '../../../providers/aws/aws-diff.ts';
import type { RouteTableEc2, RuleEc2 } from '../../../providers/aws/ec2-api.ts';
import type { RouteIntent } from '../../../providers/model/model.ts';
import type { RouteRecord } from '../../../providers/model/ownership.ts';
import { buildModel } from '../../../providers/model/translate.ts';
import { awsNetwork } from '../../fixtures/providers/journey3.ts';

const TGW = 'tgw-0f1e2d3c4b5a69788';
const NEW_TGW = 'tgw-0000000000000beef';
const table = (
  id: string,
  routes: [string, string, RouteTableEc2['routes'][number]['origin']?][],
  tags: { key: string; value: string }[] = [],
): RouteTableEc2 => ({
  id,
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  main: false,
  tags,
  routes: routes.map(([destination, targetId, origin]) => ({
    destination,
    targetId,
    targetField: targetId.startsWith('tgw-') ? 'transit-gateway' : 'gateway',
    origin: origin ?? 'static',
    state: 'active',
  })),
});
const intent = (t: string, destination: string, via = TGW): RouteIntent => ({
  domain: 'd',
  table: t,
  destination,
  family: 4,
  link: 'd->s',
  mode: 'static',
  via: { kind: 'transit-gateway', id: via },
  covers: [],
});
const record = (t: string, destination: string, target = TGW, extra: Partial<RouteRecord> = {}): RouteRecord => ({
  table: t,
  destination,
  target,
  state: 'confirmed',
  ...extra,
});

function diff(tables: RouteTableEc2[], records: RouteRecord[], routes: RouteIntent[], managed?: string[]): string[] {
  const input: DiffInput = {
    allTables: tables,
    managedTables: managed === undefined ? tables : tables.filter((t) => managed.includes(t.id)),
    records,
    routes,
    managedGroups: [],
    rules: [],
    desiredRules: [],
    ownerTags: ownerTags('d', 'causeway'),
  };
  const c = diffAws(input);
  return [
    ...c.routes.map((r) => `${r.op} ${r.table} ${r.destination}${r.target !== undefined ? ` ${r.target.id}` : ''}`),
    ...c.staleRecords.map((s) => `forget ${s.table} ${s.destination}`),
    ...c.confirmRecords.map((r) => `confirm ${r.table} ${r.destination}`),
  ];
}

describe('AWS adapter decisions (pure)', () => {
  const cases: { name: string; tables: RouteTableEc2[]; managed?: string[]; records: RouteRecord[]; routes: RouteIntent[]; expect: string[] }[] = [
    {
      name: 'creates what is wanted and missing',
      tables: [table('rtb-a', [])],
      records: [],
      routes: [intent('rtb-a', '10.32.0.0/16')],
      expect: [`create rtb-a 10.32.0.0/16 ${TGW}`],
    },
    {
      name: 'leaves what is in place',
      tables: [table('rtb-a', [['10.32.0.0/16', TGW]])],
      records: [record('rtb-a', '10.32.0.0/16')],
      routes: [intent('rtb-a', '10.32.0.0/16')],
      expect: [],
    },
    {
      name: 'deletes its own route that is no longer wanted, never a foreign one',
      tables: [
        table('rtb-a', [
          ['10.32.0.0/16', TGW],
          ['10.33.0.0/16', TGW],
        ]),
      ],
      records: [record('rtb-a', '10.32.0.0/16')],
      routes: [],
      expect: ['delete rtb-a 10.32.0.0/16'],
    },
    {
      name: 'points its own route at a new target (the Network named another TGW), creating the new before deleting the old',
      tables: [
        table('rtb-a', [
          ['10.32.0.0/16', TGW],
          ['10.40.0.0/24', TGW],
        ]),
      ],
      records: [record('rtb-a', '10.32.0.0/16'), record('rtb-a', '10.40.0.0/24')],
      routes: [intent('rtb-a', '10.32.0.0/16', NEW_TGW), intent('rtb-a', '10.50.0.0/16', NEW_TGW)],
      expect: [`create rtb-a 10.50.0.0/16 ${NEW_TGW}`, `replace rtb-a 10.32.0.0/16 ${NEW_TGW}`, 'delete rtb-a 10.40.0.0/24'],
    },
    {
      name: 'forgets the record of a route someone pointed elsewhere, and touches the route not',
      tables: [table('rtb-a', [['10.32.0.0/16', 'vgw-0a1b2c3d']])],
      records: [record('rtb-a', '10.32.0.0/16')],
      routes: [],
      expect: ['forget rtb-a 10.32.0.0/16'],
    },
    {
      name: 'confirms a pending record whose route exists, and recreates a wanted one that is gone',
      tables: [table('rtb-a', [['10.32.0.0/16', TGW]])],
      records: [record('rtb-a', '10.32.0.0/16', TGW, { state: 'pending' }), record('rtb-a', '10.40.0.0/24')],
      routes: [intent('rtb-a', '10.32.0.0/16'), intent('rtb-a', '10.40.0.0/24')],
      expect: [`create rtb-a 10.40.0.0/24 ${TGW}`, 'confirm rtb-a 10.32.0.0/16'],
    },
    {
      name: 'owns a route a pending replace left at its previous target',
      tables: [table('rtb-a', [['10.32.0.0/16', TGW]])],
      records: [record('rtb-a', '10.32.0.0/16', NEW_TGW, { state: 'pending', previousTarget: TGW })],
      routes: [intent('rtb-a', '10.32.0.0/16', NEW_TGW)],
      expect: [`replace rtb-a 10.32.0.0/16 ${NEW_TGW}`],
    },
    {
      name: 'deletes its routes from a table no longer managed, and forgets tables that are gone',
      tables: [table('rtb-a', [['10.32.0.0/16', TGW]]), table('rtb-b', [['10.32.0.0/16', TGW]])],
      managed: ['rtb-b'],
      records: [record('rtb-a', '10.32.0.0/16'), record('rtb-b', '10.32.0.0/16'), record('rtb-gone', '10.32.0.0/16')],
      // The plan was made for the managed tables only: rtb-a is no longer one of them.
      routes: [intent('rtb-a', '10.32.0.0/16'), intent('rtb-b', '10.32.0.0/16')],
      expect: ['delete rtb-a 10.32.0.0/16', 'forget rtb-gone 10.32.0.0/16'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(diff(c.tables, c.records, c.routes, c.managed), c.expect);
    });
  }

  it('marks a route Causeway’s only when a record names its table, destination and target, and never a local or propagated one', () => {
    const t = table('rtb-a', [
      ['10.16.0.0/16', 'local', 'local'],
      ['10.32.0.0/16', TGW],
      ['10.33.0.0/16', TGW],
      ['10.34.0.0/16', 'vgw-0a1b2c3d', 'propagated'],
    ]);
    const obs = observedTables([t], [record('rtb-a', '10.32.0.0/16'), record('rtb-a', '10.34.0.0/16', 'vgw-0a1b2c3d'), record('rtb-b', '10.33.0.0/16')]);
    assert.deepEqual(
      obs[0]?.routes.map((r) => `${r.destination} ${r.owner} ${r.target.kind}`),
      ['10.16.0.0/16 foreign other', '10.32.0.0/16 causeway transit-gateway', '10.33.0.0/16 foreign transit-gateway', '10.34.0.0/16 foreign vpn-gateway'],
    );
  });

  it('selects route tables by id or tag, every table when the Network names none, and names ids it cannot find', () => {
    const tables = [table('rtb-0000000a', [], [{ key: 'causeway.dev/routes', value: 'managed' }]), table('rtb-0000000b', [])];
    const domainOf = (aws: Record<string, unknown>) => {
      const d = buildModel({ networks: [awsNetwork('d', aws, { links: [] })], clusters: [], pools: [] }).domains[0];
      assert.ok(d?.provider === 'aws');
      return d;
    };
    assert.deepEqual(
      managedTables(domainOf({}), tables).managed.map((t) => t.id),
      ['rtb-0000000a'],
    );
    assert.deepEqual(
      managedTables(domainOf({ routeTables: undefined }), tables).managed.map((t) => t.id),
      ['rtb-0000000a', 'rtb-0000000b'],
    );
    assert.deepEqual(managedTables(domainOf({ routeTables: { ids: ['rtb-0000000b', 'rtb-0000000c'] } }), tables), {
      managed: [tables[1]],
      missing: ['rtb-0000000c'],
    });
  });

  it('turns firewall openings into one rule per peer prefix, and leaves a foreign rule that already allows it', () => {
    const rules = desiredRules([
      {
        domain: 'd',
        direction: 'egress',
        family: 4,
        protocol: 'TCP',
        fromPort: 8000,
        toPort: 8000,
        sources: ['10.16.0.0/16'],
        destinations: ['10.32.0.0/16', '10.40.0.0/24'],
        peerDomain: 's',
        services: ['inference/llm-serving'],
      },
      {
        domain: 'd',
        direction: 'egress',
        family: 4,
        protocol: 'TCP',
        fromPort: 8000,
        toPort: 8000,
        sources: ['10.16.0.0/16'],
        destinations: ['10.32.0.0/16'],
        peerDomain: 's',
        services: ['inference/other'],
      },
      {
        domain: 'd',
        direction: 'ingress',
        family: 6,
        protocol: 'SCTP',
        fromPort: 9000,
        toPort: 9001,
        sources: ['fd00:32::/56'],
        destinations: ['fd00:16::/56'],
        peerDomain: 's',
        services: ['x/y'],
      },
    ]);
    assert.deepEqual(
      rules.map((r) => `${r.egress ? 'e' : 'i'} ${r.protocol} ${r.fromPort}-${r.toPort} ${r.cidrIpv4 ?? r.cidrIpv6 ?? ''} "${r.description ?? ''}"`),
      [
        'e tcp 8000-8000 10.32.0.0/16 "causeway inference/llm-serving inference/other"',
        'e tcp 8000-8000 10.40.0.0/24 "causeway inference/llm-serving"',
        'i 132 9000-9001 fd00:32::/56 "causeway x/y"',
      ],
    );
    const foreign: RuleEc2 = {
      id: 'sgr-1',
      groupId: 'sg-1',
      egress: true,
      protocol: 'tcp',
      fromPort: 8000,
      toPort: 8000,
      cidrIpv4: '10.32.0.0/16',
      referencesOther: false,
      tags: [],
    };
    const stale: RuleEc2 = { ...foreign, id: 'sgr-2', cidrIpv4: '10.99.0.0/16', tags: ownerTags('d', 'causeway') };
    const otherDomains: RuleEc2 = { ...stale, id: 'sgr-3', tags: ownerTags('e', 'causeway') };
    const c = diffAws({
      allTables: [],
      managedTables: [],
      records: [],
      routes: [],
      managedGroups: [{ id: 'sg-1', vpcId: 'v', name: 'g', tags: [] }],
      rules: [foreign, stale, otherDomains],
      desiredRules: rules,
      ownerTags: ownerTags('d', 'causeway'),
    });
    assert.deepEqual(
      c.rules.map((r) => `${r.op} ${r.groupId} ${r.rules.map((x) => x.cidrIpv4 ?? x.cidrIpv6 ?? '').join(',')}${r.ruleIds.join(',')}`),
      ['authorize sg-1 10.40.0.0/24', 'authorize sg-1 fd00:32::/56', 'revoke sg-1 sgr-2'],
    );
    assert.equal(c.unchanged.rules, 1);
  });
});
