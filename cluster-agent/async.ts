// Small async helpers the agent's loops share: an abortable sleep, a wake-up a loop waits on
// until its condition holds, and a jittered exponential backoff (so that many agents retrying
// at once spread out instead of hitting the hub in waves), and a race against an AbortSignal.
import { UnavailableError } from '../controlplane/api/errors.ts';

/** Read through a call, so that type narrowing does not assume it stays false across awaits. */
export function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Loops wait here for "something changed"; they re-check their own condition (level-based). */
export class Wakeup {
  private waiters: (() => void)[] = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next notify, on abort, or after `timeoutMs`. */
  wait(signal: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      let settled = false;
      const done = (): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  /** Waits until `condition()` holds (true) or the signal aborts (false) or the deadline passes (false). */
  async until(condition: () => boolean, signal: AbortSignal, timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    while (!condition()) {
      if (signal.aborted) return false;
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) return false;
      await this.wait(signal, left);
    }
    return true;
  }
}

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Exponential with "equal jitter": between half and all of min(max, base·2ⁿ). */
export class Backoff {
  private attempt = 0;
  private readonly options: BackoffOptions;
  private readonly random: () => number;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.options = options;
    this.random = random;
  }

  next(): number {
    const cap = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return cap / 2 + this.random() * (cap / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Settles with `p`, or rejects with UnavailableError once `signal` aborts: for client calls that
 * take no AbortSignal themselves (the Kubernetes and NATS clients).
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (aborted(signal)) return Promise.reject(new UnavailableError('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(new UnavailableError('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
