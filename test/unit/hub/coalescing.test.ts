// The hub's coalescing of registry and export changes (issue 11 §1: "the first change after an idle
// period is sent at once; batching grows only under load"), as the pure delay it schedules.
import assert from 'node:assert/strict';
import { flushDelay } from '../../../controlplane/hub/service-controller.ts';

describe('coalescing of changes before they are applied and delivered', () => {
  const WINDOW = 20;

  it('sends the first change at once: never flushed before, or quiet for a window or more', () => {
    assert.equal(flushDelay(1000, Number.NEGATIVE_INFINITY, WINDOW), 0);
    assert.equal(flushDelay(1000, 980, WINDOW), 0);
    assert.equal(flushDelay(1000, 500, WINDOW), 0);
  });

  it('under load, waits for the rest of the window that began with the last flush', () => {
    assert.equal(flushDelay(1001, 1000, WINDOW), 19);
    assert.equal(flushDelay(1015, 1000, WINDOW), 5);
    assert.equal(flushDelay(1000, 1000, WINDOW), 20);
  });

  it('never waits longer than one window, whatever the clock says', () => {
    assert.equal(flushDelay(1000, 5000, WINDOW), 20);
  });

  it('a steady stream of changes is applied once per window, not once per change', () => {
    // Changes every millisecond for 100 ms; each schedules a flush only when none is pending.
    let lastFlush = Number.NEGATIVE_INFINITY;
    let pendingAt: number | undefined;
    const flushes: number[] = [];
    for (let t = 0; t <= 100; t++) {
      pendingAt ??= t + flushDelay(t, lastFlush, WINDOW);
      if (t >= pendingAt) {
        flushes.push(t);
        lastFlush = t;
        pendingAt = undefined;
      }
    }
    assert.deepEqual(flushes, [0, 20, 40, 60, 80, 100]);
  });
});
