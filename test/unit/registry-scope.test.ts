// What a team may not read stays absent to it (issue 12 §3), decided in pure code: the registry's
// plan answers 404 for hidden targets and rewrites overlaps with hidden clusters, and the global
// services view keeps only the clusters a team may see. Table-driven, on the in-memory store fake.
import assert from 'node:assert/strict';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../../controlplane/api/errors.ts';
import type { GlobalServiceView } from '../../controlplane/api/read-model.ts';
import type { Resource } from '../../controlplane/api/resources.ts';
import { authorizeChange, canRead, visibleServices, type Principal } from '../../controlplane/hub/auth.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, externalService, network } from '../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };
const team: Principal = { name: 'gpu-team', role: 'team', namespaces: ['ml'], clusterSelector: { matchLabels: { gpu: 'true' } } };
const asTeam = {
  authorize: (c: Parameters<typeof authorizeChange>[1]) => {
    authorizeChange(team, c);
  },
  visible: (r: Resource) => canRead(team, r),
};

describe('Registry: a team and what it may not read (on the in-memory store fake)', () => {
  let store: MemoryStore;
  let registry: Registry;
  beforeEach(async () => {
    store = new MemoryStore();
    registry = new Registry(store);
    await registry.apply(
      declared(
        network('aws-vpc'),
        cluster('hidden', '10.1.0.0/16', '10.2.0.0/20', { labels: { gpu: 'false' } }),
        externalService('other', 'db'),
        cluster('mine', '10.5.0.0/16', '10.6.0.0/20', { labels: { gpu: 'true' } }),
      ),
      admin,
    );
  });

  const refusals: { name: string; run: (r: Registry) => Promise<unknown>; error: new (...a: never[]) => Error; message: RegExp }[] = [
    {
      name: 'delete of a hidden cluster',
      run: (r) => r.delete({ kind: 'Cluster', name: 'hidden' }, team, asTeam),
      error: NotFoundError,
      message: /^Cluster\/hidden not found$/,
    },
    {
      name: 'update of a hidden cluster',
      run: (r) => r.apply(declared(cluster('hidden', '10.1.0.0/16', '10.2.0.0/20', { labels: { gpu: 'true' } })), team, { ...asTeam, mode: 'update' }),
      error: NotFoundError,
      message: /^Cluster\/hidden not found$/,
    },
    {
      name: 'apply over a hidden cluster with labels in scope',
      run: (r) => r.apply(declared(cluster('hidden', '10.1.0.0/16', '10.2.0.0/20', { labels: { gpu: 'true' } })), team, asTeam),
      error: ForbiddenError,
      message: /^Cluster\/hidden is taken by an object outside your scope/,
    },
    {
      name: 'apply over a hidden cluster with labels out of scope: the answer for a free name',
      run: (r) => r.apply(declared(cluster('hidden', '10.1.0.0/16', '10.2.0.0/20', { labels: { gpu: 'false' } })), team, asTeam),
      error: ForbiddenError,
      message: /may not create Cluster\/hidden: its labels do not match/,
    },
    {
      name: 'apply of an ExternalService over one in another namespace: the answer for a free name',
      run: (r) => r.apply(declared(externalService('other', 'db')), team, asTeam),
      error: ForbiddenError,
      message: /may not create ExternalService\/other\/db: namespace "other"/,
    },
    {
      name: 'delete of an ExternalService in another namespace',
      run: (r) => r.delete({ kind: 'ExternalService', namespace: 'other', name: 'db' }, team, asTeam),
      error: NotFoundError,
      message: /^ExternalService\/other\/db not found$/,
    },
  ];
  for (const t of refusals) {
    it(`${t.name}: ${t.error.name}, nothing written`, async () => {
      const before = await store.range('');
      await assert.rejects(t.run(registry), (err: unknown) => err instanceof t.error && t.message.test(err.message));
      assert.deepEqual(await store.range(''), before);
    });
  }

  const overlaps: { name: string; pod: string; service: string; want: [string, string][] }[] = [
    { name: 'own pod range inside the hidden one', pod: '10.1.128.0/17', service: '10.9.0.0/20', want: [['spec.podCIDRs[0]', '10.1.128.0/17']] },
    { name: 'own pod range around the hidden one', pod: '10.0.0.0/14', service: '10.99.0.0/20', want: [['spec.podCIDRs[0]', '10.0.0.0/14']] },
    { name: 'own service range over the hidden pod range', pod: '10.8.0.0/16', service: '10.1.4.0/24', want: [['spec.serviceCIDRs[0]', '10.1.4.0/24']] },
  ];
  for (const t of overlaps) {
    it(`an overlap with a hidden cluster (${t.name}) names only the team's own range`, async () => {
      const err = await registry.apply(declared(cluster('new', t.pod, t.service, { labels: { gpu: 'true' } })), team, asTeam).catch((e: unknown) => e);
      assert.ok(err instanceof InvalidInputError, String(err));
      const mineOnly = err.problems.filter((p) => p.name === 'new');
      assert.deepEqual(
        mineOnly.map((p) => [p.field, p.value]),
        t.want,
      );
      assert.ok(
        err.problems.every((p) => p.name === 'new' && /overlaps a range you may not see/.test(p.message)),
        err.message,
      );
      assert.ok(!err.message.includes('hidden') && !err.message.includes('10.1.0.0/16'), err.message);
    });
  }

  it('an overlap with a cluster the team may see still names it', async () => {
    const err = await registry
      .apply(declared(cluster('new', '10.5.128.0/17', '10.9.0.0/20', { labels: { gpu: 'true' } })), team, asTeam)
      .catch((e: unknown) => e);
    assert.ok(err instanceof InvalidInputError);
    assert.match(err.message, /overlaps Cluster "mine" podCIDRs\[0\] 10\.5\.0\.0\/16/);
  });
});

describe('visibleServices: the global services a token may see', () => {
  const clusters = declared(
    cluster('gpu-a', '10.1.0.0/16', '10.2.0.0/20', { labels: { gpu: 'true' } }),
    cluster('cpu-b', '10.3.0.0/16', '10.4.0.0/20', { labels: { gpu: 'false' } }),
  ).map((d) => d.resource);
  const service = (namespace: string): GlobalServiceView => ({
    namespace,
    name: 'api',
    type: 'ClusterSetIP',
    ports: [{ port: 80, protocol: 'TCP' }],
    ips: ['240.0.0.1'],
    exporters: [
      { cluster: 'gpu-a', endpoints: 2 },
      { cluster: 'cpu-b', endpoints: 3, conflict: 'PortConflict' },
    ],
    importers: ['gpu-a', 'cpu-b'],
    endpoints: 5,
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Exported', message: 'exported by 2 clusters', lastTransitionTime: '2026-01-01T00:00:00Z' },
      { type: 'Conflict', status: 'True', reason: 'PortConflict', message: 'cpu-b: ports differ from gpu-a', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ],
  });
  const table: {
    name: string;
    principal: Principal;
    want: { namespace: string; exporters: string[]; importers: string[]; endpoints: number; messages: string[] }[];
  }[] = [
    {
      name: 'an admin sees everything',
      principal: { name: 'admin', role: 'admin', namespaces: [] },
      want: [
        {
          namespace: 'ml',
          exporters: ['gpu-a', 'cpu-b'],
          importers: ['gpu-a', 'cpu-b'],
          endpoints: 5,
          messages: ['exported by 2 clusters', 'cpu-b: ports differ from gpu-a'],
        },
        {
          namespace: 'web',
          exporters: ['gpu-a', 'cpu-b'],
          importers: ['gpu-a', 'cpu-b'],
          endpoints: 5,
          messages: ['exported by 2 clusters', 'cpu-b: ports differ from gpu-a'],
        },
      ],
    },
    {
      name: 'a team sees its namespaces, and in them only the clusters of its selector',
      principal: team,
      want: [
        {
          namespace: 'ml',
          exporters: ['gpu-a'],
          importers: ['gpu-a'],
          endpoints: 2,
          messages: ['exported by 2 clusters', 'PortConflict (details name clusters you may not see)'],
        },
      ],
    },
    {
      name: 'a team without a cluster selector sees no cluster',
      principal: { name: 't', role: 'team', namespaces: ['web'] },
      want: [
        {
          namespace: 'web',
          exporters: [],
          importers: [],
          endpoints: 0,
          messages: ['exported by 2 clusters', 'PortConflict (details name clusters you may not see)'],
        },
      ],
    },
  ];
  for (const t of table) {
    it(t.name, () => {
      const got = visibleServices(t.principal, [service('ml'), service('web')], clusters);
      assert.deepEqual(
        got.map((s) => ({
          namespace: s.namespace,
          exporters: s.exporters.map((e) => e.cluster),
          importers: [...s.importers],
          endpoints: s.endpoints,
          messages: s.conditions.map((c) => c.message),
        })),
        t.want,
      );
    });
  }
});
