// A per-domain call budget on top of the SDK's own retries: a token bucket paces the domain's
// calls, a reconcile may make at most so many, and a call the provider throttled (after the SDK gave
// up) waits out a backoff and is tried again, while the domain's rate halves and then recovers one
// call per second per success. One budget per domain, so a throttled VPC slows alone.
import { UnavailableError } from '../../controlplane/api/errors.ts';
import { delayFor, type BackoffOptions } from '../../controlplane/kernel/backoff.ts';
import { systemClock, type Clock } from '../../controlplane/kernel/clock.ts';
import { CallBudgetExhaustedError, ThrottledError, type CallGate } from './provider-errors.ts';

export interface CallBudgetOptions {
  /** Steady calls per second; default 10. */
  readonly ratePerSecond?: number;
  /** Calls allowed at once after a quiet spell; default 20. */
  readonly burst?: number;
  /** Calls one reconcile may make (pages and retries included); default 500. */
  readonly maxCallsPerReconcile?: number;
  /** Wait before retrying a throttled call; default 1 s doubling to 30 s. */
  readonly throttleBackoff?: BackoffOptions;
  /** Retries of one throttled call by the budget (each after the SDK's own); default 4. */
  readonly maxThrottleRetries?: number;
}

export { CallBudgetExhaustedError };

export interface CallBudgetStats {
  readonly calls: number;
  readonly throttled: number;
  readonly waitedMs: number;
  readonly ratePerSecond: number;
}

export class CallBudget implements CallGate {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly baseRate: number;
  private readonly burst: number;
  private readonly maxCalls: number;
  private readonly backoff: BackoffOptions;
  private readonly maxRetries: number;
  private rate: number;
  private tokens: number;
  private refilledAt: number;
  private throttleStreak = 0;
  private notBefore = 0;
  private callsThisReconcile = 0;
  private totals = { calls: 0, throttled: 0, waitedMs: 0 };

  constructor(options: CallBudgetOptions = {}, clock: Clock = systemClock, random: () => number = Math.random) {
    this.clock = clock;
    this.random = random;
    this.baseRate = options.ratePerSecond ?? 10;
    this.burst = options.burst ?? 20;
    this.maxCalls = options.maxCallsPerReconcile ?? 500;
    this.backoff = options.throttleBackoff ?? { baseMs: 1000, maxMs: 30_000 };
    this.maxRetries = options.maxThrottleRetries ?? 4;
    this.rate = this.baseRate;
    this.tokens = this.burst;
    this.refilledAt = clock.now();
  }

  /** A reconcile starts: its own allowance of calls. */
  begin(): void {
    this.callsThisReconcile = 0;
  }

  stats(): CallBudgetStats {
    return { ...this.totals, ratePerSecond: this.rate };
  }

  async run<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let retry = 0; ; retry++) {
      if (this.callsThisReconcile >= this.maxCalls) {
        throw new CallBudgetExhaustedError(`this reconcile made its ${this.maxCalls} calls; the rest follows on the next one`);
      }
      await this.take(signal);
      this.callsThisReconcile += 1;
      this.totals.calls += 1;
      try {
        const result = await call();
        this.throttleStreak = 0;
        this.rate = Math.min(this.baseRate, this.rate + 1);
        return result;
      } catch (err) {
        if (!(err instanceof ThrottledError)) throw err;
        this.totals.throttled += 1;
        this.rate = Math.max(this.baseRate / 16, this.rate / 2);
        this.notBefore = this.clock.now() + delayFor(this.backoff, this.throttleStreak, this.random);
        this.throttleStreak += 1;
        if (retry >= this.maxRetries) throw err;
      }
    }
  }

  /** Waits for the backoff to pass and for a token. */
  private async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) throw new UnavailableError('aborted');
      const now = this.clock.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
      this.refilledAt = now;
      const wait = Math.max(this.notBefore - now, this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.rate) * 1000);
      if (wait <= 0) {
        this.tokens -= 1;
        return;
      }
      this.totals.waitedMs += wait;
      await this.sleep(wait, signal);
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(done, ms);
      function done(): void {
        timer.cancel();
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** One CallBudget per domain, made on first use: a throttled domain slows alone. */
export class DomainBudgets {
  private readonly budgets = new Map<string, CallBudget>();
  private readonly options: CallBudgetOptions | undefined;
  private readonly clock: Clock;
  private readonly random: (() => number) | undefined;

  constructor(options: CallBudgetOptions | undefined, clock: Clock, random?: () => number) {
    this.options = options;
    this.clock = clock;
    this.random = random;
  }

  for(domain: string): CallBudget {
    let b = this.budgets.get(domain);
    if (b === undefined) {
      b = new CallBudget(this.options, this.clock, this.random);
      this.budgets.set(domain, b);
    }
    return b;
  }

  /** The call budget of a domain (calls, throttled calls, time waited, current rate); undefined before its first call. */
  stats(domain: string): CallBudgetStats | undefined {
    return this.budgets.get(domain)?.stats();
  }
}
