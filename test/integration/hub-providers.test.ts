// The hub reconciles AWS, GCP and on-prem Networks (issue 9 §4): a real etcd, a real hub whose
// config points the EC2 client at the EC2 TEST DOUBLE (seeded with journey 3's training VPC), the
// Compute client at the Compute REST TEST DOUBLE (journey 3's GCP project), and the on-prem adapter
// at a real gobgpd peering with a real BIRD (the site's fabric router), resources applied through
// the API. Every check reads the resulting state: the double's routes and rules,
// BIRD's table, the ownership records in etcd, the Networks' status, and what `causeway plan`
// prints and exits with.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { EXPORTS_PREFIX, exportKey, ROUTE_OWNERSHIP_PREFIX } from '../../controlplane/api/keys.ts';
import { KINDS } from '../../controlplane/api/kinds.ts';
import type { ExportState } from '../../controlplane/api/messages.ts';
import type { DomainPlanView, DomainRoutesView } from '../../controlplane/api/read-model.ts';
import type { Resource } from '../../controlplane/api/resources.ts';
import { HubClient } from '../../controlplane/cli/client.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { AWS_TGW, awsNetwork, cluster, onpremNetwork, pool } from '../fixtures/providers/journey3.ts';
import { causeway } from '../harness/cli.ts';
import { GCP_NETWORK, GCP_ROUTER, gcpStaticNetwork } from '../fixtures/providers/gcp-journey3.ts';
import { startBird, startGobgpd, type TestBird, type TestGobgpd } from '../harness/bgp.ts';
import { readComputeFixture, startComputeDouble, type ComputeDouble } from '../harness/compute-double.ts';
import { readEc2Fixture, startEc2Double, type Ec2Double } from '../harness/ec2-double.ts';
import { startTestHub, type TestHub } from '../harness/hub.ts';
import { waitFor } from '../harness/wait.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/providers/ec2-journey3.json', import.meta.url));
const COMPUTE_FIXTURE = fileURLToPath(new URL('../fixtures/providers/compute-journey3.json', import.meta.url));
const GCP_PODS = '10.64.0.0/16';
const DOMAIN = 'aws-train-vpc';
const MANAGED_TABLES = ['rtb-0a00000000000000a', 'rtb-0a00000000000000b'];
const GPU_SG = 'sg-0a1b2c3d4e5f60010';
const INFERENCE_PODS = '10.32.0.0/16';
const BATCH_PODS = '10.36.0.0/16';
const ONPREM_LB_POOL = '10.40.0.0/24';

/** What the hub stores for onprem-inference's ServiceExport of llm-serving (TCP 8000), as its ingest would. */
const LLM_SERVING: ExportState = {
  namespace: 'inference',
  name: 'llm-serving',
  exportedAt: '2026-01-01T00:00:00Z',
  type: 'ClusterSetIP',
  ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
  sessionAffinity: 'None',
  endpoints: [],
};

const asObject = (r: Resource): Record<string, unknown> => r as unknown as Record<string, unknown>;

function allRoutes(double: Ec2Double): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of double.state.routeTables.values()) for (const r of t.routes) out.set(`${t.id} ${r.destination}`, r.target.id);
  return out;
}

const causewayRules = (double: Ec2Double): string[] =>
  double
    .rulesOf(GPU_SG)
    .filter((r) => r.tags['causeway.dev/managed-by'] === 'causeway')
    .map((r) => `${r.egress ? 'egress' : 'ingress'} ${r.protocol}/${r.fromPort}-${r.toPort} ${r.cidrIpv4 ?? r.cidrIpv6 ?? ''}`)
    .sort();

const ourRoutes = (double: Ec2Double): string[] =>
  MANAGED_TABLES.flatMap((t) =>
    Object.entries(double.routesOf(t))
      .filter(([, target]) => target === AWS_TGW)
      .map(([d]) => `${t} ${d}`),
  ).sort();

const expectedRoutes = (destinations: readonly string[]): string[] => MANAGED_TABLES.flatMap((t) => destinations.map((d) => `${t} ${d}`)).sort();

/** Destinations of Causeway's custom routes in journey 3's GCP network, sorted. */
function causewayGcpRoutes(compute: ComputeDouble): string[] {
  return Object.entries(compute.routesOf(GCP_NETWORK))
    .filter(([name]) => name.startsWith('causeway-'))
    .map(([, route]) => route.split(' -> ')[0] ?? '')
    .sort();
}

/** The prefixes BIRD learned from Causeway's gobgpd (not BIRD's own static routes). */
async function fromCauseway(bird: TestBird): Promise<string[]> {
  return (await bird.routes())
    .filter((r) => r.protocol === 'causeway')
    .map((r) => r.prefix)
    .sort();
}

describe('hub: AWS, GCP and on-prem Networks reconciled against the EC2 and Compute test doubles and a real gobgpd + BIRD', function () {
  this.timeout(90_000);
  let double: Ec2Double;
  let gobgpd: TestGobgpd;
  let bird: TestBird;
  let compute: ComputeDouble;
  let hub: TestHub;
  let client: HubClient;
  let store: EtcdStore;
  let fixtureRoutes: Map<string, string>;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  before(async () => {
    double = await startEc2Double({ fixture: await readEc2Fixture(FIXTURE) });
    fixtureRoutes = allRoutes(double);
    // The SDK's default chain finds these (environment first): fake, for the double.
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLETEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret-for-the-ec2-double';
    // gobgpd runs the site's AS; the hub's adapter adds BIRD (the fabric router) as its peer.
    gobgpd = await startGobgpd();
    bird = await startBird({ neighborPort: gobgpd.bgpPort, neighborAsn: 64512 });
    compute = await startComputeDouble({ fixture: await readComputeFixture(COMPUTE_FIXTURE) });
    hub = await startTestHub({
      teams: [{ name: 'team-a', namespaces: ['a'] }],
      config: {
        providers: { aws: { endpoint: double.endpoint, region: 'us-east-1' }, gcp: { endpoint: compute.url }, onprem: { gobgp: gobgpd.apiAddress } },
      },
    });
    client = new HubClient(hub.url, hub.adminToken);
    store = new EtcdStore({ endpoints: [hub.etcdUrl] });
  });

  after(async () => {
    await store.close();
    await hub.stop();
    await double.stop();
    await bird.close();
    await gobgpd.close();
    await compute.close();
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  it('serves the route plan and the provider plan to admins only', async () => {
    for (const path of ['routes', 'plan']) {
      const url = `${hub.url}/apis/causeway.dev/v1alpha1/${path}`;
      const team = await fetch(url, { headers: { authorization: `Bearer ${hub.tokens['team-a'] ?? ''}` } });
      assert.equal(team.status, 403, path);
      const admin = await fetch(url, { headers: { authorization: `Bearer ${hub.adminToken}` } });
      assert.equal(admin.status, 200, path);
      assert.deepEqual(await admin.json(), { apiVersion: 'causeway.dev/v1alpha1', kind: 'List', metadata: { resourceVersion: '' }, items: [] }, path);
    }
  });

  it('programs the routes to the on-prem prefixes via the transit gateway and the rules for the exported port, then plans nothing', async () => {
    const resources: Resource[] = [
      awsNetwork(),
      // Over a Classic VPN tunnel: static custom routes to the site, and the Cloud Router advertises the training pods.
      gcpStaticNetwork(),
      onpremNetwork('onprem-fra', {
        onprem: {
          site: 'fra1',
          asn: 64512,
          peers: [{ address: '127.0.0.1', asn: bird.asn, port: bird.port }],
          nextHop: '192.0.2.10',
          communities: ['64512:100'],
        },
      }),
      pool('cluster-cidrs', 'ClusterCIDRs', ['10.64.0.0/10']),
      pool('onprem-inference-vips', 'LoadBalancer', [ONPREM_LB_POOL], 'onprem-fra'),
      cluster('aws-train', 'aws', DOMAIN, ['10.16.0.0/16'], { labels: { gpu: 'true' }, services: ['10.17.0.0/20'] }),
      cluster('gcp-train', 'gcp', 'gcp-train-vpc', [GCP_PODS], { labels: { gpu: 'true' }, services: ['10.65.0.0/20'] }),
      cluster('onprem-inference', 'onprem', 'onprem-fra', [INFERENCE_PODS], { labels: { role: 'inference' }, services: ['10.33.0.0/20'] }),
      cluster('onprem-batch', 'onprem', 'onprem-fra', [BATCH_PODS], { services: ['10.37.0.0/20'] }),
    ];
    await client.apply(
      resources.map((r, i) => ({ source: { file: 'journey3', document: i + 1 }, object: asObject(r) })),
      false,
    );
    await store.txn([], [{ type: 'put', key: exportKey('onprem-inference', 'inference', 'llm-serving'), value: JSON.stringify(LLM_SERVING) }]);

    const want = expectedRoutes([INFERENCE_PODS, BATCH_PODS, ONPREM_LB_POOL]);
    await waitFor(
      'routes via the transit gateway in the managed tables',
      () => (JSON.stringify(ourRoutes(double)) === JSON.stringify(want) ? true : undefined),
      30_000,
    );
    await waitFor('the egress rule for TCP 8000', () => (causewayRules(double).length > 0 ? true : undefined), 30_000);
    assert.deepEqual(causewayRules(double), [`egress tcp/8000-8000 ${INFERENCE_PODS}`]);
    // Foreign routes: every route of the fixture is still there, pointing where it pointed.
    const now = allRoutes(double);
    for (const [k, target] of fixtureRoutes) assert.equal(now.get(k), target, k);
    // The ownership records in etcd name exactly the routes Causeway made.
    const { kvs } = await store.range(`${ROUTE_OWNERSHIP_PREFIX}${DOMAIN}/`);
    assert.deepEqual(
      kvs
        .map((kv) => JSON.parse(kv.value) as { table: string; destination: string; target: string; state: string })
        .map((r) => `${r.table} ${r.destination} ${r.target} ${r.state}`)
        .sort(),
      want.map((w) => `${w} ${AWS_TGW} confirmed`).sort(),
    );
    const status = await waitFor('the Network reports Degraded=False', async () => {
      const n = await client.get(KINDS.Network, DOMAIN, undefined);
      const c = n.status?.conditions?.find((x) => x.type === 'Degraded');
      return c?.status === 'False' ? c : undefined;
    });
    assert.equal(status.reason, 'Reconciled');

    // The site announces its clusters' pod CIDRs and its LoadBalancer pool to BIRD; BIRD's own routes stay.
    await waitFor(
      'the on-prem prefixes in BIRD',
      async () => (JSON.stringify(await fromCauseway(bird)) === JSON.stringify([INFERENCE_PODS, BATCH_PODS, ONPREM_LB_POOL].sort()) ? true : undefined),
      30_000,
    );
    assert.deepEqual(
      (await bird.routes()).filter((r) => r.protocol !== 'causeway').map((r) => r.prefix),
      bird.ownRoutes,
    );
    const onprem = await waitFor('the on-prem Network reports its BGP session', async () => {
      const n = await client.get(KINDS.Network, 'onprem-fra', undefined);
      const peers = (n.status?.bgp as { peers?: { address: string; state: string }[] } | undefined)?.peers;
      return peers?.[0]?.state === 'established' ? n : undefined;
    });
    assert.equal(onprem.status?.conditions?.find((c) => c.type === 'Degraded')?.status, 'False');

    // GCP: a custom route per on-prem prefix via the tunnel, the training pods advertised, the exported port opened.
    await waitFor(
      'the GCP routes via the tunnel',
      () => (JSON.stringify(causewayGcpRoutes(compute)) === JSON.stringify([INFERENCE_PODS, BATCH_PODS, ONPREM_LB_POOL].sort()) ? true : undefined),
      30_000,
    );
    assert.ok(compute.advertisedRanges(GCP_ROUTER.region, GCP_ROUTER.name).includes(`${GCP_PODS} (causeway:gcp-train-vpc)`));
    assert.ok(
      compute
        .firewallsOf(GCP_NETWORK)
        .some((f) => f.name.startsWith('causeway-') && f.direction === 'EGRESS' && (f.destinationRanges ?? []).includes(INFERENCE_PODS)),
      'an egress rule from the training pods to inference',
    );

    const plan = await causeway(['plan', '-o', 'json'], { cwd: hub.dataDir, server: hub.url, token: hub.adminToken });
    assert.equal(plan.code, 0, plan.stderr);
    const list = JSON.parse(plan.stdout) as { kind: string; items: DomainPlanView[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((d) => [d.metadata.name, d.changes.length, d.unchanged.routes, d.unchanged.rules, d.unchanged.announcements ?? 0, d.planned]),
      [
        [DOMAIN, 0, want.length, 1, 0, true],
        ['gcp-train-vpc', 0, 3, 1, 1, true],
        ['onprem-fra', 0, 0, 0, 3, true],
      ],
    );

    const routes = await causeway(['get', 'routes', '-o', 'json'], { cwd: hub.dataDir, server: hub.url, token: hub.adminToken });
    assert.equal(routes.code, 0, routes.stderr);
    const planned = (JSON.parse(routes.stdout) as { items: DomainRoutesView[] }).items.find((d) => d.metadata.name === DOMAIN);
    assert.ok(planned !== undefined, 'get routes lists the AWS network');
    assert.deepEqual(
      planned.routes.map((r) => `${r.destination} ${r.via.id}`).sort(),
      [INFERENCE_PODS, BATCH_PODS, ONPREM_LB_POOL].map((d) => `${d} ${AWS_TGW}`).sort(),
    );
    assert.deepEqual(
      planned.firewall.map((f) => `${f.direction} ${f.protocol}/${f.fromPort} ${f.destinations.join(',')}`),
      [`egress TCP/8000 ${INFERENCE_PODS}`],
    );
  });

  it('shows pending changes with exit code 4 before applying them, and removes exactly a deleted cluster’s routes and rules', async () => {
    // Made outside Causeway: the inference route in one table is deleted; plan must want it back.
    const [first] = MANAGED_TABLES;
    const table = first === undefined ? undefined : double.state.routeTables.get(first);
    assert.ok(first !== undefined && table !== undefined);
    const at = table.routes.findIndex((r) => r.destination === INFERENCE_PODS);
    assert.ok(at >= 0);
    table.routes.splice(at, 1);
    const pending = await causeway(['plan'], { cwd: hub.dataDir, server: hub.url, token: hub.adminToken });
    assert.equal(pending.code, 4, pending.stderr);
    assert.match(
      pending.stdout,
      new RegExp(`${DOMAIN}\\s+create\\s+route\\s+${first}\\s+${INFERENCE_PODS.replace('/', '\\/')} via ${AWS_TGW}\\s+would-succeed`),
    );
    assert.equal(double.routesOf(first)[INFERENCE_PODS], undefined, 'plan changed nothing');

    await client.delete(KINDS.Cluster, 'onprem-inference', 'default', false);
    const want = expectedRoutes([BATCH_PODS, ONPREM_LB_POOL]);
    await waitFor('the deleted cluster’s routes are gone', () => (JSON.stringify(ourRoutes(double)) === JSON.stringify(want) ? true : undefined), 30_000);
    await waitFor('its rule is revoked', () => (causewayRules(double).length === 0 ? true : undefined), 30_000);
    await waitFor(
      'its GCP route removed, and nothing else',
      () => (JSON.stringify(causewayGcpRoutes(compute)) === JSON.stringify([BATCH_PODS, ONPREM_LB_POOL].sort()) ? true : undefined),
      30_000,
    );
    await waitFor(
      'its pod CIDR withdrawn from BIRD, and nothing else',
      async () => (JSON.stringify(await fromCauseway(bird)) === JSON.stringify([BATCH_PODS, ONPREM_LB_POOL].sort()) ? true : undefined),
      30_000,
    );
    const now = allRoutes(double);
    for (const [k, target] of fixtureRoutes) assert.equal(now.get(k), target, k);
    const { kvs } = await store.range(EXPORTS_PREFIX);
    assert.deepEqual(
      kvs.map((kv) => kv.key),
      [],
      'the deleted cluster’s exports were dropped',
    );
    const { kvs: records } = await store.range(`${ROUTE_OWNERSHIP_PREFIX}${DOMAIN}/`);
    assert.equal(records.length, want.length);
  });

  it('sets Degraded with the reason and the object on a Network whose VPC does not exist, and the other carries on', async () => {
    const ghost = awsNetwork('aws-ghost', { vpcId: 'vpc-0000000000000dead' }, { prefixes: ['10.128.0.0/16'] });
    await client.apply([{ source: { file: 'ghost', document: 1 }, object: asObject(ghost) }], false);
    const degraded = await waitFor(
      'aws-ghost Degraded=True',
      async () => {
        const n = await client.get(KINDS.Network, 'aws-ghost', undefined);
        const c = n.status?.conditions?.find((x) => x.type === 'Degraded');
        return c?.status === 'True' ? c : undefined;
      },
      30_000,
    );
    assert.equal(degraded.reason, 'ProviderObjectNotFound');
    assert.match(degraded.message, /vpc-0000000000000dead/);
    const other = await client.get(KINDS.Network, DOMAIN, undefined);
    assert.equal(other.status?.conditions?.find((x) => x.type === 'Degraded')?.status, 'False');
    assert.deepEqual(ourRoutes(double), expectedRoutes([BATCH_PODS, ONPREM_LB_POOL]));
  });

  it('puts back a route removed outside Causeway on the next reconcile, and counts the repair', async () => {
    const [, second] = MANAGED_TABLES;
    const table = second === undefined ? undefined : double.state.routeTables.get(second);
    assert.ok(second !== undefined && table !== undefined);
    const at = table.routes.findIndex((r) => r.destination === BATCH_PODS);
    assert.ok(at >= 0);
    table.routes.splice(at, 1);
    // Any change of the plan's inputs reconciles the domain (the 60 s drift check would too).
    await client.apply([{ source: { file: 'vips', document: 1 }, object: asObject(pool('clusterset-vips', 'ClusterSetIPs', ['10.255.0.0/16'])) }], false);
    await waitFor('the route is back', () => (double.routesOf(second)[BATCH_PODS] === AWS_TGW ? true : undefined), 30_000);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    assert.match(metrics, /causeway_provider_changes_total\{network="aws-train-vpc",kind="drift"\} 1\b/);
    assert.deepEqual(ourRoutes(double), expectedRoutes([BATCH_PODS, ONPREM_LB_POOL]));
  });
});
