// The per-domain call budget (providers/model/call-budget.ts) on a manual clock: pacing, backoff of
// throttled calls with the rate halving and recovering, the per-reconcile allowance, abort.
import assert from 'node:assert/strict';
import { UnavailableError } from '../../../controlplane/api/errors.ts';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import { CallBudget, CallBudgetExhaustedError } from '../../../providers/model/call-budget.ts';
import { ThrottledError } from '../../../providers/model/provider-errors.ts';

/** Lets pending promise callbacks run (the budget awaits between clock steps). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('per-domain call budget (manual clock)', () => {
  const signal = new AbortController().signal;

  it('paces calls to its rate once the burst is spent', async () => {
    const clock = new ManualClock();
    const budget = new CallBudget({ ratePerSecond: 2, burst: 1 }, clock, () => 0.5);
    const done: number[] = [];
    const calls = [0, 1, 2].map((i) => budget.run(() => Promise.resolve(i), signal).then((v) => done.push(v)));
    await settle();
    assert.deepEqual(done, [0]);
    clock.advance(499);
    await settle();
    assert.deepEqual(done, [0]);
    clock.advance(1);
    await settle();
    assert.equal(done.length, 2);
    clock.advance(500);
    await settle();
    await Promise.all(calls);
    assert.equal(done.length, 3);
  });

  it('retries a throttled call after a backoff, halves its rate, and recovers one call per second per success', async () => {
    const clock = new ManualClock();
    const budget = new CallBudget({ ratePerSecond: 8, burst: 100, throttleBackoff: { baseMs: 100, maxMs: 1000 } }, clock, () => 0);
    let attempts = 0;
    const p = budget.run(() => {
      attempts += 1;
      return attempts <= 2 ? Promise.reject(new ThrottledError('EC2 RequestLimitExceeded')) : Promise.resolve('ok');
    }, signal);
    await settle();
    assert.equal(attempts, 1);
    // Equal jitter with random() = 0: half the cap, 50 ms then 100 ms.
    clock.advance(50);
    await settle();
    assert.equal(attempts, 2);
    // Both attempts were throttled: 8 → 4 → 2 calls per second.
    assert.equal(budget.stats().ratePerSecond, 2);
    clock.advance(99);
    await settle();
    assert.equal(attempts, 2);
    clock.advance(1);
    assert.equal(await p, 'ok');
    assert.deepEqual(budget.stats(), { calls: 3, throttled: 2, waitedMs: 150, ratePerSecond: 3 });
  });

  it('gives up on a call throttled more often than it may retry, with the ThrottledError', async () => {
    const clock = new ManualClock();
    const budget = new CallBudget({ throttleBackoff: { baseMs: 10, maxMs: 10 }, maxThrottleRetries: 1 }, clock, () => 0);
    const p = budget.run(() => Promise.reject(new ThrottledError('throttled')), signal);
    const outcome = p.catch((e: unknown) => e);
    await settle();
    clock.advance(10);
    await settle();
    assert.ok((await outcome) instanceof ThrottledError);
  });

  it('passes other failures through at once, without retrying', async () => {
    const budget = new CallBudget({}, new ManualClock());
    let attempts = 0;
    await assert.rejects(
      budget.run(() => {
        attempts += 1;
        return Promise.reject(new UnavailableError('server fault'));
      }, signal),
      /server fault/,
    );
    assert.equal(attempts, 1);
  });

  it('allows a reconcile so many calls, and the next reconcile its own', async () => {
    const budget = new CallBudget({ maxCallsPerReconcile: 2 }, new ManualClock());
    budget.begin();
    await budget.run(() => Promise.resolve(1), signal);
    await budget.run(() => Promise.resolve(2), signal);
    await assert.rejects(
      budget.run(() => Promise.resolve(3), signal),
      (e: unknown) => e instanceof CallBudgetExhaustedError && e instanceof UnavailableError,
    );
    budget.begin();
    assert.equal(await budget.run(() => Promise.resolve(4), signal), 4);
  });

  it('stops waiting when the signal aborts', async () => {
    const clock = new ManualClock();
    const budget = new CallBudget({ ratePerSecond: 1, burst: 1 }, clock);
    await budget.run(() => Promise.resolve(1), signal);
    const ac = new AbortController();
    const p = budget.run(() => Promise.resolve(2), ac.signal);
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof UnavailableError && e.message === 'aborted');
  });
});
