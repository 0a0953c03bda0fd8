// Time-driven work on the controller kernel: one key, reconciled at start and then every
// `intervalMs` after it last succeeded (requeueAfterMs); a failure is retried on the kernel's
// backoff instead of waiting a whole interval. The heartbeat and the adoption/drift check use it.
import type { BackoffOptions } from '../../controlplane/kernel/backoff.ts';
import type { Clock } from '../../controlplane/kernel/clock.ts';
import { Controller } from '../../controlplane/kernel/controller.ts';

export interface PeriodicOptions {
  readonly name: string;
  /** 0 or less: once (until it succeeds). */
  readonly intervalMs: number;
  readonly work: (signal: AbortSignal) => Promise<void>;
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly onError: (err: unknown, retryInMs: number | undefined) => void;
}

export function periodicController(options: PeriodicOptions): Controller<string> {
  return new Controller<string>({
    name: options.name,
    backoff: options.backoff,
    clock: options.clock,
    random: options.random,
    resync: () => [options.name],
    reconcile: async (_key, signal) => {
      await options.work(signal);
      return options.intervalMs > 0 ? { requeueAfterMs: options.intervalMs } : undefined;
    },
    onError: (_key, err, retryInMs) => {
      options.onError(err, retryInMs);
    },
  });
}
