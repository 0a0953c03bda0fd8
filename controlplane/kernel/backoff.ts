// The one retry policy: exponential with "equal jitter", between half and all of
// min(max, base·2ⁿ), so that many agents retrying at once spread out instead of arriving in waves.
// `Backoff` counts the attempts of one loop; `delayFor` is the same curve for a counter kept
// elsewhere (the controller kernel keeps one per key).

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The delay before retry number `attempt` (0 is the first retry). */
export function delayFor(options: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return cap / 2 + random() * (cap / 2);
}

export class Backoff {
  private attempt = 0;
  private readonly options: BackoffOptions;
  private readonly random: () => number;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.options = options;
    this.random = random;
  }

  next(): number {
    const delay = delayFor(this.options, this.attempt, this.random);
    this.attempt += 1;
    return delay;
  }

  reset(): void {
    this.attempt = 0;
  }
}
