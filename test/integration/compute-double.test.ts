// Contract tests of the Compute REST API TEST DOUBLE (test/harness/compute-double.ts) through the
// real @google-cloud/compute clients: what the clients send and parse, paging and filters,
// operations that complete later (and `wait` answering before they do), errors in Google's shape
// with their codes, which calls the clients retry, faults on command, and the double running as its
// own process. If the double drifts from what the clients expect of Compute, these fail before the
// adapter's tests mislead.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  FirewallsClient,
  GlobalOperationsClient,
  NetworksClient,
  RegionOperationsClient,
  RoutersClient,
  RoutesClient,
  SubnetworksClient,
} from '@google-cloud/compute';
import { OAuth2Client } from 'google-auth-library';
import { COMPUTE_BASE, readComputeFixture, startComputeDouble, type ComputeDouble, type ComputeDoubleOptions } from '../harness/compute-double.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/providers/compute-journey3.json', import.meta.url));
const PROJECT = 'ml-platform-prod';
const TRAIN = `${COMPUTE_BASE}projects/${PROJECT}/global/networks/train`;
const TUNNEL = `${COMPUTE_BASE}projects/${PROJECT}/regions/europe-west4/vpnTunnels/train-to-fra-1`;

interface Clients {
  networks: NetworksClient;
  subnetworks: SubnetworksClient;
  routes: RoutesClient;
  firewalls: FirewallsClient;
  routers: RoutersClient;
  globalOps: GlobalOperationsClient;
  regionOps: RegionOperationsClient;
}

function clients(double: ComputeDouble, token = 'test-token'): Clients {
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: token });
  // TESTING.md: host, port and protocol apart; `apiEndpoint: 'host:port'` hangs.
  const o = { apiEndpoint: '127.0.0.1', port: double.port, protocol: 'http', authClient };
  return {
    networks: new NetworksClient(o),
    subnetworks: new SubnetworksClient(o),
    routes: new RoutesClient(o),
    firewalls: new FirewallsClient(o),
    routers: new RoutersClient(o),
    globalOps: new GlobalOperationsClient(o),
    regionOps: new RegionOperationsClient(o),
  };
}

/** The GoogleError a call rejects with. */
async function failure(p: Promise<unknown>): Promise<{ code?: number; httpStatusCode?: number; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: number; httpStatusCode?: number; message: string };
  }
  assert.fail('expected the call to fail');
}

/** The operation an insert, patch, update or delete answered (the client's LRO wrapper holds it). */
function operationOf(answer: readonly [{ latestResponse: unknown }, ...unknown[]]): { name: string; status: string; region?: string; error?: unknown } {
  return answer[0].latestResponse as { name: string; status: string };
}

const route = (name: string, destRange: string, extra: Record<string, unknown> = {}) => ({
  project: PROJECT,
  routeResource: { name, network: TRAIN, destRange, priority: 1000, nextHopVpnTunnel: TUNNEL, description: 'test', ...extra },
});

describe('Compute REST API test double, through the real @google-cloud/compute clients', () => {
  let double: ComputeDouble;
  let c: Clients;
  const start = async (options: Omit<ComputeDoubleOptions, 'fixture'> = {}): Promise<void> => {
    double = await startComputeDouble({ fixture: await readComputeFixture(FIXTURE), operationDelayMs: 0, ...options });
    c = clients(double);
  };
  afterEach(async () => {
    for (const x of Object.values(c) as { close(): Promise<void> }[]) await x.close();
    await double.close();
  });

  it('serves the seeded network with its subnetworks, secondary ranges and googleapis self links', async () => {
    await start();
    const [train] = await c.networks.get({ project: PROJECT, network: 'train' });
    assert.equal(train.selfLink, TRAIN);
    assert.deepEqual(
      train.subnetworks?.map((s) => s.slice(COMPUTE_BASE.length)),
      [
        `projects/${PROJECT}/regions/europe-west4/subnetworks/train-nodes-ew4`,
        `projects/${PROJECT}/regions/europe-west4/subnetworks/train-notebooks-ew4`,
        `projects/${PROJECT}/regions/us-central1/subnetworks/train-batch-usc1`,
      ],
    );
    const [subs] = await c.subnetworks.list({ project: PROJECT, region: 'europe-west4', filter: `network = "${TRAIN}"` }, { autoPaginate: false });
    assert.deepEqual(
      subs.map((s) => [s.name, s.ipCidrRange, s.ipv6CidrRange ?? '-', (s.secondaryIpRanges ?? []).map((r) => `${r.rangeName ?? ''}=${r.ipCidrRange ?? ''}`)]),
      [
        ['train-nodes-ew4', '10.48.0.0/20', 'fd20:a1b:2c3d:4e5f::/64', ['gke-gcp-train-pods=10.64.0.0/16', 'gke-gcp-train-services=10.65.0.0/20']],
        ['train-notebooks-ew4', '10.48.16.0/22', '-', []],
      ],
    );
  });

  it('pages lists with maxResults and pageToken, and filters them by network', async () => {
    await start();
    const names: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const [items, next] = await c.routes.list(
        { project: PROJECT, filter: `network = "${TRAIN}"`, maxResults: 2, ...(pageToken !== undefined ? { pageToken } : {}) },
        { autoPaginate: false },
      );
      assert.ok(items.length <= 2);
      names.push(...items.map((r) => r.name ?? ''));
      pageToken = next?.pageToken ?? undefined;
      pages += 1;
    } while (pageToken !== undefined);
    assert.equal(pages, 3);
    // Three subnet routes GCP generated, three foreign custom routes; the default network's route is filtered out.
    assert.equal(names.length, 6);
    assert.ok(names.every((n) => n !== 'default-internet'));
    const all: string[] = [];
    for await (const r of c.routes.listAsync({ project: PROJECT, maxResults: 3 }, { autoPaginate: false })) all.push(r.name ?? '');
    assert.equal(all.length, 8);
    assert.deepEqual([...all].sort(), all);
    const bad = await failure(c.routes.list({ project: PROJECT, pageToken: 'not-a-token' }, { autoPaginate: false }));
    assert.deepEqual([bad.code, bad.httpStatusCode], [3, 400]);
    const tooMany = await failure(c.firewalls.list({ project: PROJECT, maxResults: 501 }, { autoPaginate: false }));
    assert.match(tooMany.message, /maxResults/);
  });

  it('answers a change with a RUNNING operation that completes later; wait answers when it is DONE or, before that, at its deadline', async () => {
    await start({ operationDelayMs: 400, waitDeadlineMs: 50 });
    const op = operationOf(await c.routes.insert(route('r-later', '10.32.0.0/16')));
    assert.equal(op.status, 'RUNNING');
    // Not visible before the operation is DONE.
    assert.equal((await failure(c.routes.get({ project: PROJECT, route: 'r-later' }))).code, 5);
    const [early] = await c.globalOps.wait({ project: PROJECT, operation: op.name });
    assert.equal(early.status, 'RUNNING');
    let status: unknown = early.status;
    for (let i = 0; i < 40 && status !== 'DONE'; i++) status = (await c.globalOps.wait({ project: PROJECT, operation: op.name }))[0].status;
    assert.equal(status, 'DONE');
    const [r] = await c.routes.get({ project: PROJECT, route: 'r-later' });
    assert.deepEqual([r.destRange, r.nextHopVpnTunnel, r.priority, r.routeType], ['10.32.0.0/16', TUNNEL, 1000, 'STATIC']);
    // Regional operations for routers.
    const rop = operationOf(
      await c.routers.patch({
        project: PROJECT,
        region: 'us-central1',
        router: 'train-router-usc1',
        routerResource: { bgp: { asn: 64515, advertiseMode: 'CUSTOM', advertisedGroups: ['ALL_SUBNETS'] } },
      }),
    );
    assert.ok(rop.region?.endsWith('/regions/us-central1'));
    assert.equal((await failure(c.globalOps.get({ project: PROJECT, operation: rop.name }))).code, 5);
    let rstatus: unknown = rop.status;
    for (let i = 0; i < 40 && rstatus !== 'DONE'; i++)
      rstatus = (await c.regionOps.wait({ project: PROJECT, region: 'us-central1', operation: rop.name }))[0].status;
    assert.equal(rstatus, 'DONE');
    assert.equal(double.state.routers.get('us-central1/train-router-usc1')?.bgp?.advertiseMode, 'CUSTOM');
  });

  it('reports what it finds while an operation runs as the operation error, and changes nothing', async () => {
    await start({ routeQuota: 4 });
    const missing = operationOf(await c.routes.insert(route('r-nowhere', '10.33.0.0/16', { nextHopVpnTunnel: `${TUNNEL}-gone` })));
    const [done] = await c.globalOps.wait({ project: PROJECT, operation: missing.name });
    assert.deepEqual([done.status, done.error?.errors?.[0]?.code, done.httpErrorStatusCode], ['DONE', 'RESOURCE_NOT_FOUND', 404]);
    assert.equal(double.state.routes.has('r-nowhere'), false);
    // Four static routes exist (three foreign, one in the default network): the quota is full.
    const over = operationOf(await c.routes.insert(route('r-over', '10.33.0.0/16')));
    const [quota] = await c.globalOps.wait({ project: PROJECT, operation: over.name });
    const quotaError = quota.error?.errors?.[0];
    assert.equal(quotaError?.code, 'QUOTA_EXCEEDED');
    assert.match(quotaError.message ?? '', /Quota 'ROUTES' exceeded/);
    double.failOperations(1, { code: 'RESOURCE_NOT_READY', message: 'The resource is not ready' }, { match: (r) => r.collection === 'firewalls' });
    const fw = operationOf(
      await c.firewalls.insert({
        project: PROJECT,
        firewallResource: { name: 'fw-x', network: TRAIN, sourceRanges: ['10.0.0.0/8'], allowed: [{ IPProtocol: 'tcp', ports: ['80'] }] },
      }),
    );
    const [fwDone] = await c.globalOps.wait({ project: PROJECT, operation: fw.name });
    assert.equal(fwDone.error?.errors?.[0]?.code, 'RESOURCE_NOT_READY');
    assert.equal(double.state.firewalls.has('fw-x'), false);
  });

  it("answers Google's error shape with real status codes; the client retries a read's 503, never 429 or a change", async () => {
    await start();
    const dup = await failure(c.routes.insert(route('netops-legacy-dmz', '10.33.0.0/16')));
    assert.deepEqual([dup.code, dup.httpStatusCode], [6, 409]);
    assert.match(dup.message, /already exists/);
    // A name an insert still running has taken is taken.
    double.setOperationDelay(300);
    await c.routes.insert(route('r-pending', '10.33.0.0/16'));
    assert.equal((await failure(c.routes.insert(route('r-pending', '10.33.0.0/16')))).code, 6);
    const nf = await failure(c.networks.get({ project: PROJECT, network: 'nope' }));
    assert.deepEqual([nf.code, nf.httpStatusCode, nf.message], [5, 404, `The resource 'projects/${PROJECT}/global/networks/nope' was not found`]);
    assert.equal((await failure(c.networks.get({ project: 'other-project-1', network: 'train' }))).code, 5);
    const invalid = await failure(c.routes.insert(route('Bad_Name', '10.33.0.0/16')));
    assert.deepEqual([invalid.code, invalid.httpStatusCode], [3, 400]);

    double.resetCounters();
    double.throttle(1);
    const throttled = await failure(c.networks.get({ project: PROJECT, network: 'train' }));
    assert.deepEqual([throttled.code, throttled.httpStatusCode, double.calls()], [8, 429, 1]);
    double.fail(1, { status: 503 }, { match: (r) => r.verb === 'get' });
    await c.networks.get({ project: PROJECT, network: 'train' });
    assert.equal(double.calls(), 3, 'the 503 was retried by the client');
    double.fail(1, { status: 503 }, { match: (r) => r.verb === 'insert' });
    assert.deepEqual([(await failure(c.routes.insert(route('r-503', '10.35.0.0/16')))).code, double.calls()], [14, 4]);
    double.fail(1, { status: 403, message: "Required 'compute.routes.list' permission for 'projects/ml-platform-prod'" });
    assert.equal((await failure(c.routes.list({ project: PROJECT }, { autoPaginate: false }))).code, 7);
  });

  it('delays matching requests on command, until told to stop', async () => {
    await start();
    double.delay(250, { match: (r) => r.collection === 'networks' });
    let t = Date.now();
    await c.networks.get({ project: PROJECT, network: 'train' });
    assert.ok(Date.now() - t >= 240, `answered after ${Date.now() - t} ms`);
    t = Date.now();
    await c.routes.list({ project: PROJECT, maxResults: 1 }, { autoPaginate: false });
    assert.ok(Date.now() - t < 240, 'other requests are not delayed');
    double.clearFaults();
    t = Date.now();
    await c.networks.get({ project: PROJECT, network: 'train' });
    assert.ok(Date.now() - t < 240);
  });

  it('can apply a change and then lose its answer', async () => {
    await start();
    double.fail(1, { status: 503, afterApply: true }, { match: (r) => r.verb === 'insert' });
    assert.equal((await failure(c.routes.insert(route('r-lost', '10.33.0.0/16')))).httpStatusCode, 503);
    const deadline = Date.now() + 2000;
    while (!double.state.routes.has('r-lost') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(double.routesOf('train')['r-lost'], '10.33.0.0/16 -> train-to-fra-1');
  });

  it('refuses requests without an accepted bearer token (401) when told to check them', async () => {
    await start({ acceptTokens: ['good-token'] });
    const e = await failure(c.networks.get({ project: PROJECT, network: 'train' }));
    assert.deepEqual([e.code, e.httpStatusCode], [16, 401]);
    const good = clients(double, 'good-token');
    try {
      assert.equal((await good.networks.get({ project: PROJECT, network: 'train' }))[0].name, 'train');
    } finally {
      for (const x of Object.values(good) as { close(): Promise<void> }[]) await x.close();
    }
  });

  it('patches a router as a JSON merge patch (its peers kept) and replaces it on update; refuses ranges in DEFAULT mode', async () => {
    await start();
    const key = 'europe-west4/train-router';
    const peers = double.state.routers.get(key)?.bgpPeers;
    await c.routers.patch({
      project: PROJECT,
      region: 'europe-west4',
      router: 'train-router',
      routerResource: {
        bgp: {
          asn: 64514,
          advertiseMode: 'CUSTOM',
          advertisedGroups: ['ALL_SUBNETS'],
          advertisedIpRanges: [
            { range: '10.200.0.0/24', description: 'netops: legacy DMZ' },
            { range: '10.64.0.0/16', description: 'x' },
          ],
        },
      },
    });
    await waitForIdle(double);
    assert.deepEqual(double.advertisedRanges('europe-west4', 'train-router'), ['10.200.0.0/24 (netops: legacy DMZ)', '10.64.0.0/16 (x)']);
    assert.deepEqual(double.state.routers.get(key)?.bgpPeers, peers);
    const refused = await failure(
      c.routers.patch({
        project: PROJECT,
        region: 'us-central1',
        router: 'train-router-usc1',
        routerResource: { bgp: { asn: 64515, advertiseMode: 'DEFAULT', advertisedIpRanges: [{ range: '10.64.0.0/16' }] } },
      }),
    );
    assert.equal(refused.httpStatusCode, 400);
    const dupRange = await failure(
      c.routers.patch({
        project: PROJECT,
        region: 'europe-west4',
        router: 'train-router',
        routerResource: { bgp: { asn: 64514, advertiseMode: 'CUSTOM', advertisedIpRanges: [{ range: '10.64.0.0/16' }, { range: '10.64.0.0/16' }] } },
      }),
    );
    assert.match(dupRange.message, /Duplicate advertised IP range/);
  });

  it('patches a firewall rule by merging and replaces it whole on update (PUT), clearing what it does not carry', async () => {
    await start();
    await c.firewalls.patch({ project: PROJECT, firewall: 'train-allow-iap-ssh', firewallResource: { sourceRanges: ['35.235.240.0/20', '10.0.0.0/8'] } });
    await waitForIdle(double);
    const patched = double.state.firewalls.get('train-allow-iap-ssh');
    assert.deepEqual([patched?.sourceRanges, patched?.targetTags], [['35.235.240.0/20', '10.0.0.0/8'], ['ssh']]);
    await c.firewalls.update({
      project: PROJECT,
      firewall: 'train-allow-iap-ssh',
      firewallResource: { name: 'train-allow-iap-ssh', network: TRAIN, sourceRanges: ['35.235.240.0/20'], allowed: [{ IPProtocol: 'tcp', ports: ['22'] }] },
    });
    await waitForIdle(double);
    const replaced = double.state.firewalls.get('train-allow-iap-ssh');
    assert.deepEqual([replaced?.sourceRanges, replaced?.targetTags, replaced?.id], [['35.235.240.0/20'], undefined, patched?.id]);
    const moved = await failure(c.firewalls.patch({ project: PROJECT, firewall: 'train-allow-iap-ssh', firewallResource: { direction: 'EGRESS' } }));
    assert.equal(moved.httpStatusCode, 400);
  });
});

async function waitForIdle(double: ComputeDouble): Promise<void> {
  const deadline = Date.now() + 5000;
  while (double.pendingOperations() > 0) {
    if (Date.now() > deadline) assert.fail('operations still running after 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Compute REST API test double as its own process (the demo runs it so)', () => {
  it('serves from a seed file, prints its URL, and exits on SIGTERM', async () => {
    const script = fileURLToPath(new URL('../harness/compute-double.ts', import.meta.url));
    const child = spawn(process.execPath, [script, '--port', '0', '--seed', FIXTURE], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const { url, project } = JSON.parse(line.toString('utf8')) as { url: string; project: string };
      assert.equal(project, PROJECT);
      const authClient = new OAuth2Client();
      authClient.setCredentials({ access_token: 'x' });
      const u = new URL(url);
      const networks = new NetworksClient({ apiEndpoint: u.hostname, port: Number(u.port), protocol: 'http', authClient });
      const [n] = await networks.get({ project: PROJECT, network: 'train' });
      await networks.close();
      assert.equal(n.selfLink, TRAIN);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }
  });
});
