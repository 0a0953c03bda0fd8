// /services shows a team only what it may see (issue 12 §3): the route on the real HTTP edge and
// a real etcd registry, with the global services given by a fixed ServicesView (the service
// controller's read model; what agents would have exported is not the point here).
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { GlobalServiceView, ServicesView } from '../../controlplane/api/read-model.ts';
import { hashToken, TokenAuthenticator } from '../../controlplane/hub/auth.ts';
import { buildHubServer } from '../../controlplane/hub/http/server.ts';
import { createHubMetrics } from '../../controlplane/hub/metrics.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, network } from '../fixtures/resources.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';

const ADMIN = 'cw_services-admin';
const TEAM = 'cw_services-team';

function service(namespace: string, name: string): GlobalServiceView {
  return {
    namespace,
    name,
    type: 'ClusterSetIP',
    ports: [{ port: 80, protocol: 'TCP' }],
    ips: ['240.0.0.1'],
    exporters: [
      { cluster: 'gpu-a', endpoints: 2 },
      { cluster: 'cpu-b', endpoints: 3 },
    ],
    importers: ['gpu-a', 'cpu-b'],
    endpoints: 5,
    conditions: [],
  };
}

describe('/services and a team token (real HTTP edge, real etcd)', function () {
  this.timeout(30_000);
  let etcd: TestEtcd;
  let store: EtcdStore;
  let app: ReturnType<typeof buildHubServer>;
  let url: string;

  before(async () => {
    etcd = await startTestEtcd();
    store = new EtcdStore({ endpoints: [etcd.url], namespace: '/services-scope' });
    const registry = new Registry(store);
    await registry.apply(
      declared(
        network('aws-vpc'),
        cluster('gpu-a', '10.1.0.0/16', '10.2.0.0/20', { labels: { gpu: 'true' } }),
        cluster('cpu-b', '10.3.0.0/16', '10.4.0.0/20', { labels: { gpu: 'false' } }),
      ),
      { name: 'admin', role: 'admin' },
    );
    const services: ServicesView = { list: () => [service('ml', 'train'), service('web', 'shop')] };
    const auth = new TokenAuthenticator([
      { name: 'admin', role: 'admin', namespaces: [], sha256: hashToken(ADMIN) },
      { name: 'gpu-team', role: 'team', namespaces: ['ml'], clusterSelector: { matchLabels: { gpu: 'true' } }, sha256: hashToken(TEAM) },
    ]);
    const metrics = createHubMetrics(
      () => Promise.resolve({}),
      () => Promise.resolve(true),
    );
    app = buildHubServer({ registry, store, auth, metrics, services, logger: pino({ level: 'silent' }) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    url = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await app.close();
    await store.close();
    await etcd.stop();
  });

  const list = async (token: string): Promise<GlobalServiceView[]> => {
    const res = await fetch(`${url}/apis/causeway.dev/v1alpha1/services`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: GlobalServiceView[] }).items;
  };

  it('an admin sees every service with every exporter and importer', async () => {
    const items = await list(ADMIN);
    assert.deepEqual(
      items.map((s) => [s.namespace, s.exporters.map((e) => e.cluster), s.importers, s.endpoints]),
      [
        ['ml', ['gpu-a', 'cpu-b'], ['gpu-a', 'cpu-b'], 5],
        ['web', ['gpu-a', 'cpu-b'], ['gpu-a', 'cpu-b'], 5],
      ],
    );
  });

  it('a team sees its namespaces only, and in them only the clusters of its selector', async () => {
    const items = await list(TEAM);
    assert.deepEqual(
      items.map((s) => [s.namespace, s.exporters.map((e) => e.cluster), s.importers, s.endpoints]),
      [['ml', ['gpu-a'], ['gpu-a'], 2]],
    );
    assert.ok(!JSON.stringify(items).includes('cpu-b'));
  });
});
