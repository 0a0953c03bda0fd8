// The route planner (providers/model/route-plan.ts), table-driven and synchronous: journey 3 (the AWS
// and GCP training clusters reach on-prem inference, and nothing else), summarisation at the route
// table quota, shadowing conflicts with routes Causeway does not own, IPv6, links that name nothing
// to route at, and plans that do not depend on input order.
import assert from 'node:assert/strict';
import type { NetworkResource } from '../../../controlplane/api/resources.ts';
import type { RouteTarget } from '../../../providers/model/model.ts';
import {
  domainPlan,
  planRoutes,
  type DomainPlan,
  type ExportedService,
  type ObservedRoute,
  type PlanOptions,
  type RoutePlan,
} from '../../../providers/model/route-plan.ts';
import { buildModel, type ModelInput } from '../../../providers/model/translate.ts';
import { JOURNEY3_SERVICES } from '../../fixtures/providers/journey3-services.ts';
import { AWS_TGW, awsNetwork, cluster, gcpNetwork, journey3, onpremNetwork, pool } from '../../fixtures/providers/journey3.ts';

const TGW: RouteTarget = { kind: 'transit-gateway', id: AWS_TGW };
const ROUTER: RouteTarget = { kind: 'cloud-router', id: 'projects/ml-platform-prod/regions/europe-west4/routers/train-router' };

function plan(input: ModelInput, options?: PlanOptions): RoutePlan {
  return planRoutes(buildModel(input), options);
}

function domain(p: RoutePlan, name: string): DomainPlan {
  const d = domainPlan(p, name);
  assert.ok(d !== undefined, `no plan for ${name}`);
  return d;
}

/** `destination via target` per route, the shape a reader checks against the brief. */
const routesOf = (d: DomainPlan): string[] => d.routes.map((r) => `${r.table ?? '*'} ${r.destination} ${r.mode} ${r.via.id}`);

const route = (
  destination: string,
  target: RouteTarget,
  owner: ObservedRoute['owner'] = 'foreign',
  origin: ObservedRoute['origin'] = 'static',
): ObservedRoute => ({
  destination,
  target,
  owner,
  origin,
});
const LOCAL = route('10.16.0.0/12', { kind: 'other', id: 'local' }, 'foreign', 'local');
const DEFAULT_VIA_IGW = route('0.0.0.0/0', { kind: 'other', id: 'igw-0a1b2c3d' });

/** One AWS VPC and one on-prem site whose clusters own the given pod CIDRs. */
function awsToOnprem(onpremPods: string[][], aws: Record<string, unknown> = {}, awsPods = ['10.16.0.0/16']): ModelInput {
  return {
    networks: [
      awsNetwork('aws-train-vpc', aws),
      onpremNetwork('onprem-fra', { links: [{ to: 'aws-train-vpc', type: 'bgp', bgp: { localASN: 64512, peerASN: 64513 } }] }),
    ],
    pools: [],
    clusters: [cluster('aws-train', 'aws', 'aws-train-vpc', awsPods), ...onpremPods.map((pods, i) => cluster(`onprem-${i}`, 'onprem', 'onprem-fra', pods))],
  };
}

describe('route plan: journey 3', () => {
  const p = plan(journey3(), { services: JOURNEY3_SERVICES });

  it('points the AWS training VPC at the transit gateway for the inference pods, the LoadBalancer pool and the feature store, and nothing else', () => {
    assert.deepEqual(routesOf(domain(p, 'aws-train-vpc')), [
      `* 10.32.0.0/16 static ${AWS_TGW}`,
      `* 10.34.0.11/32 static ${AWS_TGW}`,
      `* 10.34.0.12/32 static ${AWS_TGW}`,
      `* 10.40.0.0/24 static ${AWS_TGW}`,
    ]);
    assert.deepEqual(domain(p, 'aws-train-vpc').announcements, []);
    assert.deepEqual(domain(p, 'aws-train-vpc').problems, []);
  });

  it('says which cluster, pool or domain each route is for', () => {
    const covers = domain(p, 'aws-train-vpc').routes.map((r) => r.covers.map((c) => `${c.owner.kind}/${c.owner.name}:${c.role}`).join(','));
    assert.deepEqual(covers, [
      'cluster/onprem-inference:pods',
      'domain/onprem-fra:external-endpoints',
      'domain/onprem-fra:external-endpoints',
      'pool/onprem-inference-vips:load-balancer',
    ]);
  });

  it('lets GCP learn the same prefixes over its Cloud Router and advertise only its training pods', () => {
    const gcp = domain(p, 'gcp-train-vpc');
    assert.deepEqual(routesOf(gcp), [
      `* 10.32.0.0/16 learned ${ROUTER.id}`,
      `* 10.34.0.11/32 learned ${ROUTER.id}`,
      `* 10.34.0.12/32 learned ${ROUTER.id}`,
      `* 10.40.0.0/24 learned ${ROUTER.id}`,
    ]);
    assert.deepEqual(
      gcp.announcements.map((a) => [a.prefix, a.toward, a.links]),
      [['10.64.0.0/16', ['onprem-fra'], ['gcp-train-vpc->onprem-fra']]],
    );
  });

  it('announces from the site the inference pods, the LoadBalancer pool and the clusterset VIPs, with its next hop and communities', () => {
    const site = domain(p, 'onprem-fra');
    assert.deepEqual(
      site.announcements.map((a) => `${a.prefix} ${a.role} nh=${a.nextHop ?? '-'} ${a.communities.join(',')} to ${a.toward.join('+')}`),
      [
        '10.32.0.0/16 pods nh=192.0.2.10 64512:100 to aws-train-vpc+gcp-train-vpc',
        '10.40.0.0/24 load-balancer nh=192.0.2.10 64512:100 to aws-train-vpc+gcp-train-vpc',
        '10.255.0.0/16 clusterset-ips nh=192.0.2.10 64512:100 to aws-train-vpc+gcp-train-vpc',
      ],
    );
    assert.deepEqual(site.announcements[0]?.peers, [{ address: '192.0.2.1', asn: 64600 }]);
    // The site's service CIDR and its declared /12 are not offered to anyone.
    assert.ok(!site.announcements.some((a) => a.prefix === '10.33.0.0/20' || a.prefix === '10.32.0.0/12'));
    assert.deepEqual(routesOf(site), ['* 10.16.0.0/16 learned aws-train-vpc', '* 10.64.0.0/16 learned gcp-train-vpc']);
  });

  it('opens TCP 8000 to the inference pods and 9090 to the feature store, from the training pods only', () => {
    const fw = (d: DomainPlan): string[] =>
      d.firewall.map((f) => `${f.direction} ${f.protocol}/${f.fromPort} ${f.sources.join(',')} -> ${f.destinations.join(',')} ${f.services.join(',')}`);
    assert.deepEqual(fw(domain(p, 'aws-train-vpc')), [
      'egress TCP/8000 10.16.0.0/16 -> 10.32.0.0/16 inference/llm-serving',
      'egress TCP/9090 10.16.0.0/16 -> 10.34.0.11/32,10.34.0.12/32 inference/feature-store',
    ]);
    assert.deepEqual(fw(domain(p, 'gcp-train-vpc')), [
      'egress TCP/8000 10.64.0.0/16 -> 10.32.0.0/16 inference/llm-serving',
      'egress TCP/9090 10.64.0.0/16 -> 10.34.0.11/32,10.34.0.12/32 inference/feature-store',
    ]);
    assert.deepEqual(fw(domain(p, 'onprem-fra')), [
      'ingress TCP/8000 10.16.0.0/16 -> 10.32.0.0/16 inference/llm-serving',
      'ingress TCP/9090 10.16.0.0/16 -> 10.34.0.11/32,10.34.0.12/32 inference/feature-store',
      'ingress TCP/8000 10.64.0.0/16 -> 10.32.0.0/16 inference/llm-serving',
      'ingress TCP/9090 10.64.0.0/16 -> 10.34.0.11/32,10.34.0.12/32 inference/feature-store',
    ]);
  });

  it('does not route the training VPCs to each other through the site: they have no link, and the plan says so', () => {
    assert.deepEqual(
      p.unreachable.map((u) => [u.from, u.to, u.message]),
      [
        ['aws-train-vpc', 'gcp-train-vpc', 'no link between Network "aws-train-vpc" and Network "gcp-train-vpc"'],
        ['gcp-train-vpc', 'aws-train-vpc', 'no link between Network "gcp-train-vpc" and Network "aws-train-vpc"'],
      ],
    );
    assert.ok(!domain(p, 'aws-train-vpc').routes.some((r) => r.destination === '10.64.0.0/16'));
    assert.ok(!domain(p, 'gcp-train-vpc').routes.some((r) => r.destination === '10.16.0.0/16'));
  });

  it('is the same whatever order the resources come in, and the same when one domain is planned alone', () => {
    const j = journey3();
    const reversed = { networks: [...j.networks].reverse(), pools: [...j.pools].reverse(), clusters: [...j.clusters].reverse() };
    assert.deepEqual(plan(reversed, { services: [...JOURNEY3_SERVICES].reverse() }), p);
    const alone = plan(j, { services: JOURNEY3_SERVICES, only: ['aws-train-vpc'] });
    assert.deepEqual(
      alone.domains.map((d) => d.domain),
      ['aws-train-vpc'],
    );
    assert.deepEqual(alone.domains[0], domain(p, 'aws-train-vpc'));
  });
});

describe('route plan: pod routes narrowed to the flows policy allows (podRoutes: allowed-flows)', () => {
  const narrowed = (sources: NonNullable<ExportedService['sources']>): ExportedService[] =>
    JOURNEY3_SERVICES.map((s) => (s.name === 'llm-serving' ? { ...s, sources } : s));

  it('routes the same as a clusterset when policy narrows no consumer to nothing', () => {
    const byPolicy = plan(journey3(), { services: narrowed({ 'aws-train': { 'TCP/8000': ['10.16.1.10'] } }), podRoutes: 'allowed-flows' });
    const byClusterset = plan(journey3(), { services: JOURNEY3_SERVICES });
    for (const d of ['aws-train-vpc', 'gcp-train-vpc', 'onprem-fra']) {
      assert.deepEqual(routesOf(domain(byPolicy, d)), routesOf(domain(byClusterset, d)), d);
      assert.deepEqual(domain(byPolicy, d).announcements, domain(byClusterset, d).announcements, d);
    }
  });

  it('drops the pod routes both ways between domains whose clusters policy lets reach no exported service, and keeps pools and external endpoints', () => {
    const p = plan(journey3(), { services: narrowed({ 'gcp-train': { 'TCP/8000': [] } }), podRoutes: 'allowed-flows' });
    // gcp-train may not reach llm-serving at all: no route to the inference pods, none back to the training pods.
    assert.deepEqual(routesOf(domain(p, 'gcp-train-vpc')), [
      `* 10.34.0.11/32 learned ${ROUTER.id}`,
      `* 10.34.0.12/32 learned ${ROUTER.id}`,
      `* 10.40.0.0/24 learned ${ROUTER.id}`,
    ]);
    assert.deepEqual(routesOf(domain(p, 'onprem-fra')), ['* 10.16.0.0/16 learned aws-train-vpc']);
    assert.deepEqual(domain(p, 'gcp-train-vpc').announcements, []);
    const site = domain(p, 'onprem-fra').announcements.map((a) => `${a.prefix} to ${a.toward.join('+')}`);
    assert.deepEqual(site, ['10.32.0.0/16 to aws-train-vpc', '10.40.0.0/24 to aws-train-vpc+gcp-train-vpc', '10.255.0.0/16 to aws-train-vpc+gcp-train-vpc']);
    // aws-train still reaches the inference pods as before.
    assert.ok(routesOf(domain(p, 'aws-train-vpc')).includes(`* 10.32.0.0/16 static ${AWS_TGW}`));
  });

  it('routes no pods between domains no exported service joins', () => {
    const p = plan(journey3(), { services: [], podRoutes: 'allowed-flows' });
    for (const d of ['aws-train-vpc', 'gcp-train-vpc', 'onprem-fra']) {
      assert.ok(
        domain(p, d).routes.every((r) => r.covers.every((c) => c.role !== 'pods')),
        `${d}: ${routesOf(domain(p, d)).join('; ')}`,
      );
    }
  });
});

describe('route plan: summarisation at the route table quota', () => {
  const observed = (routes: ObservedRoute[]): PlanOptions => ({
    observed: { 'aws-train-vpc': { routeTables: [{ id: 'rtb-0a1b2c3d', routes: [LOCAL, DEFAULT_VIA_IGW, ...routes] }] } },
  });
  const cases: {
    name: string;
    pods: string[][];
    quota: number;
    routes?: ObservedRoute[];
    expect: string[];
    didNotFit?: string[];
  }[] = [
    {
      name: 'four contiguous /16s become one /14, which fits',
      pods: [['10.32.0.0/16'], ['10.33.0.0/16'], ['10.34.0.0/16'], ['10.35.0.0/16']],
      quota: 2,
      expect: ['rtb-0a1b2c3d 10.32.0.0/14'],
    },
    {
      name: 'what does not fit after summarising is refused, in address order',
      pods: [['10.32.0.0/16'], ['10.33.0.0/16'], ['10.36.0.0/16'], ['10.38.0.0/16'], ['10.50.0.0/16']],
      // The default route uses one slot (the local route does not count): two are left.
      quota: 3,
      expect: ['rtb-0a1b2c3d 10.32.0.0/15', 'rtb-0a1b2c3d 10.36.0.0/16'],
      didNotFit: ['10.38.0.0/16', '10.50.0.0/16'],
    },
    {
      name: 'a route already in place keeps its slot when a new prefix arrives',
      pods: [['10.32.0.0/16'], ['10.33.0.0/16'], ['10.36.0.0/16'], ['10.38.0.0/16'], ['10.50.0.0/16']],
      quota: 3,
      routes: [route('10.50.0.0/16', TGW, 'causeway')],
      expect: ['rtb-0a1b2c3d 10.32.0.0/15', 'rtb-0a1b2c3d 10.50.0.0/16'],
      didNotFit: ['10.36.0.0/16', '10.38.0.0/16'],
    },
    {
      name: 'prefixes that are not contiguous are never widened to fit',
      pods: [['10.32.0.0/16'], ['10.34.0.0/16']],
      quota: 2,
      expect: ['rtb-0a1b2c3d 10.32.0.0/16'],
      didNotFit: ['10.34.0.0/16'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(awsToOnprem(c.pods, { maxRoutesPerTable: c.quota }), observed(c.routes ?? []));
      const aws = domain(p, 'aws-train-vpc');
      assert.deepEqual(
        aws.routes.map((r) => `${r.table ?? '*'} ${r.destination}`),
        c.expect,
      );
      const quota = aws.problems.filter((x) => x.reason === 'RouteQuotaExceeded');
      if (c.didNotFit === undefined) assert.deepEqual(quota, []);
      else {
        assert.equal(quota.length, 1);
        const q = quota[0];
        assert.ok(q?.reason === 'RouteQuotaExceeded');
        assert.deepEqual([q.table, q.quota, q.usedByOthers, q.didNotFit], ['rtb-0a1b2c3d', c.quota, 1, c.didNotFit]);
        assert.match(q.message, new RegExp(`route table rtb-0a1b2c3d holds at most ${c.quota} IPv4 routes .*${c.didNotFit.join(', ')}`));
      }
    });
  }

  it('keeps track of every prefix a summary carries', () => {
    const p = plan(awsToOnprem([['10.32.0.0/16'], ['10.33.0.0/16']]));
    const r = domain(p, 'aws-train-vpc').routes;
    assert.deepEqual(
      r.map((x) => [x.destination, x.covers.map((c) => `${c.owner.name}:${c.cidr}`)]),
      [['10.32.0.0/15', ['onprem-0:10.32.0.0/16', 'onprem-1:10.33.0.0/16']]],
    );
  });

  it('checks the quota of every managed table on its own', () => {
    const p = plan(awsToOnprem([['10.32.0.0/16'], ['10.34.0.0/16']], { maxRoutesPerTable: 2 }), {
      observed: {
        'aws-train-vpc': {
          routeTables: [
            { id: 'rtb-0000000a', routes: [LOCAL] },
            { id: 'rtb-0000000b', routes: [LOCAL, DEFAULT_VIA_IGW] },
          ],
        },
      },
    });
    const aws = domain(p, 'aws-train-vpc');
    assert.deepEqual(
      aws.routes.map((r) => `${r.table ?? '*'} ${r.destination}`),
      ['rtb-0000000a 10.32.0.0/16', 'rtb-0000000a 10.34.0.0/16', 'rtb-0000000b 10.32.0.0/16'],
    );
    assert.deepEqual(
      aws.problems.map((x) => (x.reason === 'RouteQuotaExceeded' ? [x.table, x.didNotFit] : x.reason)),
      [['rtb-0000000b', ['10.34.0.0/16']]],
    );
  });

  it('without an observation, plans every managed table against the Network quota', () => {
    const p = plan(awsToOnprem([['10.32.0.0/16'], ['10.34.0.0/16'], ['10.36.0.0/16']], { maxRoutesPerTable: 2 }));
    const q = domain(p, 'aws-train-vpc').problems[0];
    assert.ok(q?.reason === 'RouteQuotaExceeded');
    assert.deepEqual([q.table, q.didNotFit], ['every managed route table', ['10.36.0.0/16']]);
  });
});

describe('route plan: routes Causeway does not own', () => {
  const VGW: RouteTarget = { kind: 'vpn-gateway', id: 'vgw-0f0f0f0f' };
  const PCX: RouteTarget = { kind: 'vpc-peering', id: 'pcx-0e0e0e0e' };
  const cases: { name: string; foreign: ObservedRoute; pods: string[]; routed: string[]; conflict?: string }[] = [
    {
      name: 'a wider foreign route to another target: the narrower route would shadow it, so it is reported, not planned',
      foreign: route('10.32.0.0/12', VGW),
      pods: ['10.32.0.0/16'],
      routed: [],
      conflict: '10.32.0.0/16 over 10.32.0.0/12 via vgw-0f0f0f0f',
    },
    {
      name: 'the same destination to another target is a conflict too',
      foreign: route('10.32.0.0/16', PCX),
      pods: ['10.32.0.0/16'],
      routed: [],
      conflict: '10.32.0.0/16 over 10.32.0.0/16 via pcx-0e0e0e0e',
    },
    {
      name: 'a propagated route counts as foreign: a static route would override it',
      foreign: route('10.32.0.0/16', VGW, 'foreign', 'propagated'),
      pods: ['10.32.0.0/16'],
      routed: [],
      conflict: '10.32.0.0/16 over 10.32.0.0/16 via vgw-0f0f0f0f',
    },
    {
      name: 'a foreign route doing exactly what the plan wants is left to do it',
      foreign: route('10.32.0.0/16', TGW),
      pods: ['10.32.0.0/16'],
      routed: [],
    },
    {
      name: 'a narrower foreign route inside the planned one is not shadowed (it stays the more specific)',
      foreign: route('10.32.5.0/24', PCX),
      pods: ['10.32.0.0/16'],
      routed: ['10.32.0.0/16'],
    },
    {
      name: 'a default route is narrowed by design, never a conflict',
      foreign: DEFAULT_VIA_IGW,
      pods: ['10.32.0.0/16'],
      routed: ['10.32.0.0/16'],
    },
    {
      name: 'a prefix inside the VPC itself would shadow its local route',
      foreign: LOCAL,
      pods: ['10.20.0.0/16'],
      routed: [],
      conflict: '10.20.0.0/16 over 10.16.0.0/12 via local',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(awsToOnprem([c.pods, ['10.60.0.0/16']]), {
        observed: { 'aws-train-vpc': { routeTables: [{ id: 'rtb-0a1b2c3d', routes: [c.foreign] }] } },
      });
      const aws = domain(p, 'aws-train-vpc');
      // The second site cluster (10.60.0.0/16, outside every foreign route) is routed whatever happens to the first.
      assert.deepEqual(
        aws.routes.map((r) => r.destination),
        [...c.routed, '10.60.0.0/16'],
      );
      assert.deepEqual(
        aws.problems.map((x) => (x.reason === 'RouteConflict' ? `${x.destination} over ${x.foreign.destination} via ${x.foreign.target.id}` : x.reason)),
        c.conflict === undefined ? [] : [c.conflict],
      );
    });
  }

  it('names the table, both routes and whose prefix it was in the conflict message', () => {
    const p = plan(awsToOnprem([['10.32.0.0/16']]), {
      observed: { 'aws-train-vpc': { routeTables: [{ id: 'rtb-0a1b2c3d', routes: [route('10.32.0.0/12', VGW)] }] } },
    });
    const x = domain(p, 'aws-train-vpc').problems[0];
    assert.ok(x?.reason === 'RouteConflict');
    assert.equal(
      x.message,
      `route table rtb-0a1b2c3d: a route to 10.32.0.0/16 via ${AWS_TGW} would take traffic from 10.32.0.0/12 via vgw-0f0f0f0f, which Causeway does not own; not planned`,
    );
    assert.deepEqual(x.covers, [{ cidr: '10.32.0.0/16', owner: { kind: 'cluster', name: 'onprem-0' }, role: 'pods' }]);
  });
});

describe('route plan: IPv6', () => {
  const input = (): ModelInput =>
    awsToOnprem(
      [
        ['10.32.0.0/16', 'fd00:32::/56'],
        ['fd00:32:0:100::/56', '10.33.0.0/16'],
      ],
      {},
      ['10.16.0.0/16', 'fd00:16::/56'],
    );
  const services: ExportedService[] = [
    { namespace: 'inference', name: 'llm-serving', ports: [{ port: 8000 }], exporters: [{ cluster: 'onprem-0' }, { cluster: 'onprem-1' }] },
  ];

  it('routes each family on its own, summarising IPv6 prefixes like IPv4 ones', () => {
    const aws = domain(plan(input(), { services }), 'aws-train-vpc');
    assert.deepEqual(
      aws.routes.map((r) => `${r.family} ${r.destination}`),
      ['4 10.32.0.0/15', '6 fd00:32::/55'],
    );
  });

  it('counts the quota per family', () => {
    const p = plan(
      awsToOnprem(
        [
          ['10.32.0.0/16', 'fd00:32::/56'],
          ['10.34.0.0/16', 'fd00:34::/56'],
        ],
        { maxRoutesPerTable: 1 },
        ['10.16.0.0/16', 'fd00:16::/56'],
      ),
    );
    const aws = domain(p, 'aws-train-vpc');
    assert.deepEqual(
      aws.routes.map((r) => r.destination),
      ['10.32.0.0/16', 'fd00:32::/56'],
    );
    assert.deepEqual(
      aws.problems.map((x) => (x.reason === 'RouteQuotaExceeded' ? `${x.family} ${x.didNotFit.join(',')}` : x.reason)),
      ['4 10.34.0.0/16', '6 fd00:34::/56'],
    );
  });

  it('opens each family from its own sources to its own destinations', () => {
    const aws = domain(plan(input(), { services }), 'aws-train-vpc');
    assert.deepEqual(
      aws.firewall.map((f) => `${f.direction} ${f.family} ${f.sources.join(',')} -> ${f.destinations.join(',')}`),
      ['egress 4 10.16.0.0/16 -> 10.32.0.0/15', 'egress 6 fd00:16::/56 -> fd00:32::/55'],
    );
  });

  it('does not open IPv6 from a consumer that has no IPv6 pods', () => {
    const i = awsToOnprem([['10.32.0.0/16', 'fd00:32::/56']]);
    const one: ExportedService = { namespace: 'inference', name: 'llm-serving', ports: [{ port: 8000 }], exporters: [{ cluster: 'onprem-0' }] };
    const aws = domain(plan(i, { services: [one] }), 'aws-train-vpc');
    assert.deepEqual(
      aws.firewall.map((f) => f.family),
      [4],
    );
  });
});

describe('route plan: links and clustersets', () => {
  it('reports a link that names nothing to route at, and plans no route over it', () => {
    const input = awsToOnprem([['10.32.0.0/16']], { transitGatewayId: undefined, transitGatewayAttachmentId: undefined });
    const p = plan(input);
    const aws = domain(p, 'aws-train-vpc');
    assert.deepEqual(aws.routes, []);
    assert.deepEqual(
      aws.problems.map((x) => [x.reason, x.message]),
      [['LinkUnresolved', 'Network "aws-train-vpc" sets no spec.aws.transitGatewayId or spec.aws.vpnGatewayId for its vpn link to "onprem-fra"']],
    );
    assert.deepEqual(
      p.unreachable.map((u) => `${u.from}->${u.to}`),
      ['aws-train-vpc->onprem-fra'],
    );
  });

  it('routes over a virtual private gateway when the VPC has no transit gateway', () => {
    const p = plan(awsToOnprem([['10.32.0.0/16']], { transitGatewayId: undefined, transitGatewayAttachmentId: undefined, vpnGatewayId: 'vgw-0a1b2c3d' }));
    assert.deepEqual(routesOf(domain(p, 'aws-train-vpc')), ['* 10.32.0.0/16 static vgw-0a1b2c3d']);
  });

  it('needs each side to declare its own link to route from it', () => {
    const input: ModelInput = {
      networks: [awsNetwork(), onpremNetwork('onprem-fra', { links: [] })],
      pools: [],
      clusters: [cluster('aws-train', 'aws', 'aws-train-vpc', ['10.16.0.0/16']), cluster('site', 'onprem', 'onprem-fra', ['10.32.0.0/16'])],
    };
    const p = plan(input);
    assert.deepEqual(routesOf(domain(p, 'aws-train-vpc')), [`* 10.32.0.0/16 static ${AWS_TGW}`]);
    assert.deepEqual(routesOf(domain(p, 'onprem-fra')), []);
    assert.deepEqual(
      p.unreachable.map((u) => u.message),
      ['Network "onprem-fra" declares no link to "aws-train-vpc" (only "aws-train-vpc" links to "onprem-fra"): declare onprem-fra\'s side to route from it'],
    );
  });

  it('routes only between members of one clusterset', () => {
    const input: ModelInput = {
      networks: [awsNetwork(), gcpNetwork(), onpremNetwork()],
      pools: [],
      clusters: [
        cluster('aws-train', 'aws', 'aws-train-vpc', ['10.16.0.0/16'], { clusterSet: 'training' }),
        cluster('site-a', 'onprem', 'onprem-fra', ['10.32.0.0/16'], { clusterSet: 'training' }),
        cluster('site-b', 'onprem', 'onprem-fra', ['10.36.0.0/16'], { clusterSet: 'other' }),
        cluster('gcp-train', 'gcp', 'gcp-train-vpc', ['10.64.0.0/16'], { clusterSet: 'other' }),
      ],
    };
    const p = plan(input);
    assert.deepEqual(routesOf(domain(p, 'aws-train-vpc')), [`* 10.32.0.0/16 static ${AWS_TGW}`]);
    assert.deepEqual(routesOf(domain(p, 'gcp-train-vpc')), [`* 10.36.0.0/16 learned ${ROUTER.id}`]);
    assert.deepEqual(
      domain(p, 'onprem-fra').announcements.map((a) => `${a.prefix} to ${a.toward.join('+')}`),
      ['10.32.0.0/16 to aws-train-vpc', '10.36.0.0/16 to gcp-train-vpc'],
    );
  });

  it("narrows the openings to the sources GlobalPolicy allows: a consumer's allowed pods as host prefixes, none where it allows nothing", () => {
    const narrowed: ExportedService[] = JOURNEY3_SERVICES.map((s) =>
      s.name === 'llm-serving' ? { ...s, sources: { 'aws-train': { 'TCP/8000': ['10.16.1.10'] }, 'gcp-train': { 'TCP/8000': [] } } } : s,
    );
    const p2 = plan(journey3(), { services: narrowed });
    const fw = (d: DomainPlan): string[] =>
      d.firewall.map((f) => `${f.direction} ${f.protocol}/${f.fromPort} ${f.sources.join(',')} -> ${f.destinations.join(',')}`);
    assert.deepEqual(fw(domain(p2, 'aws-train-vpc')), [
      'egress TCP/8000 10.16.1.10/32 -> 10.32.0.0/16',
      'egress TCP/9090 10.16.0.0/16 -> 10.34.0.11/32,10.34.0.12/32',
    ]);
    assert.deepEqual(fw(domain(p2, 'gcp-train-vpc')), ['egress TCP/9090 10.64.0.0/16 -> 10.34.0.11/32,10.34.0.12/32']);
    assert.deepEqual(fw(domain(p2, 'onprem-fra')), [
      'ingress TCP/8000 10.16.1.10/32 -> 10.32.0.0/16',
      'ingress TCP/9090 10.16.0.0/16 -> 10.34.0.11/32,10.34.0.12/32',
      'ingress TCP/9090 10.64.0.0/16 -> 10.34.0.11/32,10.34.0.12/32',
    ]);
  });

  it('opens firewalls between clusters of one domain without routing anything', () => {
    const networks: NetworkResource[] = [awsNetwork('aws-train-vpc', {}, { links: [] })];
    const input: ModelInput = {
      networks,
      pools: [pool('lb', 'LoadBalancer', ['10.99.0.0/24'], 'aws-train-vpc')],
      clusters: [cluster('a', 'aws', 'aws-train-vpc', ['10.16.0.0/16']), cluster('b', 'aws', 'aws-train-vpc', ['10.18.0.0/16'])],
    };
    const d = domain(
      plan(input, { services: [{ namespace: 'ns', name: 's', ports: [{ protocol: 'UDP', port: 53 }], exporters: [{ cluster: 'b' }] }] }),
      'aws-train-vpc',
    );
    assert.deepEqual(d.routes, []);
    assert.deepEqual(
      d.firewall.map((f) => `${f.direction} ${f.protocol}/${f.fromPort} ${f.sources.join(',')} -> ${f.destinations.join(',')} peer=${f.peerDomain}`),
      ['egress UDP/53 10.16.0.0/16 -> 10.18.0.0/16 peer=aws-train-vpc', 'ingress UDP/53 10.16.0.0/16 -> 10.18.0.0/16 peer=aws-train-vpc'],
    );
  });
});
