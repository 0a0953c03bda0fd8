// The GCP adapter's pure decisions (providers/gcp/gcp-diff.ts): names and ownership of routes and
// firewall rules, what the plan wants in Compute's terms, the network as the planner sees it, and
// the changes from observed to planned — routes, rules and Cloud Router advertised ranges.
import assert from 'node:assert/strict';
import type { FirewallGcp, RouteGcp, RouterGcp, RouteSpec } from '../../../providers/gcp/compute-api.ts';
import {
  desiredFirewalls,
  desiredRanges,
  desiredRoutes,
  diffGcp,
  isOurs,
  namePrefix,
  observedPrefixes,
  observedTable,
  ownerMarker,
  rangeMarker,
  resourceName,
  type DiffInput,
} from '../../../providers/gcp/gcp-diff.ts';
import type { GcpDomain } from '../../../providers/model/model.ts';
import { planRoutes } from '../../../providers/model/route-plan.ts';
import { buildModel } from '../../../providers/model/translate.ts';
import { GCP_DOMAIN, GCP_JOURNEY3_SERVICES, gcpJourney3, gcpStaticNetwork } from '../../fixtures/providers/gcp-journey3.ts';

const BASE = 'https://www.googleapis.com/compute/v1/';
const NET = `${BASE}projects/ml-platform-prod/global/networks/train`;
const T1 = `${BASE}projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-1`;
const T2 = `${BASE}projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-2`;
const NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const MARK = ownerMarker(GCP_DOMAIN);

function staticPlan() {
  const model = buildModel(gcpJourney3(gcpStaticNetwork()));
  const domain = model.domains.find((d): d is GcpDomain => d.name === GCP_DOMAIN && d.provider === 'gcp');
  assert.ok(domain !== undefined);
  const dp = planRoutes(model, { services: GCP_JOURNEY3_SERVICES, only: [GCP_DOMAIN] }).domains[0];
  assert.ok(dp !== undefined);
  return { domain, dp };
}

const route = (name: string, destRange: string, extra: Partial<RouteGcp> = {}): RouteGcp => ({
  name,
  network: NET,
  destRange,
  priority: 1000,
  nextHop: { field: 'vpn-tunnel', target: T1 },
  description: MARK,
  routeType: 'STATIC',
  tags: [],
  ...extra,
});

const asObserved = (spec: RouteSpec, extra: Partial<RouteGcp> = {}): RouteGcp => route(spec.name, spec.destRange, { description: spec.description, ...extra });

const rule = (spec: ReturnType<typeof desiredFirewalls>[number], extra: Partial<FirewallGcp> = {}): FirewallGcp => ({
  ...spec,
  denied: [],
  disabled: false,
  sourceTags: [],
  targetTags: [],
  sourceServiceAccounts: [],
  targetServiceAccounts: [],
  ...extra,
});

const router = (mode: 'DEFAULT' | 'CUSTOM', ranges: [string, string][], groups: string[] = mode === 'CUSTOM' ? ['ALL_SUBNETS'] : []): RouterGcp => ({
  name: 'train-router',
  region: 'europe-west4',
  network: NET,
  bgp: { asn: 64514, advertiseMode: mode, advertisedGroups: groups, advertisedIpRanges: ranges.map(([range, description]) => ({ range, description })) },
  customPeers: [],
});

const diff = (input: Partial<DiffInput>) =>
  diffGcp({ network: GCP_DOMAIN, routes: [], firewalls: [], router: undefined, desiredRoutes: [], desiredFirewalls: [], desiredRanges: [], ...input });

describe('GCP adapter decisions (pure)', () => {
  describe('names and ownership', () => {
    it('names are valid Compute names of at most 63 characters, deterministic, and the Network’s own', () => {
      for (const readable of ['10.32.0.0/16', '2600:1f18:4a1b:1600::/56', 'x'.repeat(200), '', '--Eg TCP 8000--']) {
        const n = resourceName(GCP_DOMAIN, readable, `key ${readable}`);
        assert.match(n, NAME, n);
        assert.ok(n.length <= 63 && n.startsWith(namePrefix(GCP_DOMAIN)), n);
        assert.equal(resourceName(GCP_DOMAIN, readable, `key ${readable}`), n);
      }
      assert.ok(resourceName(GCP_DOMAIN, '10.32.0.0/16', 'k').startsWith(`${namePrefix(GCP_DOMAIN)}10-32-0-0-16-`));
      assert.notEqual(namePrefix(GCP_DOMAIN), namePrefix('gcp-other-vpc'));
      assert.notEqual(resourceName(GCP_DOMAIN, 'r', 'a'), resourceName(GCP_DOMAIN, 'r', 'b'));
    });

    const owned: { name: string; object: { name: string; description: string }; ours: boolean }[] = [
      { name: 'prefix and description', object: { name: `${namePrefix(GCP_DOMAIN)}x-1`, description: `${MARK}: a route` }, ours: true },
      { name: 'prefix and bare description', object: { name: `${namePrefix(GCP_DOMAIN)}x-1`, description: MARK }, ours: true },
      { name: 'prefix, someone else’s description', object: { name: `${namePrefix(GCP_DOMAIN)}x-1`, description: 'made by hand' }, ours: false },
      { name: 'description, another name', object: { name: 'netops-x', description: `${MARK}: copied` }, ours: false },
      { name: 'another Network’s prefix and description', object: { name: `${namePrefix('gcp-b')}x`, description: ownerMarker('gcp-b') }, ours: false },
      { name: 'a Network whose name extends this one’s', object: { name: `${namePrefix(GCP_DOMAIN)}x`, description: `${MARK}-2: x` }, ours: false },
    ];
    for (const c of owned) {
      it(`ownership: ${c.name} → ${c.ours ? 'Causeway’s' : 'foreign'}`, () => {
        assert.equal(isOurs(c.object, GCP_DOMAIN), c.ours);
      });
    }
  });

  describe('what the plan wants', () => {
    it('a custom route per static destination to the tunnel, at priority 1000 in the network, described as Causeway’s', () => {
      const { domain, dp } = staticPlan();
      const routes = desiredRoutes(domain, dp.routes, NET);
      assert.deepEqual(
        routes.map((r) => [r.destRange, r.nextHopVpnTunnel, r.priority, r.network]),
        ['10.32.0.0/16', '10.34.0.11/32', '10.34.0.12/32', '10.40.0.0/24'].map((d) => [d, T1, 1000, NET]),
      );
      for (const r of routes) {
        assert.ok(isOurs(r, GCP_DOMAIN), r.name);
        assert.match(r.description, /^managed-by causeway network=gcp-train-vpc: 10\.\S+ over gcp-train-vpc->onprem-fra \(/);
      }
    });

    it('no custom route where the route is learned over the Cloud Router (interconnect)', () => {
      const model = buildModel(gcpJourney3());
      const domain = model.domains.find((d): d is GcpDomain => d.provider === 'gcp');
      assert.ok(domain !== undefined);
      const dp = planRoutes(model, { services: GCP_JOURNEY3_SERVICES, only: [GCP_DOMAIN] }).domains[0];
      assert.ok(dp !== undefined && dp.routes.length > 0 && dp.routes.every((r) => r.mode === 'learned'));
      assert.deepEqual(desiredRoutes(domain, dp.routes, NET), []);
      assert.deepEqual(desiredRanges(domain, dp.announcements), ['10.64.0.0/16']);
    });

    it('a tunnel in a Network without a Cloud Router: static routes, nothing to advertise', () => {
      const model = buildModel(gcpJourney3(gcpStaticNetwork({ cloudRouter: false })));
      const dp = planRoutes(model, { services: GCP_JOURNEY3_SERVICES, only: [GCP_DOMAIN] }).domains[0];
      assert.deepEqual([dp?.routes.filter((r) => r.mode === 'static').length, dp?.announcements], [4, []]);
    });

    it('firewall rules: egress where the consumer lives, ingress where the exporter lives, sources to destinations, allow only', () => {
      const { domain, dp } = staticPlan();
      assert.deepEqual(
        desiredFirewalls(domain, dp.firewall, NET).map((f) => [f.direction, f.sourceRanges, f.destinationRanges, f.allowed, f.priority]),
        [
          ['EGRESS', ['10.64.0.0/16'], ['10.32.0.0/16'], [{ protocol: 'tcp', ports: ['8000'] }], 1000],
          ['EGRESS', ['10.64.0.0/16'], ['10.34.0.11/32', '10.34.0.12/32'], [{ protocol: 'tcp', ports: ['9090'] }], 1000],
          ['INGRESS', ['10.32.0.0/16'], ['10.64.0.0/16'], [{ protocol: 'tcp', ports: ['9000'] }], 1000],
        ],
      );
      const ranged = desiredFirewalls(domain, [{ ...(dp.firewall[0] ?? assert.fail()), protocol: 'UDP', fromPort: 5000, toPort: 5010 }], NET)[0];
      assert.deepEqual(
        [ranged?.allowed, ranged?.description.includes('egress udp/5000-5010 to onprem-fra for inference/llm-serving')],
        [[{ protocol: 'udp', ports: ['5000-5010'] }], true],
      );
    });
  });

  describe('what was observed', () => {
    it('the network is one route table for the planner: subnet routes local, BGP ones propagated, tunnels by their partial URL', () => {
      const { domain } = staticPlan();
      const t = observedTable(domain, [
        route('default-route-1', '10.48.0.0/20', { nextHop: { field: 'network', target: NET }, routeType: 'SUBNET', description: '' }),
        route('netops-dmz', '192.168.0.0/16', { nextHop: { field: 'vpn-tunnel', target: T2 }, description: 'netops' }),
        route(`${namePrefix(GCP_DOMAIN)}a`, '10.32.0.0/16'),
        route('learned', '10.99.0.0/16', { routeType: 'BGP', description: '' }),
        route('broken', 'not-a-cidr'),
      ]);
      assert.equal(t.id, 'projects/ml-platform-prod/global/networks/train');
      assert.deepEqual(
        t.routes.map((r) => `${r.destination} ${r.owner} ${r.origin} ${r.target.kind} ${r.target.id}`),
        [
          `10.48.0.0/20 foreign local other projects/ml-platform-prod/global/networks/train`,
          '192.168.0.0/16 foreign static vpn-gateway projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-2',
          '10.32.0.0/16 causeway static vpn-gateway projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-1',
          '10.99.0.0/16 foreign propagated vpn-gateway projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-1',
        ],
      );
    });

    it('observed prefixes: every subnetwork range, primary, secondary and IPv6, normalised, once', () => {
      assert.deepEqual(
        observedPrefixes([
          {
            name: 'a',
            region: 'r',
            network: NET,
            ranges: [
              { cidr: '10.48.0.0/20', range: 'primary' },
              { cidr: '10.64.0.0/16', range: 'pods' },
              { cidr: 'FD20:A1B:2C3D:4E5F:0:0:0:0/64', range: 'ipv6' },
            ],
          },
          {
            name: 'b',
            region: 'r',
            network: NET,
            ranges: [
              { cidr: '10.64.0.0/16', range: 'pods' },
              { cidr: 'garbage', range: 'primary' },
            ],
          },
        ]),
        ['10.48.0.0/20', '10.64.0.0/16', 'fd20:a1b:2c3d:4e5f::/64'],
      );
    });
  });

  describe('changes', () => {
    const { domain, dp } = staticPlan();
    const wanted = desiredRoutes(domain, dp.routes, NET);
    const [w0, w1, w2, w3] = wanted as [RouteSpec, RouteSpec, RouteSpec, RouteSpec];
    const rules = desiredFirewalls(domain, dp.firewall, NET);
    const [r0, r1, r2] = rules as [(typeof rules)[number], (typeof rules)[number], (typeof rules)[number]];

    const routeCases: { name: string; observed: RouteGcp[]; expect: string[]; unchanged: number; blocked?: string[] }[] = [
      { name: 'nothing there: create all', observed: [], expect: wanted.map((w) => `create ${w.destRange}`), unchanged: 0 },
      { name: 'all there: nothing', observed: wanted.map((w) => asObserved(w)), expect: [], unchanged: 4 },
      {
        name: 'one of ours points elsewhere (recreated), one no longer wanted (deleted last)',
        observed: [
          asObserved(w0, { nextHop: { field: 'vpn-tunnel', target: T2 } }),
          asObserved(w1),
          asObserved(w2),
          asObserved(w3),
          route(`${namePrefix(GCP_DOMAIN)}old`, '10.99.0.0/16'),
        ],
        expect: ['recreate 10.32.0.0/16', 'delete 10.99.0.0/16'],
        unchanged: 3,
      },
      {
        name: 'a foreign route doing exactly what one wants is left to do it; a foreign one under our name blocks',
        observed: [
          route('netops-fra-pods', w0.destRange, { description: 'netops' }),
          asObserved(w1, { description: 'by hand' }),
          asObserved(w2),
          asObserved(w3),
        ],
        expect: [],
        unchanged: 3,
        blocked: [w1.name],
      },
      {
        name: 'foreign routes, even with Causeway-like names or descriptions, are never deleted',
        observed: [
          ...wanted.map((w) => asObserved(w)),
          route(`${namePrefix(GCP_DOMAIN)}x`, '10.98.0.0/16', { description: 'by hand' }),
          route('x', '10.97.0.0/16'),
        ],
        expect: [],
        unchanged: 4,
      },
    ];
    for (const c of routeCases) {
      it(`routes: ${c.name}`, () => {
        const d = diff({ routes: c.observed, desiredRoutes: wanted });
        assert.deepEqual(
          d.routes.map((x) => `${x.op} ${x.op === 'delete' ? x.route.destRange : x.spec.destRange}`),
          c.expect,
        );
        assert.equal(d.unchanged.routes, c.unchanged);
        assert.deepEqual(
          d.blocked.map((b) => b.name),
          c.blocked ?? [],
        );
      });
    }

    const ruleCases: { name: string; observed: FirewallGcp[]; expect: string[]; unchanged: number }[] = [
      { name: 'nothing there: create all', observed: [], expect: rules.map((r) => `create ${r.name}`), unchanged: 0 },
      { name: 'all there: nothing', observed: rules.map((r) => rule(r)), expect: [], unchanged: 3 },
      {
        name: 'narrowed by target tags, disabled, or a range changed: replaced whole',
        observed: [rule(r0, { targetTags: ['gpu'] }), rule(r1, { disabled: true }), rule(r2, { sourceRanges: ['10.32.0.0/17'] })],
        expect: [`replace ${r0.name}`, `replace ${r1.name}`, `replace ${r2.name}`],
        unchanged: 0,
      },
      {
        name: 'same ranges in another order and spelling: unchanged',
        observed: [rule(r0), rule({ ...r1, destinationRanges: [...r1.destinationRanges].reverse() }), rule(r2)],
        expect: [],
        unchanged: 3,
      },
      {
        name: 'one of ours no longer wanted: deleted; a foreign rule is not',
        observed: [
          ...rules.map((r) => rule(r)),
          rule({ ...r0, name: `${namePrefix(GCP_DOMAIN)}gone-1` }),
          rule({ ...r0, name: 'netops-x', description: 'netops' }),
        ],
        expect: [`delete ${namePrefix(GCP_DOMAIN)}gone-1`],
        unchanged: 3,
      },
    ];
    for (const c of ruleCases) {
      it(`firewall rules: ${c.name}`, () => {
        const d = diff({ firewalls: c.observed, desiredFirewalls: rules });
        assert.deepEqual(
          d.firewalls.map((x) => `${x.op} ${x.op === 'delete' ? x.rule.name : x.spec.name}`),
          c.expect,
        );
        assert.equal(d.unchanged.rules, c.unchanged);
      });
    }

    const ours = rangeMarker(GCP_DOMAIN);
    const rangeCases: {
      name: string;
      router: RouterGcp;
      wanted: string[];
      expect: { add: string[]; remove: string[]; mode: string; groups: string[]; ranges: string[] } | undefined;
      unchanged: number;
    }[] = [
      {
        name: 'CUSTOM: added beside the foreign range',
        router: router('CUSTOM', [['10.200.0.0/24', 'netops']]),
        wanted: ['10.64.0.0/16'],
        expect: { add: ['10.64.0.0/16'], remove: [], mode: 'CUSTOM', groups: ['ALL_SUBNETS'], ranges: ['10.200.0.0/24 netops', `10.64.0.0/16 ${ours}`] },
        unchanged: 0,
      },
      {
        name: 'DEFAULT: switched to CUSTOM, keeping all subnets advertised',
        router: router('DEFAULT', []),
        wanted: ['10.64.0.0/16'],
        expect: { add: ['10.64.0.0/16'], remove: [], mode: 'CUSTOM', groups: ['ALL_SUBNETS'], ranges: [`10.64.0.0/16 ${ours}`] },
        unchanged: 0,
      },
      {
        name: 'only its own ranges are withdrawn; a foreign one with its prefix stays',
        router: router('CUSTOM', [
          ['10.200.0.0/24', 'netops'],
          ['10.66.0.0/16', ours],
          ['10.67.0.0/16', 'netops'],
        ]),
        wanted: [],
        expect: { add: [], remove: ['10.66.0.0/16'], mode: 'CUSTOM', groups: ['ALL_SUBNETS'], ranges: ['10.200.0.0/24 netops', '10.67.0.0/16 netops'] },
        unchanged: 0,
      },
      {
        name: 'a foreign range already advertising the prefix: nothing to add',
        router: router('CUSTOM', [['10.64.0.0/16', 'netops']]),
        wanted: ['10.64.0.0/16'],
        expect: undefined,
        unchanged: 1,
      },
      { name: 'DEFAULT and nothing wanted: left in DEFAULT', router: router('DEFAULT', []), wanted: [], expect: undefined, unchanged: 0 },
      {
        name: 'already advertised: nothing',
        router: router('CUSTOM', [['10.64.0.0/16', ours]]),
        wanted: ['10.64.0.0/16'],
        expect: undefined,
        unchanged: 1,
      },
    ];
    for (const c of rangeCases) {
      it(`advertised ranges: ${c.name}`, () => {
        const d = diff({ router: c.router, desiredRanges: c.wanted });
        const r = d.router;
        assert.deepEqual(
          r === undefined
            ? undefined
            : {
                add: r.add,
                remove: r.remove,
                mode: r.bgp.advertiseMode,
                groups: r.bgp.advertisedGroups,
                ranges: r.bgp.advertisedIpRanges.map((x) => `${x.range} ${x.description}`),
              },
          c.expect,
        );
        assert.equal(d.unchanged.announcements, c.unchanged);
      });
    }

    it('makes before it breaks: creations first, deletions last', () => {
      const d = diff({ routes: [route(`${namePrefix(GCP_DOMAIN)}old`, '10.99.0.0/16')], desiredRoutes: wanted });
      assert.deepEqual(
        d.routes.map((x) => x.op),
        ['create', 'create', 'create', 'create', 'delete'],
      );
    });
  });
});
