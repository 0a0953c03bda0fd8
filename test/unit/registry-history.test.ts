// `causeway history --limit N` reads the newest records only (the chaos suite found each call read
// every record ever written: ~1 MB more per 1,000-object apply). The limited read must answer
// exactly what the full read answers, for every filter, and touch only the records it returns
// (plus at most one page).
import assert from 'node:assert/strict';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { HISTORY_PREFIX } from '../../controlplane/api/keys.ts';
import { MemoryStore } from '../../controlplane/registry/memory-store.ts';
import { Registry } from '../../controlplane/registry/registry.ts';
import { declared, network } from '../fixtures/resources.ts';

const admin = { name: 'alice', role: 'admin' };

/** The store, counting the history records it hands out one by one. */
class CountingStore extends MemoryStore {
  historyGets = 0;
  override get(key: string): ReturnType<MemoryStore['get']> {
    if (key.startsWith(HISTORY_PREFIX)) this.historyGets++;
    return super.get(key);
  }
}

describe('registry history with a limit (in-memory store fake)', () => {
  let store: CountingStore;
  let registry: Registry;
  before(async () => {
    store = new CountingStore();
    registry = new Registry(store);
    // 300 writes: networks a-0..a-149 and b-0..b-149, interleaved.
    for (let i = 0; i < 150; i++) {
      await registry.apply(declared(network(`a-${i}`)), admin);
      await registry.apply(declared(network(`b-${i}`)), admin);
    }
  });

  it('answers the newest N, newest first, exactly as the full read does', async () => {
    const all = await registry.history();
    assert.equal(all.length, 300);
    for (const limit of [1, 5, 64, 65, 200, 300, 1000]) {
      assert.deepEqual(await registry.history({ limit }), all.slice(0, limit), `limit ${limit}`);
    }
  });

  it('reads only the records it needs: a page of 64 for --limit 20, not all 300', async () => {
    store.historyGets = 0;
    await registry.history({ limit: 20 });
    assert.ok(store.historyGets <= 64, `read ${store.historyGets} records`);
  });

  it('applies the object filter and the caller visibility before counting to the limit', async () => {
    const ref = { kind: 'Network' as const, name: 'a-3' };
    assert.deepEqual(await registry.history({ ref, limit: 5 }), await registry.history({ ref }));
    assert.equal((await registry.history({ ref, limit: 5 })).length, 1);
    const onlyB = (e: HistoryEntry): HistoryEntry | undefined => (e.changes.some((c) => c.name.startsWith('b-')) ? e : undefined);
    const bs = await registry.history({ select: onlyB, limit: 10 });
    assert.equal(bs.length, 10);
    assert.deepEqual(bs, (await registry.history({ select: onlyB })).slice(0, 10));
    assert.ok(bs.every((e) => e.changes[0]?.name.startsWith('b-') === true));
  });
});
