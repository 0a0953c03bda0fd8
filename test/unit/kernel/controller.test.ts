// The controller kernel on a manual clock: merging, per-key backoff, requeue-at, concurrency,
// stopping on abort, resync on start. No real timers: time moves only when the test says so.
import assert from 'node:assert/strict';
import { ManualClock } from '../../../controlplane/kernel/clock.ts';
import { Controller, TerminalError, type Reconcile } from '../../../controlplane/kernel/controller.ts';

/** Lets every promise chain that is ready run to completion. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++)
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
}

interface Harness {
  readonly clock: ManualClock;
  readonly controller: Controller<string>;
  readonly runs: string[];
  readonly ac: AbortController;
  readonly done: Promise<void>;
}

function start(reconcile: Reconcile<string>, extra: { concurrency?: number; resync?: () => string[]; onIdle?: () => void } = {}): Harness {
  const clock = new ManualClock(1000);
  const runs: string[] = [];
  const controller = new Controller<string>({
    name: 'test',
    clock,
    random: () => 1,
    backoff: { baseMs: 100, maxMs: 1000 },
    reconcile: async (key, signal) => {
      runs.push(key);
      return reconcile(key, signal);
    },
    ...extra,
  });
  const ac = new AbortController();
  const done = controller.run(ac.signal);
  return { clock, controller, runs, ac, done };
}

describe('controller kernel', () => {
  it('merges a key added several times before it runs', async () => {
    const h = start(() => Promise.resolve(undefined));
    h.controller.add('a');
    h.controller.add('a');
    h.controller.add('b');
    h.controller.add('a');
    await settle();
    assert.deepEqual(h.runs, ['a', 'b']);
    h.ac.abort();
    await h.done;
  });

  it('runs a key once more when it is added while being reconciled', async () => {
    let release: () => void = () => undefined;
    let first = true;
    const h = start(async () => {
      if (first) {
        first = false;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      }
      return undefined;
    });
    h.controller.add('a');
    await settle();
    h.controller.add('a');
    h.controller.add('a');
    await settle();
    assert.deepEqual(h.runs, ['a'], 'not twice at once');
    release();
    await settle();
    assert.deepEqual(h.runs, ['a', 'a']);
    h.ac.abort();
    await h.done;
  });

  it('backs off a failing key alone: the others go on at once', async () => {
    const h = start((key) => (key === 'bad' ? Promise.reject(new Error('refused')) : Promise.resolve(undefined)));
    h.controller.add('bad');
    h.controller.add('good-1');
    await settle();
    assert.deepEqual(h.runs, ['bad', 'good-1']);
    assert.equal(h.controller.failuresOf('bad'), 1);
    h.controller.add('good-2');
    await settle();
    assert.deepEqual(h.runs, ['bad', 'good-1', 'good-2'], 'a new key is not held behind the failing one');
    // Retries at 100, then 200, then 400 ms (random() = 1: the top of each jitter range).
    h.clock.advance(99);
    await settle();
    assert.equal(h.runs.filter((k) => k === 'bad').length, 1);
    h.clock.advance(1);
    await settle();
    assert.equal(h.runs.filter((k) => k === 'bad').length, 2);
    h.clock.advance(199);
    await settle();
    assert.equal(h.runs.filter((k) => k === 'bad').length, 2);
    h.clock.advance(1);
    await settle();
    assert.equal(h.runs.filter((k) => k === 'bad').length, 3);
    assert.equal(h.controller.failuresOf('bad'), 3);
    assert.equal(h.controller.failuresOf('good-1'), 0);
    h.ac.abort();
    await h.done;
  });

  it('resets a key’s backoff once it succeeds', async () => {
    let fail = 2;
    const h = start(() => (fail-- > 0 ? Promise.reject(new Error('not yet')) : Promise.resolve(undefined)));
    h.controller.add('k');
    await settle();
    h.clock.advance(100);
    await settle();
    h.clock.advance(200);
    await settle();
    assert.equal(h.runs.length, 3);
    assert.equal(h.controller.failuresOf('k'), 0);
    assert.equal(h.controller.failing(), 0);
    h.clock.advance(10_000);
    await settle();
    assert.equal(h.runs.length, 3, 'no retry after success');
    h.ac.abort();
    await h.done;
  });

  it('does not retry a TerminalError, and reports it', async () => {
    const errors: [string, number | undefined][] = [];
    const clock = new ManualClock();
    const runs: string[] = [];
    const controller = new Controller<string>({
      name: 't',
      clock,
      reconcile: (key) => {
        runs.push(key);
        return Promise.reject(new TerminalError('never'));
      },
      onError: (key, _err, retry) => {
        errors.push([key, retry]);
      },
    });
    const ac = new AbortController();
    const done = controller.run(ac.signal);
    controller.add('x');
    await settle();
    clock.advance(60_000);
    await settle();
    assert.deepEqual(runs, ['x']);
    assert.deepEqual(errors, [['x', undefined]]);
    ac.abort();
    await done;
  });

  it('requeues at the time a reconciler asks for, and an add before then runs at once', async () => {
    const h = start(() => Promise.resolve({ requeueAfterMs: 5000 }));
    h.controller.add('lease');
    await settle();
    h.clock.advance(4999);
    await settle();
    assert.equal(h.runs.length, 1);
    h.clock.advance(1);
    await settle();
    assert.equal(h.runs.length, 2);
    h.controller.add('lease');
    await settle();
    assert.equal(h.runs.length, 3, 'an add runs now, not at the requeue time');
    h.clock.advance(5000);
    await settle();
    assert.equal(h.runs.length, 4, 'one timer per key: the earlier requeue was replaced');
    h.ac.abort();
    await h.done;
  });

  it('keeps the earliest of two requeue times', async () => {
    const h = start(() => Promise.resolve(undefined));
    h.controller.addAfter('k', 300);
    h.controller.addAfter('k', 100);
    h.controller.addAfter('k', 200);
    h.clock.advance(100);
    await settle();
    assert.deepEqual(h.runs, ['k']);
    h.clock.advance(1000);
    await settle();
    assert.deepEqual(h.runs, ['k']);
    h.ac.abort();
    await h.done;
  });

  it('reconciles at most `concurrency` keys at once', async () => {
    let inFlight = 0;
    let max = 0;
    const gates: (() => void)[] = [];
    const h = start(
      async () => {
        inFlight += 1;
        max = Math.max(max, inFlight);
        await new Promise<void>((resolve) => gates.push(resolve));
        inFlight -= 1;
        return undefined;
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 10; i++) h.controller.add(`k${i}`);
    await settle();
    assert.equal(inFlight, 3);
    while (gates.length > 0) {
      gates.shift()?.();
      await settle();
    }
    assert.equal(h.runs.length, 10);
    assert.equal(max, 3);
    h.ac.abort();
    await h.done;
  });

  it('stops on abort: the reconciler sees the signal, the run ends, an interrupted key is kept', async () => {
    let seen: AbortSignal | undefined;
    const h = start((_key, signal) => {
      seen = signal;
      return new Promise((_resolve, reject) => {
        signal.addEventListener(
          'abort',
          () => {
            reject(new Error('aborted'));
          },
          { once: true },
        );
      });
    });
    h.controller.add('k');
    await settle();
    h.ac.abort();
    await h.done;
    assert.equal(seen?.aborted, true);
    assert.equal(h.controller.pending(), 1, 'still to do');
    assert.equal(h.controller.failuresOf('k'), 0, 'an abort is not a failure');
    // A new run (the next leadership term) picks it up.
    const ac = new AbortController();
    const runs = h.runs.length;
    const again = h.controller.run(ac.signal);
    await settle();
    assert.equal(h.runs.length, runs + 1);
    ac.abort();
    await again;
  });

  it('enqueues every key from resync on each start', async () => {
    const h = start(() => Promise.resolve(undefined), { resync: () => ['a', 'b'] });
    await settle();
    assert.deepEqual(h.runs.sort(), ['a', 'b']);
    h.ac.abort();
    await h.done;
  });

  it('says when it is idle: nothing queued or in flight, retries waiting do not count', async () => {
    let idle = 0;
    const h = start((key) => (key === 'bad' ? Promise.reject(new Error('x')) : Promise.resolve(undefined)), {
      onIdle: () => {
        idle += 1;
      },
    });
    h.controller.add('bad');
    h.controller.add('ok');
    await settle();
    assert.equal(idle, 1);
    assert.equal(h.controller.pending(), 0);
    assert.equal(h.controller.failing(), 1);
    h.ac.abort();
    await h.done;
  });

  it('refuses a second concurrent run', async () => {
    const h = start(() => Promise.resolve(undefined));
    await assert.rejects(h.controller.run(new AbortController().signal), /already running/);
    h.ac.abort();
    await h.done;
  });
});
