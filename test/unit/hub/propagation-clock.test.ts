// The propagation clock (controlplane/hub/controllers/propagation-clock.ts), pure: flushes and
// acknowledgements in, latencies out — per consuming cluster, everywhere once every consumer a
// flush touched has applied it — plus each cluster's lag, bounded by age and by count.
import assert from 'node:assert/strict';
import { PropagationClock } from '../../../controlplane/hub/controllers/propagation-clock.ts';

describe('propagation clock', () => {
  it('times each consumer from the change seen to its acknowledgement, and the flush once all have applied it', () => {
    const p = new PropagationClock();
    p.flushed(10, 1000, ['a', 'b'], 1005);
    p.flushed(12, 1020, ['a'], 1025);
    assert.equal(p.lagMs('a', 1100), 100);
    // a applied up to 11: only the first flush, and b still has it.
    assert.deepEqual(p.acknowledged('a', 11, 1100), { applied: [100], everywhere: [] });
    assert.equal(p.lagMs('a', 1100), 80);
    assert.deepEqual(p.acknowledged('b', 12, 1200), { applied: [200], everywhere: [200] });
    assert.deepEqual(p.acknowledged('a', 15, 1300), { applied: [280], everywhere: [280] });
    assert.equal(p.lagMs('a', 1300), 0);
    assert.deepEqual([...p.clusters()], []);
    // Acknowledging again (the next heartbeat) observes nothing twice.
    assert.deepEqual(p.acknowledged('a', 15, 1400), { applied: [], everywhere: [] });
  });

  it('an acknowledgement below the flush revision completes nothing; an unknown cluster observes nothing', () => {
    const p = new PropagationClock();
    p.flushed(20, 0, ['a'], 0);
    assert.deepEqual(p.acknowledged('a', 19, 50), { applied: [], everywhere: [] });
    assert.deepEqual(p.acknowledged('zz', 99, 50), { applied: [], everywhere: [] });
    assert.equal(p.lagMs('a', 50), 50);
  });

  it('gives up on flushes older than maxAgeMs or beyond maxOpen, counts them expired and never observes them', () => {
    const p = new PropagationClock({ maxAgeMs: 1000, maxOpen: 4 });
    p.flushed(1, 0, ['down'], 0);
    p.flushed(2, 700, ['down', 'up'], 700);
    assert.deepEqual(p.acknowledged('up', 2, 800), { applied: [100], everywhere: [] });
    // At 1600 the first flush is too old.
    p.flushed(3, 1600, ['up'], 1600);
    assert.equal(p.expired(), 1);
    assert.equal(p.lagMs('down', 1600), 900);
    p.flushed(4, 1700, ['up'], 1700);
    p.flushed(5, 1800, ['up'], 1800);
    // Four open with maxOpen 4: the oldest (revision 2, waiting for `down`) goes.
    p.flushed(6, 1900, ['up'], 1900);
    assert.equal(p.expired(), 2);
    assert.equal(p.lagMs('down', 1900), 0);
    assert.deepEqual(p.acknowledged('down', 9, 2000), { applied: [], everywhere: [] });
    assert.deepEqual(p.acknowledged('up', 6, 2000).applied, [400, 300, 200, 100]);
  });

  it('a new term starts from nothing', () => {
    const p = new PropagationClock();
    p.flushed(1, 0, ['a'], 0);
    p.reset();
    assert.equal(p.lagMs('a', 10), 0);
    assert.deepEqual(p.acknowledged('a', 1, 10), { applied: [], everywhere: [] });
  });
});
