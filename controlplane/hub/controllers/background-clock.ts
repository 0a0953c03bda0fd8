// The clock the hub's controllers requeue on: the system clock, but its timers do not keep the
// process alive. A requeue (a TTL check, a retry) pending when the gateway stops must not hold a
// stopping hub open for up to a TTL; the controllers' runs, not their timers, are the hub's work.
import type { Clock } from '../../kernel/clock.ts';

export const backgroundClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return {
      cancel: () => {
        clearTimeout(t);
      },
    };
  },
};
