// The Store contract: the same suite runs against MemoryStore (the unit tests' fake) and
// EtcdStore on a real etcd, so the fake cannot drift from etcd's behaviour.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { GoneError } from '../../controlplane/api/errors.ts';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import type { Store, StoreEvent, WatchOptions } from '../../controlplane/registry/store.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';

async function collect(store: Store, prefix: string, after: number, count: number, options?: WatchOptions): Promise<StoreEvent[]> {
  const ac = new AbortController();
  const out: StoreEvent[] = [];
  const timer = setTimeout(() => {
    ac.abort();
  }, 5000);
  try {
    for await (const batch of store.watch(prefix, after, ac.signal, options)) {
      out.push(...batch);
      if (out.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

function contract(name: string, make: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(async () => {
      await store.close();
    });

    it('puts at one new revision per transaction and reads them back', async () => {
      const r = await store.txn(
        [{ key: 'h', modRevision: 0 }],
        [
          { type: 'put', key: 'a/1', value: 'x' },
          { type: 'put', key: 'a/2', value: 'y' },
          { type: 'put', key: 'h', value: '1' },
        ],
      );
      assert.equal(r.succeeded, true);
      const { kvs, revision } = await store.range('a/');
      assert.equal(revision, r.revision);
      assert.deepEqual(
        kvs.map((kv) => [kv.key, kv.value, kv.modRevision, kv.createRevision]),
        [
          ['a/1', 'x', r.revision, r.revision],
          ['a/2', 'y', r.revision, r.revision],
        ],
      );
    });

    it('refuses a transaction whose compare fails and writes nothing', async () => {
      const first = await store.txn([{ key: 'h', modRevision: 0 }], [{ type: 'put', key: 'h', value: '1' }]);
      const stale = await store.txn(
        [{ key: 'h', modRevision: 0 }],
        [
          { type: 'put', key: 'b', value: 'z' },
          { type: 'put', key: 'h', value: '2' },
        ],
      );
      assert.equal(stale.succeeded, false);
      assert.equal(await store.get('b'), undefined);
      assert.equal((await store.get('h'))?.modRevision, first.revision);
    });

    it('keeps createRevision across updates and deletes keys', async () => {
      const a = await store.txn([{ key: 'k', modRevision: 0 }], [{ type: 'put', key: 'k', value: '1' }]);
      const b = await store.txn([{ key: 'k', modRevision: a.revision }], [{ type: 'put', key: 'k', value: '2' }]);
      const kv = await store.get('k');
      assert.deepEqual([kv?.key, kv?.value, kv?.createRevision, kv?.modRevision], ['k', '2', a.revision, b.revision]);
      await store.txn([{ key: 'k', modRevision: b.revision }], [{ type: 'delete', key: 'k' }]);
      assert.equal(await store.get('k'), undefined);
    });

    it('watches from a revision with no gap and no duplicate, deletes carrying the old value', async () => {
      const r1 = await store.txn([{ key: 'w/1', modRevision: 0 }], [{ type: 'put', key: 'w/1', value: 'a' }]);
      const r2 = await store.txn(
        [{ key: 'w/2', modRevision: 0 }],
        [
          { type: 'put', key: 'w/2', value: 'b' },
          { type: 'put', key: 'other', value: 'x' },
        ],
      );
      const events = collect(store, 'w/', r1.revision, 3);
      await store.txn([{ key: 'w/1', modRevision: r1.revision }], [{ type: 'delete', key: 'w/1' }]);
      await store.txn([{ key: 'w/3', modRevision: 0 }], [{ type: 'put', key: 'w/3', value: 'c' }]);
      const got = await events;
      assert.deepEqual(
        got.map((e) => [e.type, e.key, e.value]),
        [
          ['put', 'w/2', 'b'],
          ['delete', 'w/1', 'a'],
          ['put', 'w/3', 'c'],
        ],
      );
      assert.equal(got[0]?.modRevision, r2.revision);
    });

    it('watches without deleted values when asked: the same events in order, a delete by its key', async () => {
      const r1 = await store.txn([{ key: 'v/1', modRevision: 0 }], [{ type: 'put', key: 'v/1', value: 'a' }]);
      const events = collect(store, 'v/', r1.revision, 2, { deletedValues: false });
      const r2 = await store.txn([{ key: 'v/1', modRevision: r1.revision }], [{ type: 'delete', key: 'v/1' }]);
      await store.txn([{ key: 'v/2', modRevision: 0 }], [{ type: 'put', key: 'v/2', value: 'b' }]);
      const got = await events;
      assert.deepEqual(
        got.map((e) => [e.type, e.key]),
        [
          ['delete', 'v/1'],
          ['put', 'v/2'],
        ],
      );
      assert.equal(got[0]?.modRevision, r2.revision);
      assert.equal(got[1]?.value, 'b');
    });

    it('reads and transactions under one long-lived AbortSignal leave no listener on it', async () => {
      // A controller passes its lifetime signal to every call: a listener left per call would pile up.
      const ac = new AbortController();
      for (let i = 0; i < 20; i++) {
        await store.txn([], [{ type: 'put', key: `l/${i}`, value: String(i) }], ac.signal);
        await store.get(`l/${i}`, ac.signal);
        await store.range('l/', ac.signal);
      }
      assert.equal((await store.range('l/', ac.signal)).kvs.length, 20);
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    });

    it('fails a watch from a compacted revision with GoneError', async () => {
      const r1 = await store.txn([{ key: 'c', modRevision: 0 }], [{ type: 'put', key: 'c', value: '1' }]);
      const r2 = await store.txn([{ key: 'c', modRevision: r1.revision }], [{ type: 'put', key: 'c', value: '2' }]);
      const r3 = await store.txn([{ key: 'c', modRevision: r2.revision }], [{ type: 'put', key: 'c', value: '3' }]);
      await store.compact(r3.revision);
      await assert.rejects(collect(store, 'c', r1.revision, 1), GoneError);
      // Watching from the compaction revision itself still works.
      const fromHere = collect(store, 'c', r2.revision, 1);
      assert.deepEqual(
        (await fromHere).map((e) => e.value),
        ['3'],
      );
      // History stored as keys survives compaction: the current value is still there.
      assert.equal((await store.get('c'))?.value, '3');
    });

    it('elects one candidate at a time, and ends the terms a restarted replica reclaims by prefix', async () => {
      const ac = new AbortController();
      try {
        const first = await store.campaign('gw', 'replica-1/host/100', 10, ac.signal);
        let secondElected = false;
        const second = store.campaign('gw', 'replica-2/host/200', 10, ac.signal).then((l) => {
          secondElected = true;
          return l;
        });
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(secondElected, false, 'one leader at a time');
        // Another replica's prefix ends nothing; our own ends our dead self's term at once.
        assert.equal(await store.reclaimLeadership('gw', 'replica-3/'), 0);
        assert.equal(await store.reclaimLeadership('gw', 'replica-1/'), 1);
        const lost = await Promise.race([
          first.lost.then(() => 'lost'),
          new Promise((r) =>
            setTimeout(() => {
              r('kept');
            }, 5000),
          ),
        ]);
        assert.equal(lost, 'lost');
        const leadership = await Promise.race([
          second,
          new Promise<undefined>((r) =>
            setTimeout(() => {
              r(undefined);
            }, 5000),
          ),
        ]);
        assert.ok(leadership !== undefined, 'the next candidate is elected');
        await leadership.resign();
      } finally {
        ac.abort();
      }
    });
  });
}

contract('MemoryStore (in-memory fake)', () => Promise.resolve(new MemoryStore()));

let etcd: TestEtcd | undefined;
contract('EtcdStore on a real etcd', async () => {
  etcd ??= await startTestEtcd();
  return new EtcdStore({ endpoints: [etcd.url], namespace: `/t-${randomUUID()}` });
});
