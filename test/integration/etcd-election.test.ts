// Leadership on a real etcd with the lease kept by a worker thread (etcd-election.ts): a leader
// whose main thread stalls for longer than the lease keeps its term, a leader stalled past the
// stall bound gives it up to the standby, and resigning hands over at once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { EtcdStore } from '../../controlplane/registry/etcd-store.ts';
import type { Leadership } from '../../controlplane/registry/store.ts';
import { onCleanup } from '../harness/cleanup.ts';
import { startTestEtcd, type TestEtcd } from '../harness/servers.ts';
import { waitFor } from '../harness/wait.ts';

/** Blocks this thread (the hub's would be computing): no timer, no gRPC callback runs meanwhile. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

/** What `p` settled to within `ms`, or 'pending'. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<'pending'>((r) => {
        timer = setTimeout(() => {
          r('pending');
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('etcd leadership kept by a worker thread (real etcd)', function () {
  this.timeout(60_000);
  let etcd: TestEtcd;
  let namespace: string;
  const stores: EtcdStore[] = [];
  const storeOf = (electionStallBoundMs?: number): EtcdStore => {
    const store = new EtcdStore({ endpoints: [etcd.url], namespace, ...(electionStallBoundMs !== undefined ? { electionStallBoundMs } : {}) });
    stores.push(store);
    return store;
  };
  before(async () => {
    etcd = await startTestEtcd();
  });
  beforeEach(() => {
    namespace = `/t-${randomUUID()}`;
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('a leader whose thread stalls for longer than its 2 s lease keeps its term, and no standby is elected', async () => {
    const ac = new AbortController();
    onCleanup(() => {
      ac.abort();
      return Promise.resolve();
    });
    const leader = await storeOf().campaign('gw', 'replica-1/host/1', 2, ac.signal);
    const standby = storeOf().campaign('gw', 'replica-2/host/2', 2, ac.signal);
    stall(3500);
    // What arrived during the stall is handled now.
    assert.equal(await within(leader.lost, 500), 'pending', 'the term outlived a stall longer than its lease');
    assert.equal(await within(standby, 100), 'pending', 'one leader at a time');
    const key = await storeOf().get(leader.guard.key);
    assert.equal(key?.modRevision, leader.guard.modRevision, "the term's key (its guard) is still in etcd");
    await leader.resign();
    const next = await within(standby, 3000);
    assert.notEqual(next, 'pending', 'resigning hands the term to the standby at once');
    await (next as Leadership).resign();
    await waitFor('both campaigns to let go of the signal', () => getEventListeners(ac.signal, 'abort').length === 0, 3000);
  });

  it('a leader stalled past the stall bound gives its term up, and the standby leads long before the lease would expire', async () => {
    const ac = new AbortController();
    onCleanup(() => {
      ac.abort();
      return Promise.resolve();
    });
    const leader = await storeOf(1500).campaign('gw', 'replica-1/host/1', 30, ac.signal);
    const standby = storeOf().campaign('gw', 'replica-2/host/2', 30, ac.signal);
    const stalledAt = Date.now();
    stall(2500);
    const err = await within(leader.lost, 2000);
    assert.ok(err instanceof Error, 'the stalled leader learns that its term ended');
    assert.match(err.message, /event loop was stalled for \d+\.\d s \(bound 1\.5 s\)/);
    const next = await within(standby, 3000);
    assert.notEqual(next, 'pending', 'the standby is elected');
    assert.ok(Date.now() - stalledAt < 10_000, 'well within the 30 s lease');
    assert.equal(await storeOf().get(leader.guard.key), undefined, "the stalled leader's key is gone: its guarded writes cannot land");
    await (next as Leadership).resign();
  });

  it('a campaign aborted before it wins rejects, and stops its worker', async () => {
    const ac = new AbortController();
    const leader = await storeOf().campaign('gw', 'replica-1/host/1', 5, new AbortController().signal);
    const waiting = storeOf().campaign('gw', 'replica-2/host/2', 5, ac.signal);
    ac.abort();
    await assert.rejects(waiting, /campaign aborted/);
    await leader.resign();
    const reader = storeOf();
    await waitFor("neither campaign's key left in etcd", async () => (await reader.range('election/gw/')).kvs.length === 0, 5000);
  });
});
