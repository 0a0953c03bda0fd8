// The controller kernel: a work queue of keys and the workers that reconcile them, after
// controller-runtime's controller and client-go's rate-limiting work queue.
//
// - A key added again while it waits is merged; added while it is being reconciled, it runs once
//   more afterwards (the reconciler reads current state, so one more pass sees everything).
// - A failure requeues that key alone after its own backoff; other keys go on at once. A success
//   resets the key's failure count. `TerminalError` stops retrying (the caller is told).
// - A reconciler may ask to run again at a time (`requeueAfterMs`): time-driven work such as
//   lease expiry is requeued exactly when it is due, not polled.
// - `run(signal)` starts the workers and returns once the signal aborted and work in flight
//   ended; the reconciler gets the same signal, so losing a leadership lease stops work in flight.
//   Keys added while no run is active are kept, and `resync` enqueues every key on each start.
import { delayFor, type BackoffOptions } from './backoff.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';

export interface ReconcileResult {
  /** Reconcile this key again after this long (time-driven work), even if nothing changes. */
  readonly requeueAfterMs?: number;
}

export type Reconcile<K> = (key: K, signal: AbortSignal) => Promise<ReconcileResult | undefined>;

/** Thrown by a reconciler for a failure that retrying cannot fix. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export interface ControllerOptions<K> {
  readonly name: string;
  readonly reconcile: Reconcile<K>;
  /** Identity of a key; default String(key). Keys with the same identity are one key. */
  readonly keyId?: (key: K) => string;
  /** Keys reconciled at once. Default 1. */
  readonly concurrency?: number;
  /** Per-key retry backoff. Default 250 ms doubling to 30 s. */
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Every key to reconcile when a run starts (level-based: a new leader looks at everything). */
  readonly resync?: () => Iterable<K>;
  /** A reconcile failed: `retryInMs` is undefined for a TerminalError. */
  readonly onError?: (key: K, err: unknown, retryInMs: number | undefined) => void;
  /** Nothing is queued or in flight (keys waiting for a retry or a requeue time do not count). */
  readonly onIdle?: () => void;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 30_000 };

export class Controller<K> {
  readonly name: string;
  private readonly opts: ControllerOptions<K>;
  private readonly clock: Clock;
  private readonly keyId: (key: K) => string;
  private readonly queue = new Map<string, K>();
  private readonly processing = new Set<string>();
  private readonly again = new Map<string, K>();
  private readonly failures = new Map<string, number>();
  private readonly later = new Map<string, { at: number; timer: Timer; key: K }>();
  private wake: (() => void) | undefined;
  private signal: AbortSignal | undefined;

  constructor(options: ControllerOptions<K>) {
    this.opts = options;
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.keyId = options.keyId ?? ((k) => String(k));
  }

  /** Marks a key for reconciling now (merged with a pending add, a retry or a requeue time). */
  add(key: K): void {
    const id = this.keyId(key);
    this.cancelLater(id);
    if (this.processing.has(id)) this.again.set(id, key);
    else if (!this.queue.has(id)) {
      this.queue.set(id, key);
      this.wake?.();
    }
  }

  /** Marks a key for reconciling after `ms`; an earlier pending time (or a pending add) wins. */
  addAfter(key: K, ms: number): void {
    const id = this.keyId(key);
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.queue.has(id) || this.again.has(id)) return;
    const at = this.clock.now() + ms;
    const existing = this.later.get(id);
    if (existing !== undefined && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      if (this.later.get(id)?.timer !== timer) return;
      this.later.delete(id);
      this.add(key);
    }, ms);
    this.later.set(id, { at, timer, key });
  }

  /** Keys queued or being reconciled now (not those waiting for a time). */
  pending(): number {
    return this.queue.size + this.processing.size + this.again.size;
  }

  /** Keys whose last reconcile failed and that wait for their retry. */
  failing(): number {
    return this.failures.size;
  }

  /** The failure count of a key (0 when its last reconcile succeeded). */
  failuresOf(key: K): number {
    return this.failures.get(this.keyId(key)) ?? 0;
  }

  /** Runs the workers until `signal` aborts; resolves once work in flight has ended. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.signal !== undefined && !this.signal.aborted) throw new Error(`controller ${this.name} is already running`);
    this.signal = signal;
    for (const key of this.opts.resync?.() ?? []) this.add(key);
    const stop = (): void => {
      this.wake?.();
    };
    signal.addEventListener('abort', stop, { once: true });
    try {
      const workers = Math.max(1, this.opts.concurrency ?? 1);
      await Promise.all(Array.from({ length: workers }, () => this.worker(signal)));
    } finally {
      signal.removeEventListener('abort', stop);
      // A stopped controller holds no timer (it would keep the process alive); keys that waited for
      // a time are still to do, by whoever runs next.
      for (const [id, l] of this.later) {
        l.timer.cancel();
        this.queue.set(id, l.key);
      }
      this.later.clear();
    }
  }

  private async worker(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const next = this.queue.entries().next();
      if (next.done === true) {
        await new Promise<void>((resolve) => {
          const previous = this.wake;
          this.wake = () => {
            this.wake = undefined;
            previous?.();
            resolve();
          };
        });
        continue;
      }
      const [id, key] = next.value;
      this.queue.delete(id);
      this.processing.add(id);
      await this.process(id, key, signal);
      this.processing.delete(id);
      const again = this.again.get(id);
      if (again !== undefined) {
        this.again.delete(id);
        this.add(again);
      }
      if (this.pending() === 0) this.opts.onIdle?.();
    }
  }

  private async process(id: string, key: K, signal: AbortSignal): Promise<void> {
    try {
      const result = await this.opts.reconcile(key, signal);
      this.failures.delete(id);
      if (result?.requeueAfterMs !== undefined && !this.again.has(id)) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (signal.aborted) {
        // Stopped mid-way: the key is still to do, by whoever runs next.
        this.again.set(id, key);
        return;
      }
      if (err instanceof TerminalError) {
        this.failures.delete(id);
        this.opts.onError?.(key, err, undefined);
        return;
      }
      const attempt = this.failures.get(id) ?? 0;
      this.failures.set(id, attempt + 1);
      const delay = delayFor(this.opts.backoff ?? DEFAULT_BACKOFF, attempt, this.opts.random);
      this.opts.onError?.(key, err, delay);
      if (!this.again.has(id)) this.addAfter(key, delay);
    }
  }

  private cancelLater(id: string): void {
    const l = this.later.get(id);
    if (l === undefined) return;
    l.timer.cancel();
    this.later.delete(id);
  }
}
