// The RouteOwnership contract: the same suite runs against MemoryRouteOwnership (the adapter tests'
// fake) and EtcdRouteOwnership over MemoryStore and over a real etcd, so the fake cannot drift
// from what the hub stores.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { UnavailableError } from '../../controlplane/api/errors.ts';
import { ROUTE_OWNERSHIP_PREFIX, routeOwnershipKey } from '../../controlplane/api/keys.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { EtcdRouteOwnership } from '../../controlplane/registry/route-ownership-store.ts';
import type { Compare, Op, Store, TxnResult } from '../../controlplane/registry/store.ts';
import { MemoryRouteOwnership, type RouteOwnership, type RouteRecord } from '../../providers/model/ownership.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';

const live = (): AbortSignal => new AbortController().signal;
const sorted = (records: readonly RouteRecord[]): RouteRecord[] =>
  [...records].sort((a, b) => `${a.table}|${a.destination}`.localeCompare(`${b.table}|${b.destination}`));

const A: RouteRecord = { table: 'rtb-a', destination: '10.32.0.0/16', target: 'tgw-1', state: 'pending' };
const B: RouteRecord = { table: 'rtb-a', destination: '10.32.0.0/24', target: 'tgw-1', state: 'confirmed' };
const V6: RouteRecord = { table: 'rtb-b', destination: '2600:1f18:4a1b:1600::/56', target: 'tgw-1', state: 'confirmed' };

interface Subject {
  readonly ownership: RouteOwnership;
  close(): Promise<void>;
}

function contract(name: string, make: () => Promise<Subject>): void {
  describe(`RouteOwnership contract: ${name}`, () => {
    let s: Subject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(() => s.close());

    it('lists nothing for a domain never written', async () => {
      assert.deepEqual(await s.ownership.list('aws-train-vpc', live()), []);
    });

    it('reads back what was put, per domain, destinations that differ only in length apart', async () => {
      await s.ownership.put('aws-train-vpc', A, live());
      await s.ownership.put('aws-train-vpc', B, live());
      await s.ownership.put('aws-train-vpc', V6, live());
      await s.ownership.put('aws-other', { ...A, target: 'tgw-2' }, live());
      assert.deepEqual(sorted(await s.ownership.list('aws-train-vpc', live())), [A, B, V6]);
      assert.deepEqual(await s.ownership.list('aws-other', live()), [{ ...A, target: 'tgw-2' }]);
      // A domain whose name extends another's is its own domain.
      assert.deepEqual(await s.ownership.list('aws', live()), []);
    });

    it('replaces the record of the same table and destination, keeping previousTarget only when given', async () => {
      await s.ownership.put('d', { ...A, previousTarget: 'vgw-0' }, live());
      assert.deepEqual(await s.ownership.list('d', live()), [{ ...A, previousTarget: 'vgw-0' }]);
      const confirmed: RouteRecord = { table: A.table, destination: A.destination, target: 'tgw-9', state: 'confirmed' };
      await s.ownership.put('d', confirmed, live());
      assert.deepEqual(await s.ownership.list('d', live()), [confirmed]);
    });

    it('removes one record, and removing an absent one is fine', async () => {
      await s.ownership.put('d', A, live());
      await s.ownership.put('d', B, live());
      await s.ownership.remove('d', A.table, A.destination, live());
      await s.ownership.remove('d', A.table, A.destination, live());
      await s.ownership.remove('never', 'rtb-x', '10.0.0.0/8', live());
      assert.deepEqual(await s.ownership.list('d', live()), [B]);
    });

    it('refuses with UnavailableError once the signal is aborted, writing nothing', async () => {
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(s.ownership.put('d', A, ac.signal), UnavailableError);
      await assert.rejects(s.ownership.list('d', ac.signal), UnavailableError);
      await assert.rejects(s.ownership.remove('d', A.table, A.destination, ac.signal), UnavailableError);
      assert.deepEqual(await s.ownership.list('d', live()), []);
    });

    it('keeps every record when several are written at once', async () => {
      const records = Array.from({ length: 20 }, (_, i): RouteRecord => ({
        table: `rtb-${i % 3}`,
        destination: `10.${i}.0.0/16`,
        target: 'tgw-1',
        state: 'confirmed',
      }));
      await Promise.all(records.map((r) => s.ownership.put('d', r, live())));
      assert.deepEqual(sorted(await s.ownership.list('d', live())), sorted(records));
    });
  });
}

contract('MemoryRouteOwnership (in-memory fake)', () => Promise.resolve({ ownership: new MemoryRouteOwnership(), close: () => Promise.resolve() }));

const overStore = (store: Store): Subject => ({ ownership: new EtcdRouteOwnership(store), close: () => store.close() });

contract('EtcdRouteOwnership over MemoryStore', () => Promise.resolve(overStore(new MemoryStore())));

let etcd: TestEtcd | undefined;
const etcdStore = async (): Promise<EtcdStore> => {
  etcd ??= await startTestEtcd();
  return new EtcdStore({ endpoints: [etcd.url], namespace: `/t-${randomUUID()}` });
};

contract('EtcdRouteOwnership on a real etcd', async () => overStore(await etcdStore()));

describe('EtcdRouteOwnership in etcd', () => {
  it('keeps one key per route under the route-ownership prefix, its value the record', async () => {
    const store = await etcdStore();
    try {
      const ownership = new EtcdRouteOwnership(store);
      await ownership.put('aws-train-vpc', V6, live());
      const { kvs } = await store.range(ROUTE_OWNERSHIP_PREFIX);
      assert.deepEqual(
        kvs.map((kv) => kv.key),
        [routeOwnershipKey('aws-train-vpc', V6.table, V6.destination)],
      );
      assert.equal(kvs[0]?.key, `${ROUTE_OWNERSHIP_PREFIX}aws-train-vpc/rtb-b/2600%3A1f18%3A4a1b%3A1600%3A%3A%2F56`);
      assert.deepEqual(
        kvs.map((kv) => JSON.parse(kv.value) as unknown),
        [V6],
      );
    } finally {
      await store.close();
    }
  });

  it('loses no write to a concurrent writer of the same key: the compare fails and it reads and tries again', async () => {
    const key = routeOwnershipKey('d', A.table, A.destination);
    let txns = 0;
    // Another writer changes the key between this writer's read and its first transaction.
    class RacingStore extends MemoryStore {
      override async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
        txns += 1;
        if (txns === 1) await super.txn([], [{ type: 'put', key, value: JSON.stringify({ ...A, target: 'tgw-other' }) }]);
        return super.txn(compares, ops);
      }
    }
    const racing = new RacingStore();
    await new EtcdRouteOwnership(racing).put('d', A, live());
    assert.equal(txns, 2, 'the first compare failed and the write was tried again');
    assert.deepEqual(await new EtcdRouteOwnership(racing).list('d', live()), [A]);
  });
});
