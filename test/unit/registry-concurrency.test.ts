// Writes without a precondition must not lose to each other (issue 12 §2): one hub serialises its
// declarations, and two hubs on one store retry past each other within the bound; a write with a
// resourceVersion still gets its 409 when another writer moved the object.
import assert from 'node:assert/strict';
import { ConflictError } from '../../controlplane/api/errors.ts';
import { HISTORY_PREFIX } from '../../controlplane/api/keys.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { cluster, declared, network } from '../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };

function ownCluster(i: number): ReturnType<typeof declared> {
  return declared(cluster(`c-${i}`, `10.${i}.0.0/16`, `172.16.${i}.0/24`, { spec: { clusterSet: `set-${i}` } }));
}

describe('Registry: concurrent writes (on the in-memory store fake)', () => {
  let store: MemoryStore;
  beforeEach(async () => {
    store = new MemoryStore();
    await new Registry(store).apply(declared(network('aws-vpc')), admin);
  });

  const table: { name: string; replicas: number; writes: number }[] = [
    { name: 'one hub, 20 concurrent applies', replicas: 1, writes: 20 },
    { name: 'two hubs on one store, 20 concurrent applies between them', replicas: 2, writes: 20 },
    { name: 'four hubs on one store, 40 concurrent applies between them', replicas: 4, writes: 40 },
  ];
  for (const t of table) {
    it(`${t.name}: every one succeeds at a revision of its own, with one history record each`, async () => {
      const hubs = Array.from({ length: t.replicas }, () => new Registry(store));
      const hubAt = (i: number): Registry => hubs[i % t.replicas] ?? assert.fail('no hub');
      const results = await Promise.all(Array.from({ length: t.writes }, (_, i) => hubAt(i).apply(ownCluster(i), admin)));
      assert.equal(new Set(results.map((r) => r.revision)).size, t.writes);
      const { kvs } = await store.range(HISTORY_PREFIX);
      assert.equal(kvs.length, t.writes + 1);
      const { items } = await new Registry(store).list('Cluster');
      assert.equal(items.length, t.writes);
    });
  }

  it('a write with a resourceVersion that a concurrent write moved: 409, and the other write stands', async () => {
    const registry = new Registry(store);
    const base = await registry.apply(ownCluster(1), admin);
    const rv = String(base.revision);
    const at = (label: string) =>
      declared({
        ...cluster('c-1', '10.1.0.0/16', '172.16.1.0/24', { spec: { clusterSet: 'set-1' }, labels: { label } }),
        metadata: { name: 'c-1', resourceVersion: rv, labels: { label } },
      });
    const outcomes = await Promise.allSettled([registry.apply(at('a'), admin), registry.apply(at('b'), admin)]);
    assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected']);
    const lost = outcomes.find((o) => o.status === 'rejected');
    assert.ok(lost?.reason instanceof ConflictError && /is stale/.test(lost.reason.message), String(lost?.reason));
    const won = outcomes.find((o) => o.status === 'fulfilled');
    const stored = await registry.get({ kind: 'Cluster', name: 'c-1' });
    assert.equal(stored.metadata.resourceVersion, String(won?.value.revision));
  });
});
