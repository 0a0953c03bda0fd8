// The AWS provider adapter (providers/aws) against the EC2 Query API TEST DOUBLE, through the real
// @aws-sdk/client-ec2. Every test asserts the double's resulting state: the routes and rules in it,
// what Causeway owns and what it left alone. The one count of calls is the idempotence check the
// issue asks for (a second reconcile makes no mutating call).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateTagsCommand,
  DeleteRouteCommand,
  EC2Client,
  ReplaceRouteCommand,
  RevokeSecurityGroupEgressCommand,
} from '@aws-sdk/client-ec2';
import { UnavailableError } from '../../controlplane/api/errors.ts';
import { Controller } from '../../controlplane/kernel/controller.ts';
import { FixedIntentSource } from '../../providers/model/intents.ts';
import { MemoryRouteOwnership } from '../../providers/model/ownership.ts';
import type { ExportedService } from '../../providers/model/route-plan.ts';
import { buildModel, type ModelInput } from '../../providers/model/translate.ts';
import { AwsVpcAdapter, type DomainReconcileResult } from '../../providers/aws/aws-vpc-adapter.ts';
import type { CallBudgetOptions } from '../../providers/model/call-budget.ts';
import { SdkEc2Api } from '../../providers/aws/ec2-sdk.ts';
import { JOURNEY3_SERVICES } from '../fixtures/providers/journey3-services.ts';
import { AWS_TGW, awsNetwork, cluster, journey3, onpremNetwork } from '../fixtures/providers/journey3.ts';
import { readEc2Fixture, startEc2Double, type Ec2Double, type Ec2Fixture } from '../harness/ec2-double.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/providers/ec2-journey3.json', import.meta.url));
const DOMAIN = 'aws-train-vpc';
const VPC = 'vpc-0a1b2c3d4e5f67890';
const TABLE_A = 'rtb-0a00000000000000a';
const TABLE_B = 'rtb-0a00000000000000b';
const GPU_SG = 'sg-0a1b2c3d4e5f60010';
const BASTION_SG = 'sg-0a1b2c3d4e5f60020';
const ONPREM_ROUTES = ['10.32.0.0/16', '10.34.0.11/32', '10.34.0.12/32', '10.40.0.0/24'];
const FAST_BUDGET: CallBudgetOptions = { ratePerSecond: 1000, burst: 1000, throttleBackoff: { baseMs: 10, maxMs: 80 } };

interface Setup {
  double: Ec2Double;
  adapter: AwsVpcAdapter;
  intents: FixedIntentSource;
  ownership: MemoryRouteOwnership;
  /** An SDK client of the test's own, for changes made outside Causeway. */
  outside: EC2Client;
  reconcile(options?: { dryRun?: boolean }): Promise<DomainReconcileResult>;
}

const clients: EC2Client[] = [];
function sdk(double: Ec2Double): EC2Client {
  const c = new EC2Client({ region: 'us-east-1', endpoint: double.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  clients.push(c);
  return c;
}

async function setup(
  opts: { model?: ModelInput; services?: readonly ExportedService[]; fixture?: Ec2Fixture; budget?: CallBudgetOptions; routeLimit?: number } = {},
): Promise<Setup> {
  const double = await startEc2Double({
    fixture: opts.fixture ?? (await readEc2Fixture(FIXTURE)),
    ...(opts.routeLimit !== undefined ? { routeLimit: opts.routeLimit } : {}),
  });
  const intents = new FixedIntentSource({ model: buildModel(opts.model ?? journey3()), services: opts.services ?? JOURNEY3_SERVICES });
  const ownership = new MemoryRouteOwnership();
  const client = sdk(double);
  // Page size 5 (EC2's smallest) so that every Describe of the fixture takes several pages.
  const adapter = new AwsVpcAdapter({
    api: (_d, gate) => new SdkEc2Api({ client, gate, pageSize: 5 }),
    ownership,
    intents,
    budget: opts.budget ?? FAST_BUDGET,
  });
  return { double, adapter, intents, ownership, outside: sdk(double), reconcile: (o) => adapter.reconcile(DOMAIN, new AbortController().signal, o ?? {}) };
}

/** Routes Causeway does not own, in every table, as `table destination → target`. */
function foreignRoutes(double: Ec2Double, ours: (table: string, destination: string) => boolean): string[] {
  const out: string[] = [];
  for (const t of double.state.routeTables.values())
    for (const r of t.routes) if (!ours(t.id, r.destination)) out.push(`${t.id} ${r.destination} -> ${r.target.id}`);
  return out.sort();
}

const causewayRules = (double: Ec2Double, group: string): string[] =>
  double
    .rulesOf(group)
    .filter((r) => r.tags['causeway.dev/managed-by'] === 'causeway')
    .map(
      (r) =>
        `${r.egress ? 'egress' : 'ingress'} ${r.protocol}/${r.fromPort}-${r.toPort} ${r.cidrIpv4 ?? r.cidrIpv6 ?? ''} [${r.tags['causeway.dev/network'] ?? ''}]`,
    )
    .sort();

describe('AWS adapter against the EC2 test double', () => {
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });

  describe('journey 3', () => {
    let s: Setup;
    beforeEach(async () => {
      s = await setup();
    });
    afterEach(() => s.double.stop());

    it('points the on-prem prefixes at the transit gateway in the managed route tables only, and opens TCP 8000 and 9090 in the managed group', async () => {
      const r = await s.reconcile();
      assert.deepEqual(
        r.changes.filter((c) => c.outcome !== 'done'),
        [],
      );
      for (const table of [TABLE_A, TABLE_B]) {
        const routes = s.double.routesOf(table);
        assert.deepEqual(
          ONPREM_ROUTES.map((d) => routes[d]),
          ONPREM_ROUTES.map(() => AWS_TGW),
          table,
        );
      }
      // The main table and the TGW subnets' table carry no Causeway tag: nothing added there.
      assert.deepEqual(s.double.routesOf('rtb-0a000000000000000'), {
        '10.16.0.0/16': 'local',
        '2600:1f18:4a1b:1600::/56': 'local',
        '0.0.0.0/0': 'igw-0a1b2c3d4e5f60001',
      });
      assert.equal(s.double.routesOf('rtb-0a00000000000000c')['10.32.0.0/16'], undefined);
      assert.deepEqual(causewayRules(s.double, GPU_SG), [
        'egress tcp/8000-8000 10.32.0.0/16 [aws-train-vpc]',
        'egress tcp/9090-9090 10.34.0.11/32 [aws-train-vpc]',
        'egress tcp/9090-9090 10.34.0.12/32 [aws-train-vpc]',
      ]);
      assert.deepEqual(causewayRules(s.double, BASTION_SG), []);
      assert.deepEqual(
        s.ownership.records(DOMAIN).map((x) => `${x.table} ${x.destination} ${x.target} ${x.state}`),
        [TABLE_A, TABLE_B].flatMap((t) => ONPREM_ROUTES.map((d) => `${t} ${d} ${AWS_TGW} confirmed`)),
      );
      assert.deepEqual(
        r.conditions.map((c) => [c.type, c.status, c.reason]),
        [['Degraded', 'False', 'Reconciled']],
      );
    });

    it('makes no mutating call on a second reconcile (idempotence)', async () => {
      await s.reconcile();
      s.double.resetCounters();
      const again = await s.reconcile();
      assert.equal(s.double.mutatingCalls(), 0);
      assert.deepEqual(again.changes, []);
      assert.deepEqual(again.unchanged, { routes: 8, rules: 3 });
      assert.ok(s.double.calls() > 0 && s.double.calls() === again.calls, `${s.double.calls()} reads, ${again.calls} counted by the adapter`);
    });

    it('leaves every route and rule it does not own as it was', async () => {
      const ours = (table: string, destination: string): boolean => (table === TABLE_A || table === TABLE_B) && ONPREM_ROUTES.includes(destination);
      const routesBefore = foreignRoutes(s.double, ours);
      const rulesBefore = [...s.double.state.rules.values()].map((r) => JSON.stringify(r)).sort();
      await s.reconcile();
      assert.deepEqual(foreignRoutes(s.double, ours), routesBefore);
      const rulesAfter = [...s.double.state.rules.values()].filter((r) => r.tags['causeway.dev/managed-by'] !== 'causeway');
      assert.deepEqual(rulesAfter.map((r) => JSON.stringify(r)).sort(), rulesBefore);
    });

    it('reports a conflicting foreign route and leaves it alone, programming the other tables', async () => {
      await s.outside.send(new CreateRouteCommand({ RouteTableId: TABLE_B, DestinationCidrBlock: '10.32.0.0/16', GatewayId: 'vgw-0a1b2c3d4e5f60006' }));
      const r = await s.reconcile();
      assert.equal(s.double.routesOf(TABLE_B)['10.32.0.0/16'], 'vgw-0a1b2c3d4e5f60006');
      assert.equal(s.double.routesOf(TABLE_A)['10.32.0.0/16'], AWS_TGW);
      assert.equal(s.double.routesOf(TABLE_B)['10.40.0.0/24'], AWS_TGW);
      assert.ok(!s.ownership.records(DOMAIN).some((x) => x.table === TABLE_B && x.destination === '10.32.0.0/16'));
      const conflict = r.problems.find((p) => p.reason === 'RouteConflict');
      assert.ok(conflict?.reason === 'RouteConflict');
      assert.deepEqual(
        [conflict.table, conflict.destination, conflict.foreign.destination, conflict.foreign.target.id],
        [TABLE_B, '10.32.0.0/16', '10.32.0.0/16', 'vgw-0a1b2c3d4e5f60006'],
      );
      const degraded = r.conditions[0];
      assert.deepEqual([degraded?.status, degraded?.reason], ['True', 'RouteConflict']);
      assert.match(
        degraded?.message ?? '',
        /route table rtb-0a00000000000000b: a route to 10\.32\.0\.0\/16 via tgw-0f1e2d3c4b5a69788 would take traffic from 10\.32\.0\.0\/16 via vgw-0a1b2c3d4e5f60006/,
      );
    });

    it('repairs drift made outside Causeway, and counts it', async () => {
      await s.reconcile();
      await s.outside.send(new DeleteRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.40.0.0/24' }));
      const rule = s.double.rulesOf(GPU_SG).find((x) => x.fromPort === 8000);
      assert.ok(rule !== undefined);
      await s.outside.send(new RevokeSecurityGroupEgressCommand({ GroupId: GPU_SG, SecurityGroupRuleIds: [rule.id] }));
      const r = await s.reconcile();
      assert.equal(s.double.routesOf(TABLE_A)['10.40.0.0/24'], AWS_TGW);
      assert.ok(causewayRules(s.double, GPU_SG).includes('egress tcp/8000-8000 10.32.0.0/16 [aws-train-vpc]'));
      assert.equal(r.drift, 2);
      assert.deepEqual(
        r.changes.map((c) => [c.kind, c.object, c.drift]),
        [
          ['create-route', TABLE_A, true],
          ['authorize-rules', GPU_SG, true],
        ],
      );
    });

    it('treats a route of its own that someone pointed elsewhere as theirs: left alone, reported, no longer recorded', async () => {
      await s.reconcile();
      await s.outside.send(
        new ReplaceRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', VpcPeeringConnectionId: 'pcx-0a1b2c3d4e5f60003' }),
      );
      const r = await s.reconcile();
      assert.equal(s.double.routesOf(TABLE_A)['10.32.0.0/16'], 'pcx-0a1b2c3d4e5f60003');
      assert.ok(!s.ownership.records(DOMAIN).some((x) => x.table === TABLE_A && x.destination === '10.32.0.0/16'));
      assert.ok(r.problems.some((p) => p.reason === 'RouteConflict' && p.table === TABLE_A));
      s.double.resetCounters();
      await s.reconcile();
      assert.equal(s.double.mutatingCalls(), 0);
    });

    it('removes exactly what was its own when a cluster leaves the plan', async () => {
      await s.reconcile();
      const j = journey3();
      s.intents.set({
        model: buildModel({ ...j, clusters: j.clusters.filter((c) => c.metadata.name !== 'onprem-inference') }),
        services: JOURNEY3_SERVICES.filter((x) => x.name !== 'llm-serving'),
      });
      await s.reconcile();
      for (const table of [TABLE_A, TABLE_B]) {
        const routes = s.double.routesOf(table);
        // The feature store's VMs stay reachable; the inference cluster and its LoadBalancer pool go.
        assert.deepEqual(
          ONPREM_ROUTES.map((d) => routes[d] ?? '-'),
          ['-', AWS_TGW, AWS_TGW, '-'],
        );
        assert.equal(routes['192.168.0.0/16'], 'pcx-0a1b2c3d4e5f60003');
      }
      assert.deepEqual(causewayRules(s.double, GPU_SG), [
        'egress tcp/9090-9090 10.34.0.11/32 [aws-train-vpc]',
        'egress tcp/9090-9090 10.34.0.12/32 [aws-train-vpc]',
      ]);
      assert.equal(s.double.rulesOf(GPU_SG).length, 5);
      assert.deepEqual(
        s.ownership.records(DOMAIN).map((x) => x.destination),
        ['10.34.0.11/32', '10.34.0.12/32', '10.34.0.11/32', '10.34.0.12/32'],
      );
    });

    it('with dryRun, asks EC2 whether each change would succeed and changes nothing', async () => {
      const r = await s.reconcile({ dryRun: true });
      assert.deepEqual(
        r.changes.map((c) => c.outcome),
        [...Array<string>(8).fill('would-succeed'), 'would-succeed'],
      );
      assert.equal(s.double.routesOf(TABLE_A)['10.32.0.0/16'], undefined);
      assert.deepEqual(causewayRules(s.double, GPU_SG), []);
      assert.deepEqual(s.ownership.records(DOMAIN), []);
    });

    it('finishes a route whose record was left pending by a hub that died mid-create, and drops one whose route never came', async () => {
      const signal = new AbortController().signal;
      await s.outside.send(new CreateRouteCommand({ RouteTableId: TABLE_A, DestinationCidrBlock: '10.32.0.0/16', TransitGatewayId: AWS_TGW }));
      await s.ownership.put(DOMAIN, { table: TABLE_A, destination: '10.32.0.0/16', target: AWS_TGW, state: 'pending' }, signal);
      await s.ownership.put(DOMAIN, { table: TABLE_A, destination: '10.99.0.0/16', target: AWS_TGW, state: 'pending' }, signal);
      const r = await s.reconcile();
      assert.ok(!r.changes.some((c) => c.object === TABLE_A && c.what.startsWith('10.32.0.0/16')), 'the pending route exists already: not created again');
      const records = s.ownership.records(DOMAIN).filter((x) => x.table === TABLE_A);
      assert.ok(records.every((x) => x.state === 'confirmed'));
      assert.ok(!records.some((x) => x.destination === '10.99.0.0/16'));
    });
  });

  it('finds managed route tables on later pages', async () => {
    const s = await setup();
    try {
      const created: string[] = [];
      for (let i = 0; i < 8; i++) {
        const t = await s.outside.send(new CreateRouteTableCommand({ VpcId: VPC }));
        const id = t.RouteTable?.RouteTableId ?? '';
        created.push(id);
        await s.outside.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'causeway.dev/routes', Value: 'managed' }] }));
      }
      s.double.resetCounters();
      await s.reconcile();
      // 15 tables in the account, 5 per page, filtered to the VPC's 12: three pages.
      assert.equal(s.double.calls('DescribeRouteTables'), 3);
      for (const id of created) assert.equal(s.double.routesOf(id)['10.32.0.0/16'], AWS_TGW, id);
    } finally {
      await s.double.stop();
    }
  });

  it('IPv6: routes and rules for a dual-stack site', async () => {
    const model: ModelInput = {
      networks: [awsNetwork(), onpremNetwork('onprem-fra', { links: [{ to: DOMAIN, type: 'bgp', bgp: { localASN: 64512, peerASN: 64513 } }] })],
      pools: [],
      clusters: [
        cluster('aws-train', 'aws', DOMAIN, ['10.16.0.0/16', '2600:1f18:4a1b:1600::/64']),
        cluster('site', 'onprem', 'onprem-fra', ['10.32.0.0/16', 'fd00:32::/56']),
      ],
    };
    const s = await setup({ model, services: [{ namespace: 'inference', name: 'llm-serving', ports: [{ port: 8000 }], exporters: [{ cluster: 'site' }] }] });
    try {
      await s.reconcile();
      assert.equal(s.double.routesOf(TABLE_A)['fd00:32::/56'], AWS_TGW);
      assert.deepEqual(causewayRules(s.double, GPU_SG), [
        'egress tcp/8000-8000 10.32.0.0/16 [aws-train-vpc]',
        'egress tcp/8000-8000 fd00:32::/56 [aws-train-vpc]',
      ]);
    } finally {
      await s.double.stop();
    }
  });

  describe('quotas', () => {
    it('fits the plan to the Network quota: what does not fit is refused naming the table, and the rest is programmed', async () => {
      const j = journey3();
      const networks = j.networks.map((n) => (n.metadata.name === DOMAIN ? awsNetwork(DOMAIN, { maxRoutesPerTable: 4 }) : n));
      const s = await setup({ model: { ...j, networks } });
      try {
        const r = await s.reconcile();
        // Table a holds two foreign static routes (0.0.0.0/0 and 192.168.0.0/16) and ::/0 in IPv6.
        assert.deepEqual(
          Object.entries(s.double.routesOf(TABLE_A))
            .filter(([, t]) => t === AWS_TGW)
            .map(([d]) => d),
          ['10.32.0.0/16', '10.34.0.11/32'],
        );
        const q = r.problems.find((p) => p.reason === 'RouteQuotaExceeded' && p.table === TABLE_A);
        assert.ok(q?.reason === 'RouteQuotaExceeded');
        assert.deepEqual([q.quota, q.usedByOthers, q.didNotFit], [4, 2, ['10.34.0.12/32', '10.40.0.0/24']]);
        assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason], ['True', 'RouteQuotaExceeded']);
      } finally {
        await s.double.stop();
      }
    });

    it('reports EC2’s own RouteLimitExceeded when the account quota is lower than the Network says', async () => {
      const s = await setup({ routeLimit: 3 });
      try {
        const r = await s.reconcile();
        const failed = r.changes.filter((c) => c.outcome === 'failed');
        assert.ok(failed.length > 0);
        assert.match(failed[0]?.error ?? '', /RouteLimitExceeded/);
        assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason], ['True', 'RouteQuotaExceeded']);
        // Refused creates leave no ownership record behind.
        const recorded = new Set(s.ownership.records(DOMAIN).map((x) => `${x.table} ${x.destination}`));
        for (const t of [TABLE_A, TABLE_B])
          for (const [d, target] of Object.entries(s.double.routesOf(t))) if (target !== AWS_TGW) assert.ok(!recorded.has(`${t} ${d}`));
        assert.equal(recorded.size, Object.values(s.double.routesOf(TABLE_A)).filter((x) => x === AWS_TGW).length * 2);
      } finally {
        await s.double.stop();
      }
    });
  });

  describe('failures, translated at the boundary into the Degraded condition', () => {
    it('a VPC the provider does not have: ProviderObjectNotFound naming it, nothing changed', async () => {
      const j = journey3();
      const networks = j.networks.map((n) => (n.metadata.name === DOMAIN ? awsNetwork(DOMAIN, { vpcId: 'vpc-0000000000000dead' }) : n));
      const s = await setup({ model: { ...j, networks } });
      try {
        const r = await s.reconcile();
        assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason, r.retry], ['True', 'ProviderObjectNotFound', false]);
        assert.match(r.conditions[0]?.message ?? '', /describing VPC vpc-0000000000000dead: EC2 InvalidVpcID\.NotFound/);
        assert.equal(s.double.mutatingCalls(), 0);
      } finally {
        await s.double.stop();
      }
    });

    it('a full security group: ProviderQuotaExceeded, the routes still made', async () => {
      const s = await setup();
      try {
        s.double.fail(
          10,
          { code: 'RulesPerSecurityGroupLimitExceeded', message: 'The maximum number of rules per security group has been reached.', status: 400 },
          { match: (q) => q.action.startsWith('AuthorizeSecurityGroup') },
        );
        const r = await s.reconcile();
        assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason], ['True', 'ProviderQuotaExceeded']);
        assert.match(
          r.conditions[0]?.message ?? '',
          /authorize-rules .* in sg-0a1b2c3d4e5f60010: allowing 3 egress rule\(s\) in sg-0a1b2c3d4e5f60010: EC2 RulesPerSecurityGroupLimitExceeded/,
        );
        assert.equal(s.double.routesOf(TABLE_A)['10.32.0.0/16'], AWS_TGW);
        assert.deepEqual(causewayRules(s.double, GPU_SG), []);
      } finally {
        await s.double.stop();
      }
    });

    it('a refused permission: ProviderForbidden, no route created, no record left', async () => {
      const s = await setup();
      try {
        s.double.fail(
          100,
          { code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.', status: 403 },
          { match: (q) => q.action === 'CreateRoute' },
        );
        const r = await s.reconcile();
        assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason], ['True', 'ProviderForbidden']);
        assert.equal(s.double.routesOf(TABLE_A)['10.32.0.0/16'], undefined);
        assert.deepEqual(s.ownership.records(DOMAIN), []);
        // Rules are another permission: they were still made.
        assert.equal(causewayRules(s.double, GPU_SG).length, 3);
      } finally {
        await s.double.stop();
      }
    });

    it('an EC2 outage: ProviderUnavailable, retry asked for', async () => {
      const s = await setup();
      try {
        s.double.fail(1000, { code: 'Unavailable', message: 'The service is unavailable.', status: 503 });
        const r = await s.reconcile();
        assert.deepEqual([r.conditions[0]?.reason, r.retry], ['ProviderUnavailable', true]);
        assert.equal(s.double.mutatingCalls(), 0);
      } finally {
        await s.double.stop();
      }
    });
  });

  describe('throttling, within the per-domain budget', () => {
    it('backs off and converges when EC2 throttles, and a throttled domain slows alone', async () => {
      // Two regions, two doubles: the training VPC is throttled, the other VPC is not.
      const throttled = await startEc2Double({ fixture: await readEc2Fixture(FIXTURE) });
      const calm = await startEc2Double({ fixture: await readEc2Fixture(FIXTURE) });
      try {
        const j = journey3();
        const other = awsNetwork('aws-eu-vpc', {}, { region: 'eu-west-1' });
        const site = onpremNetwork('onprem-fra', {
          links: [
            { to: DOMAIN, type: 'bgp', bgp: { localASN: 64512, peerASN: 64513 } },
            { to: 'aws-eu-vpc', type: 'bgp', bgp: { localASN: 64512, peerASN: 64515 } },
          ],
        });
        const model = buildModel({
          networks: [j.networks[0] ?? awsNetwork(), other, site],
          pools: j.pools,
          clusters: [...j.clusters.filter((c) => c.spec.provider !== 'gcp'), cluster('aws-eu', 'aws', 'aws-eu-vpc', ['10.20.0.0/16'])],
        });
        const clientFor = new Map([
          ['us-east-1', sdk(throttled)],
          ['eu-west-1', sdk(calm)],
        ]);
        const ownership = new MemoryRouteOwnership();
        const adapter = new AwsVpcAdapter({
          api: (d, gate) => new SdkEc2Api({ client: clientFor.get(d.region) ?? sdk(calm), gate, pageSize: 5 }),
          ownership,
          intents: new FixedIntentSource({ model, services: JOURNEY3_SERVICES }),
          budget: { ratePerSecond: 1000, burst: 1000, throttleBackoff: { baseMs: 20, maxMs: 160 }, maxThrottleRetries: 4, maxCallsPerReconcile: 100 },
        });
        throttled.throttle(3);
        const signal = new AbortController().signal;
        const [a, b] = await Promise.all([adapter.reconcile(DOMAIN, signal), adapter.reconcile('aws-eu-vpc', signal)]);
        assert.deepEqual([a.conditions[0]?.reason, b.conditions[0]?.reason], ['Reconciled', 'Reconciled']);
        assert.equal(throttled.routesOf(TABLE_A)['10.32.0.0/16'], AWS_TGW);
        assert.equal(calm.routesOf(TABLE_A)['10.32.0.0/16'], AWS_TGW);
        const slow = adapter.budgetStats(DOMAIN);
        const fast = adapter.budgetStats('aws-eu-vpc');
        assert.ok(slow !== undefined && fast !== undefined);
        assert.equal(slow.throttled, 3);
        // Three backoffs of at least 10, 20 and 40 ms (equal jitter on 20, 40, 80).
        assert.ok(slow.waitedMs >= 10 + 20 + 40, `waited ${slow.waitedMs} ms`);
        assert.deepEqual([fast.throttled, fast.waitedMs], [0, 0]);
        // Every call the throttled double answered was counted against the budget: no hidden retries.
        assert.equal(throttled.calls(), a.calls);
        assert.ok(a.calls <= 100);
      } finally {
        await throttled.stop();
        await calm.stop();
      }
    });

    it('stops at the reconcile’s call budget and finishes over the next reconciles', async () => {
      const s = await setup({ budget: { ...FAST_BUDGET, maxCallsPerReconcile: 14 } });
      try {
        const results: DomainReconcileResult[] = [];
        for (let i = 0; i < 6 && (results.at(-1)?.retry ?? true); i++) results.push(await s.reconcile());
        const first = results[0];
        assert.deepEqual([first?.retry, first?.conditions[0]?.reason], [true, 'CallBudgetExhausted']);
        assert.ok(results.every((r) => r.calls <= 14));
        assert.equal(results.at(-1)?.retry, false);
        for (const t of [TABLE_A, TABLE_B])
          assert.deepEqual(
            ONPREM_ROUTES.map((d) => s.double.routesOf(t)[d]),
            ONPREM_ROUTES.map(() => AWS_TGW),
          );
        assert.equal(causewayRules(s.double, GPU_SG).length, 3);
      } finally {
        await s.double.stop();
      }
    });
  });

  it('is driven by a kernel Controller keyed by domain (the hub’s wiring, in miniature)', async () => {
    const s = await setup();
    const conditions = new Map<string, string>();
    let idle: () => void = () => undefined;
    const controller = new Controller<string>({
      name: 'aws-routes',
      reconcile: async (domain, signal) => {
        const r = await s.adapter.reconcile(domain, signal);
        conditions.set(domain, `${r.conditions[0]?.status ?? ''} ${r.conditions[0]?.reason ?? ''}`);
        if (r.retry) throw new UnavailableError(r.conditions[0]?.message ?? 'retry');
        return { requeueAfterMs: r.requeueAfterMs };
      },
      onIdle: () => {
        idle();
      },
    });
    const stop = new AbortController();
    try {
      const done = new Promise<void>((resolve) => {
        idle = resolve;
      });
      const running = controller.run(stop.signal);
      controller.add(DOMAIN);
      await done;
      stop.abort();
      await running;
      assert.equal(conditions.get(DOMAIN), 'False Reconciled');
      assert.equal(s.double.routesOf(TABLE_B)['10.40.0.0/24'], AWS_TGW);
    } finally {
      stop.abort();
      await s.double.stop();
    }
  });
});
