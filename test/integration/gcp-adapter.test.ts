// The GCP provider adapter (providers/gcp) against the Compute REST API TEST DOUBLE, through the real
// @google-cloud/compute clients. Every test asserts the double's resulting state: the custom routes,
// firewall rules and Cloud Router advertised ranges in it, what Causeway owns and what it left
// alone. The one count of calls is the idempotence check the issue asks for (a second reconcile
// makes no mutating call).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FirewallsClient, RoutersClient, RoutesClient } from '@google-cloud/compute';
import { OAuth2Client } from 'google-auth-library';
import { FixedIntentSource } from '../../providers/model/intents.ts';
import type { DomainReconcileResult } from '../../providers/model/reconcile.ts';
import type { ExportedService } from '../../providers/model/route-plan.ts';
import { buildModel, type ModelInput } from '../../providers/model/translate.ts';
import type { CallBudgetOptions } from '../../providers/gcp/compute-api.ts';
import { computeApi, type ComputeConnection } from '../../providers/gcp/compute-connection.ts';
import { GcpVpcAdapter } from '../../providers/gcp/gcp-adapter.ts';
import { gcpAdapter } from '../../providers/gcp/gcp-factory.ts';
import { namePrefix, ownerMarker } from '../../providers/gcp/gcp-diff.ts';
import {
  GCP_DOMAIN,
  GCP_JOURNEY3_SERVICES,
  GCP_PROJECT,
  GCP_ROUTER,
  gcpJourney3,
  gcpNetworkWith,
  gcpStaticNetwork,
} from '../fixtures/providers/gcp-journey3.ts';
import { JOURNEY3_SERVICES } from '../fixtures/providers/journey3-services.ts';
import { COMPUTE_BASE, readComputeFixture, startComputeDouble, type ComputeDouble, type ComputeDoubleOptions } from '../harness/compute-double.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/providers/compute-journey3.json', import.meta.url));
const TRAIN = `${COMPUTE_BASE}projects/${GCP_PROJECT}/global/networks/train`;
const TUNNEL_1 = `${COMPUTE_BASE}projects/${GCP_PROJECT}/regions/europe-west4/vpnTunnels/train-to-fra-1`;
const TUNNEL_2 = `${COMPUTE_BASE}projects/${GCP_PROJECT}/regions/europe-west4/vpnTunnels/train-to-fra-2`;
const ONPREM = ['10.32.0.0/16', '10.34.0.11/32', '10.34.0.12/32', '10.40.0.0/24'];
const FAST_BUDGET: CallBudgetOptions = { ratePerSecond: 1000, burst: 1000, throttleBackoff: { baseMs: 10, maxMs: 80 } };
const PREFIX = namePrefix(GCP_DOMAIN);

interface Setup {
  double: ComputeDouble;
  adapter: GcpVpcAdapter;
  intents: FixedIntentSource;
  connection: ComputeConnection;
  /** Clients of the test's own, for changes made outside Causeway. */
  outside: { routes: RoutesClient; firewalls: FirewallsClient; routers: RoutersClient };
  reconcile(options?: { dryRun?: boolean }): Promise<DomainReconcileResult>;
  close(): Promise<void>;
}

async function setup(
  opts: {
    model?: ModelInput;
    services?: readonly ExportedService[];
    double?: Omit<ComputeDoubleOptions, 'fixture'>;
    budget?: CallBudgetOptions;
    connection?: { credentialsFile?: string; operationTimeoutMs?: number; environment?: Record<string, string> };
  } = {},
): Promise<Setup> {
  const double = await startComputeDouble({ fixture: await readComputeFixture(FIXTURE), operationDelayMs: 10, waitDeadlineMs: 1000, ...opts.double });
  const intents = new FixedIntentSource({ model: buildModel(opts.model ?? gcpJourney3()), services: opts.services ?? GCP_JOURNEY3_SERVICES });
  // Page size 2, so that every list of the fixture takes several pages.
  const connection = computeApi({ endpoint: double.url, pageSize: 2, environment: {}, readTimeoutMs: 5000, ...opts.connection });
  const adapter = new GcpVpcAdapter({ api: (_d, gate) => connection.forGate(gate), intents, budget: opts.budget ?? FAST_BUDGET });
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'outside' });
  const o = { apiEndpoint: '127.0.0.1', port: double.port, protocol: 'http', authClient };
  const outside = { routes: new RoutesClient(o), firewalls: new FirewallsClient(o), routers: new RoutersClient(o) };
  return {
    double,
    adapter,
    intents,
    connection,
    outside,
    reconcile: (options) => adapter.reconcile(GCP_DOMAIN, new AbortController().signal, options ?? {}),
    close: async () => {
      await connection.close();
      for (const c of Object.values(outside)) await c.close();
      await double.close();
    },
  };
}

/** Waits until every operation the double runs is DONE (for changes made outside Causeway). */
async function settle(double: ComputeDouble): Promise<void> {
  const deadline = Date.now() + 5000;
  while (double.pendingOperations() > 0) {
    if (Date.now() > deadline) assert.fail('operations still running after 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Causeway's custom routes in the train network, as `destination -> tunnel`. */
const causewayRoutes = (double: ComputeDouble): string[] =>
  Object.entries(double.routesOf('train'))
    .filter(([name]) => name.startsWith(PREFIX))
    .map(([, v]) => v)
    .sort();

/** Causeway's firewall rules, as `direction protocol/ports sources > destinations`. */
const causewayRules = (double: ComputeDouble): string[] =>
  double
    .firewallsOf('train')
    .filter((f) => f.name.startsWith(PREFIX))
    .map(
      (f) =>
        `${f.direction} ${(f.allowed ?? []).map((a) => `${a.IPProtocol}/${(a.ports ?? []).join(',')}`).join(' ')} ${(f.sourceRanges ?? []).join(',')} > ${(f.destinationRanges ?? []).join(',')}`,
    )
    .sort();

/** Everything in the double Causeway does not own, as JSON, to compare before and after. */
function foreign(double: ComputeDouble): string[] {
  const s = double.state;
  const out: string[] = [];
  for (const r of s.routes.values()) if (!r.name.startsWith(PREFIX)) out.push(JSON.stringify(r));
  for (const f of s.firewalls.values()) if (!f.name.startsWith(PREFIX)) out.push(JSON.stringify(f));
  for (const r of s.routers.values()) {
    const ranges = (r.bgp?.advertisedIpRanges ?? []).filter((x) => x.description !== `causeway:${GCP_DOMAIN}`);
    out.push(JSON.stringify({ ...r, bgp: { ...r.bgp, advertisedIpRanges: ranges } }));
  }
  for (const t of s.vpnTunnels.values()) out.push(JSON.stringify(t));
  for (const n of s.networks.values()) out.push(JSON.stringify(n));
  return out.sort();
}

/** The double's whole state (operations aside), to prove nothing changed. */
const snapshot = (double: ComputeDouble): string =>
  JSON.stringify(
    Object.entries(double.state).map(([k, v]) => (k === 'operations' || !(v instanceof Map) ? [k] : [k, [...(v as Map<string, unknown>).entries()]])),
  );

describe('GCP adapter against the Compute REST API test double', () => {
  describe('journey 3 over the interconnect (routes learned by the Cloud Router)', () => {
    let s: Setup;
    beforeEach(async () => {
      s = await setup();
    });
    afterEach(() => s.close());

    it('advertises the training pods from the Cloud Router beside what netops advertises, and opens the exported ports', async () => {
      const r = await s.reconcile();
      assert.deepEqual(
        r.changes.filter((c) => c.outcome !== 'done'),
        [],
      );
      assert.deepEqual(s.double.advertisedRanges(GCP_ROUTER.region, GCP_ROUTER.name), [
        '10.200.0.0/24 (netops: legacy DMZ)',
        `10.64.0.0/16 (causeway:${GCP_DOMAIN})`,
      ]);
      const bgp = s.double.state.routers.get(`${GCP_ROUTER.region}/${GCP_ROUTER.name}`)?.bgp;
      assert.deepEqual([bgp?.advertiseMode, bgp?.advertisedGroups], ['CUSTOM', ['ALL_SUBNETS']]);
      // Routes to on-prem are learned over BGP: no custom route.
      assert.deepEqual(causewayRoutes(s.double), []);
      assert.deepEqual(causewayRules(s.double), [
        'EGRESS tcp/8000 10.64.0.0/16 > 10.32.0.0/16',
        'EGRESS tcp/9090 10.64.0.0/16 > 10.34.0.11/32,10.34.0.12/32',
        'INGRESS tcp/9000 10.32.0.0/16 > 10.64.0.0/16',
      ]);
      for (const f of s.double.firewallsOf('train').filter((x) => x.name.startsWith(PREFIX))) {
        assert.ok(f.description?.startsWith(`${ownerMarker(GCP_DOMAIN)}: `), f.name);
        assert.deepEqual([f.priority, f.network, f.targetTags, f.disabled], [1000, TRAIN, undefined, false]);
        assert.match(f.name, /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/);
      }
      assert.deepEqual(
        r.conditions.map((c) => [c.type, c.status, c.reason]),
        [['Degraded', 'False', 'Reconciled']],
      );
      assert.deepEqual(r.status, {
        observedPrefixes: ['10.48.0.0/20', '10.48.16.0/22', '10.49.0.0/20', '10.64.0.0/16', '10.65.0.0/20', 'fd20:a1b:2c3d:4e5f::/64'],
      });
    });

    it('makes no mutating call on a second reconcile (idempotence)', async () => {
      await s.reconcile();
      s.double.resetCounters();
      const again = await s.reconcile();
      assert.equal(s.double.mutatingCalls(), 0);
      assert.deepEqual(again.changes, []);
      assert.deepEqual(again.unchanged, { routes: 0, rules: 3, announcements: 1 });
      assert.equal(again.mutatingCalls, 0);
      assert.ok(s.double.calls() > 0 && s.double.calls() === again.calls, `${s.double.calls()} reads, ${again.calls} counted by the adapter`);
    });

    it('leaves every route, firewall rule and advertised range it does not own as it was', async () => {
      const before = foreign(s.double);
      await s.reconcile();
      assert.deepEqual(foreign(s.double), before);
    });

    it('repairs drift made outside Causeway (a rule deleted, a rule narrowed, a range withdrawn), and counts it', async () => {
      await s.reconcile();
      const rules = s.double.firewallsOf('train').filter((f) => f.name.startsWith(PREFIX));
      const [egress8000, egress9090] = [rules.find((f) => f.allowed?.[0]?.ports?.[0] === '8000'), rules.find((f) => f.allowed?.[0]?.ports?.[0] === '9090')];
      assert.ok(egress8000 !== undefined && egress9090 !== undefined);
      await s.outside.firewalls.delete({ project: GCP_PROJECT, firewall: egress8000.name });
      await s.outside.firewalls.patch({ project: GCP_PROJECT, firewall: egress9090.name, firewallResource: { targetTags: ['only-these'] } });
      await s.outside.routers.patch({
        project: GCP_PROJECT,
        region: GCP_ROUTER.region,
        router: GCP_ROUTER.name,
        routerResource: {
          bgp: {
            asn: 64514,
            advertiseMode: 'CUSTOM',
            advertisedGroups: ['ALL_SUBNETS'],
            advertisedIpRanges: [{ range: '10.200.0.0/24', description: 'netops: legacy DMZ' }],
          },
        },
      });
      await settle(s.double);
      const r = await s.reconcile();
      assert.equal(r.drift, 3);
      assert.deepEqual(
        r.changes.map((c) => [c.kind, c.drift]),
        [
          ['create-firewall', true],
          ['update-firewall', true],
          ['advertise-ranges', true],
        ],
      );
      assert.equal(causewayRules(s.double).length, 3);
      assert.equal(s.double.state.firewalls.get(egress9090.name)?.targetTags, undefined);
      assert.deepEqual(s.double.advertisedRanges(GCP_ROUTER.region, GCP_ROUTER.name), [
        '10.200.0.0/24 (netops: legacy DMZ)',
        `10.64.0.0/16 (causeway:${GCP_DOMAIN})`,
      ]);
    });

    it('removes exactly what was its own when a cluster leaves the plan', async () => {
      await s.reconcile();
      const j = gcpJourney3();
      s.intents.set({
        model: buildModel({ ...j, clusters: j.clusters.filter((c) => c.metadata.name !== 'onprem-inference') }),
        services: GCP_JOURNEY3_SERVICES.filter((x) => x.name === 'feature-store'),
      });
      const before = foreign(s.double);
      const r = await s.reconcile();
      assert.deepEqual(r.changes.map((c) => c.kind).sort(), ['delete-firewall', 'delete-firewall', 'withdraw-ranges']);
      // The feature store's VMs are still consumed from GCP; the inference cluster's openings and
      // the advertisement toward its site go.
      assert.deepEqual(causewayRules(s.double), ['EGRESS tcp/9090 10.64.0.0/16 > 10.34.0.11/32,10.34.0.12/32']);
      assert.deepEqual(s.double.advertisedRanges(GCP_ROUTER.region, GCP_ROUTER.name), ['10.200.0.0/24 (netops: legacy DMZ)']);
      assert.deepEqual(foreign(s.double), before);
    });

    it('with dryRun, reports what it would change as would-succeed and changes nothing', async () => {
      const before = snapshot(s.double);
      s.double.resetCounters();
      const plan = await s.reconcile({ dryRun: true });
      assert.equal(s.double.mutatingCalls(), 0);
      assert.equal(snapshot(s.double), before);
      assert.deepEqual(
        plan.changes.map((c) => [c.kind, c.outcome]),
        [
          ['create-firewall', 'would-succeed'],
          ['create-firewall', 'would-succeed'],
          ['create-firewall', 'would-succeed'],
          ['advertise-ranges', 'would-succeed'],
        ],
      );
      const applied = await s.reconcile();
      assert.deepEqual(
        applied.changes.map((c) => [c.kind, c.what]),
        plan.changes.map((c) => [c.kind, c.what]),
      );
    });

    it('paces a throttled domain with its budget and still gets there', async () => {
      s.double.throttle(3, { match: (q) => q.collection === 'routes' && q.verb === 'list' });
      s.double.throttle(2, { match: (q) => q.collection === 'firewalls' && q.verb === 'insert' });
      const r = await s.reconcile();
      assert.deepEqual([r.conditions[0]?.reason, causewayRules(s.double).length], ['Reconciled', 3]);
      assert.equal(s.adapter.budgetStats(GCP_DOMAIN)?.throttled, 5);
    });
  });

  describe('journey 3 over a Classic VPN tunnel (static custom routes)', () => {
    let s: Setup;
    beforeEach(async () => {
      s = await setup({ model: gcpJourney3(gcpStaticNetwork()) });
    });
    afterEach(() => s.close());

    it('programs a custom route to each on-prem prefix via the tunnel, named and described as Causeway’s', async () => {
      const r = await s.reconcile();
      assert.deepEqual(causewayRoutes(s.double), ONPREM.map((d) => `${d} -> train-to-fra-1`).sort());
      for (const route of [...s.double.state.routes.values()].filter((x) => x.name.startsWith(PREFIX))) {
        assert.deepEqual([route.priority, route.network, route.nextHopVpnTunnel, route.routeType], [1000, TRAIN, TUNNEL_1, 'STATIC']);
        assert.ok(route.description?.startsWith(`${ownerMarker(GCP_DOMAIN)}: ${route.destRange} over ${GCP_DOMAIN}->onprem-fra`), route.description);
        assert.ok(route.name.length <= 63);
      }
      // The Network still names its Cloud Router: it advertises the training pods to the site.
      assert.ok(s.double.advertisedRanges(GCP_ROUTER.region, GCP_ROUTER.name).includes(`10.64.0.0/16 (causeway:${GCP_DOMAIN})`));
      assert.equal(r.conditions[0]?.reason, 'Reconciled');
      s.double.resetCounters();
      await s.reconcile();
      assert.equal(s.double.mutatingCalls(), 0);
    });

    it('waits on operations that complete later (wait answering RUNNING before they do) before it reports them done', async () => {
      s.double.setOperationDelay(300);
      const r = await s.reconcile();
      assert.ok(r.changes.every((c) => c.outcome === 'done'));
      // Nothing is visible in Compute before its operation is DONE: it is all there now.
      assert.equal(s.double.pendingOperations(), 0);
      assert.equal(causewayRoutes(s.double).length, 4);
      assert.equal(causewayRules(s.double).length, 3);
    });

    it('treats "already exists" of its own route as success (an insert retried after its answer was lost)', async () => {
      // The lost insert's operation is DONE before the budget retries it: the retry is answered 409.
      s.double.setOperationDelay(0);
      s.double.fail(1, { status: 503, afterApply: true }, { match: (q) => q.collection === 'routes' && q.verb === 'insert' });
      const r = await s.reconcile();
      assert.deepEqual(
        r.changes.filter((c) => c.outcome !== 'done'),
        [],
      );
      assert.equal(r.conditions[0]?.reason, 'Reconciled');
      assert.deepEqual(causewayRoutes(s.double), ONPREM.map((d) => `${d} -> train-to-fra-1`).sort());
    });

    it('never takes over a route under its name that someone else made, and says so', async () => {
      const plan = await s.reconcile({ dryRun: true });
      const name = /\((causeway-[^)]+)\)/.exec(plan.changes.find((c) => c.what.startsWith('10.32.0.0/16'))?.what ?? '')?.[1] ?? '';
      await s.outside.routes.insert({
        project: GCP_PROJECT,
        // Another destination, so that the planner sees no route doing what it wants (or shadowing it).
        routeResource: { name, network: TRAIN, destRange: '10.99.0.0/16', nextHopVpnTunnel: TUNNEL_1, priority: 1000, description: 'made by hand' },
      });
      await settle(s.double);
      const before = JSON.stringify(s.double.state.routes.get(name));
      const r = await s.reconcile();
      assert.equal(JSON.stringify(s.double.state.routes.get(name)), before);
      assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason], ['True', 'ProviderRefused']);
      assert.match(r.conditions[0]?.message ?? '', new RegExp(`a route named ${name} exists in project ml-platform-prod and is not Causeway's`));
      assert.deepEqual(causewayRoutes(s.double), [
        '10.34.0.11/32 -> train-to-fra-1',
        '10.34.0.12/32 -> train-to-fra-1',
        '10.40.0.0/24 -> train-to-fra-1',
        '10.99.0.0/16 -> train-to-fra-1',
      ]);
    });

    it('reports a foreign route that the plan would shadow, and leaves it alone', async () => {
      await s.outside.routes.insert({
        project: GCP_PROJECT,
        routeResource: {
          name: 'netops-fra-pods',
          network: TRAIN,
          destRange: '10.32.0.0/16',
          nextHopVpnTunnel: TUNNEL_2,
          priority: 1000,
          description: 'netops',
        },
      });
      await settle(s.double);
      const r = await s.reconcile();
      assert.equal(s.double.routesOf('train')['netops-fra-pods'], '10.32.0.0/16 -> train-to-fra-2');
      assert.deepEqual(causewayRoutes(s.double), ['10.34.0.11/32 -> train-to-fra-1', '10.34.0.12/32 -> train-to-fra-1', '10.40.0.0/24 -> train-to-fra-1']);
      assert.deepEqual([r.conditions[0]?.reason, r.problems[0]?.reason], ['RouteConflict', 'RouteConflict']);
      assert.match(
        r.conditions[0]?.message ?? '',
        /projects\/ml-platform-prod\/global\/networks\/train: a route to 10\.32\.0\.0\/16 via .*train-to-fra-1 would take traffic from 10\.32\.0\.0\/16 via .*train-to-fra-2/,
      );
    });

    it('repairs a custom route deleted outside Causeway, and removes its routes when their cluster leaves', async () => {
      await s.reconcile();
      const ours = [...s.double.state.routes.values()].find((x) => x.name.startsWith(PREFIX) && x.destRange === '10.40.0.0/24');
      assert.ok(ours !== undefined);
      await s.outside.routes.delete({ project: GCP_PROJECT, route: ours.name });
      await settle(s.double);
      const repaired = await s.reconcile();
      assert.deepEqual([repaired.drift, repaired.changes.map((c) => [c.kind, c.drift])], [1, [['create-route', true]]]);
      assert.equal(causewayRoutes(s.double).length, 4);

      const j = gcpJourney3(gcpStaticNetwork());
      s.intents.set({ model: buildModel({ ...j, clusters: j.clusters.filter((c) => c.metadata.name !== 'onprem-inference') }), services: JOURNEY3_SERVICES });
      const before = foreign(s.double);
      await s.reconcile();
      assert.deepEqual(causewayRoutes(s.double), ['10.34.0.11/32 -> train-to-fra-1', '10.34.0.12/32 -> train-to-fra-1']);
      assert.deepEqual(foreign(s.double), before);
    });

    it('reports a quota Compute refuses in the operation, naming it, and programs what fits', async () => {
      await s.close();
      // Four static routes exist already (three foreign, one in the default network).
      s = await setup({ model: gcpJourney3(gcpStaticNetwork()), double: { routeQuota: 6 } });
      const r = await s.reconcile();
      assert.equal(causewayRoutes(s.double).length, 2);
      const failed = r.changes.filter((c) => c.outcome === 'failed');
      assert.equal(failed.length, 2);
      assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason], ['True', 'RouteQuotaExceeded']);
      assert.match(r.conditions[0]?.message ?? '', /QUOTA_EXCEEDED: Quota 'ROUTES' exceeded/);
      assert.equal(r.retry, false);
    });
  });

  describe('refusals: Degraded, naming the cause, and the rest carries on', () => {
    it('a 403 on inserting routes: the condition names the permission and the project, no route is made, the other changes are', async () => {
      const s = await setup({ model: gcpJourney3(gcpStaticNetwork()) });
      try {
        const message = "Required 'compute.routes.create' permission for 'projects/ml-platform-prod/global/routes'";
        s.double.fail(100, { status: 403, message }, { match: (q) => q.collection === 'routes' && q.verb === 'insert' });
        const r = await s.reconcile();
        assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason, r.retry], ['True', 'ProviderForbidden', false]);
        assert.ok(r.conditions[0]?.message.includes(message), r.conditions[0]?.message);
        assert.match(
          r.conditions[0]?.message ?? '',
          /create-route 10\.32\.0\.0\/16 via train-to-fra-1 .* in projects\/ml-platform-prod\/global\/networks\/train/,
        );
        assert.deepEqual(causewayRoutes(s.double), []);
        assert.equal(causewayRules(s.double).length, 3);
      } finally {
        await s.close();
      }
    });

    it('a 403 on reading the network: Degraded, and nothing is changed', async () => {
      const s = await setup();
      try {
        s.double.fail(100, { status: 403, message: "Required 'compute.networks.get' permission for 'projects/ml-platform-prod/global/networks/train'" });
        const before = snapshot(s.double);
        const r = await s.reconcile();
        assert.deepEqual([r.conditions[0]?.reason, r.mutatingCalls, snapshot(s.double) === before], ['ProviderForbidden', 0, true]);
        assert.match(r.conditions[0]?.message ?? '', /^Network "gcp-train-vpc": reading network train of project ml-platform-prod: Compute HTTP 403/);
      } finally {
        await s.close();
      }
    });

    const missing: { name: string; network: ReturnType<typeof gcpNetworkWith>; message: RegExp }[] = [
      {
        name: 'a network the project does not have',
        network: gcpNetworkWith({ network: 'trian' }),
        message: /reading network trian of project ml-platform-prod: Compute HTTP 404 .*'projects\/ml-platform-prod\/global\/networks\/trian' was not found/,
      },
      {
        name: 'a Cloud Router the project does not have',
        network: gcpNetworkWith({ cloudRouter: { region: 'europe-west4', name: 'train-rtr' } }),
        message: /reading Cloud Router europe-west4\/train-rtr of project ml-platform-prod: Compute HTTP 404/,
      },
      {
        name: 'a Cloud Router of another network',
        network: gcpNetworkWith({ cloudRouter: { region: 'us-central1', name: 'default-router' } }),
        message: /Cloud Router us-central1\/default-router of project ml-platform-prod is on network default, not train/,
      },
      {
        name: 'a VPN tunnel the project does not have',
        network: gcpStaticNetwork({ tunnel: { region: 'europe-west4', name: 'train-to-ams-1' } }),
        message: /reading Cloud VPN tunnel europe-west4\/train-to-ams-1 of project ml-platform-prod: Compute HTTP 404/,
      },
    ];
    for (const m of missing) {
      it(`a Network naming ${m.name}: Degraded (ProviderObjectNotFound), and nothing is changed`, async () => {
        const s = await setup({ model: gcpJourney3(m.network) });
        try {
          const before = snapshot(s.double);
          const r = await s.reconcile();
          assert.deepEqual([r.conditions[0]?.status, r.conditions[0]?.reason, r.mutatingCalls], ['True', 'ProviderObjectNotFound', 0]);
          assert.match(r.conditions[0]?.message ?? '', m.message);
          assert.equal(snapshot(s.double), before);
        } finally {
          await s.close();
        }
      });
    }

    it('missing or refused credentials: Degraded (ProviderForbidden) naming them, nothing changed, the process lives on', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'causeway-gcp-'));
      const foreignKind = join(dir, 'external.json');
      await writeFile(foreignKind, JSON.stringify({ type: 'external_account', audience: 'x', credential_source: { executable: { command: 'true' } } }));
      const cases: { connection: { credentialsFile?: string }; acceptTokens?: string[]; message: RegExp }[] = [
        { connection: { credentialsFile: join(dir, 'missing.json') }, message: /GCP credentials file .*missing\.json: ENOENT/ },
        { connection: { credentialsFile: foreignKind }, message: /type "external_account" is not read from providers\.gcp\.credentialsFile/ },
        { connection: {}, acceptTokens: ['a-real-token'], message: /Compute HTTP 401 .*invalid authentication credentials/ },
      ];
      try {
        for (const c of cases) {
          const s = await setup({ connection: c.connection, ...(c.acceptTokens !== undefined ? { double: { acceptTokens: c.acceptTokens } } : {}) });
          try {
            const before = snapshot(s.double);
            const r = await s.reconcile();
            assert.deepEqual([r.conditions[0]?.reason, r.retry], ['ProviderForbidden', false], r.conditions[0]?.message);
            assert.match(r.conditions[0]?.message ?? '', c.message);
            assert.equal(snapshot(s.double), before);
          } finally {
            await s.close();
          }
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  it('as the hub wires it (gcpAdapter: the hub config’s endpoint, no credentials configured)', async () => {
    const double = await startComputeDouble({ fixture: await readComputeFixture(FIXTURE), operationDelayMs: 0 });
    const wired = gcpAdapter({
      endpoint: double.url,
      intents: new FixedIntentSource({ model: buildModel(gcpJourney3(gcpStaticNetwork())), services: GCP_JOURNEY3_SERVICES }),
      compute: { environment: {} },
    });
    try {
      const r = await wired.adapter.reconcile(GCP_DOMAIN, new AbortController().signal);
      assert.deepEqual([r.conditions[0]?.reason, causewayRoutes(double).length, causewayRules(double).length], ['Reconciled', 4, 3]);
    } finally {
      wired.close();
      await double.close();
    }
  });

  describe('a Cloud Router in DEFAULT mode', () => {
    it('switches it to CUSTOM keeping all subnets advertised, and empties its ranges again when nothing is to be advertised', async () => {
      const s = await setup({ model: gcpJourney3(gcpNetworkWith({ cloudRouter: { region: 'us-central1', name: 'train-router-usc1' } })) });
      try {
        const r = await s.reconcile();
        assert.match(r.changes.find((c) => c.kind === 'advertise-ranges')?.what ?? '', /advertiseMode DEFAULT → CUSTOM/);
        const key = 'us-central1/train-router-usc1';
        const bgp = (): unknown => s.double.state.routers.get(key)?.bgp;
        assert.deepEqual(bgp(), {
          asn: 64515,
          advertiseMode: 'CUSTOM',
          advertisedGroups: ['ALL_SUBNETS'],
          advertisedIpRanges: [{ range: '10.64.0.0/16', description: `causeway:${GCP_DOMAIN}` }],
          keepaliveInterval: 20,
        });
        const j = gcpJourney3(gcpNetworkWith({ cloudRouter: { region: 'us-central1', name: 'train-router-usc1' } }));
        s.intents.set({ model: buildModel({ ...j, clusters: j.clusters.filter((c) => c.metadata.name !== 'gcp-train') }), services: JOURNEY3_SERVICES });
        await s.reconcile();
        assert.deepEqual(bgp(), { asn: 64515, advertiseMode: 'CUSTOM', advertisedGroups: ['ALL_SUBNETS'], keepaliveInterval: 20 });
        assert.deepEqual(causewayRules(s.double), []);
      } finally {
        await s.close();
      }
    });
  });
});
