// A stopped controller leaves no timer behind (a requeue or retry timer would keep the process
// alive after every other handle closed) and loses no key: what waited for a time runs on the
// next start. Manual clock, no real timers.
import assert from 'node:assert/strict';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import { Controller } from '../../../controlplane/kernel/controller.ts';

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++)
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
}

describe('controller kernel: stopping', () => {
  it('cancels requeue and retry timers on stop, and runs those keys at once on the next run', async () => {
    const clock = new ManualClock(0);
    const runs: string[] = [];
    const controller = new Controller<string>({
      name: 'stop-test',
      clock,
      random: () => 1,
      backoff: { baseMs: 1000, maxMs: 1000 },
      reconcile: (key) => {
        runs.push(key);
        if (key === 'fails') return Promise.reject(new Error('refused'));
        return Promise.resolve({ requeueAfterMs: 300_000 });
      },
    });
    const first = new AbortController();
    const running = controller.run(first.signal);
    controller.add('lease');
    controller.add('fails');
    await settle();
    assert.deepEqual(runs.sort(), ['fails', 'lease']);
    assert.equal(clock.pending, 2, 'one requeue timer and one retry timer while running');

    first.abort();
    await running;
    assert.equal(clock.pending, 0, 'no timer outlives the run');

    runs.length = 0;
    const second = new AbortController();
    const again = controller.run(second.signal);
    await settle();
    assert.deepEqual(runs.sort(), ['fails', 'lease'], 'both keys run on the next start without waiting for their old times');
    second.abort();
    await again;
    assert.equal(clock.pending, 0);
  });
});
