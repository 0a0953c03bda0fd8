// Controllers of one key on the kernel: the reporter and the sync (one key, so their work runs
// strictly one at a time, and adds while it runs coalesce into one more pass), and time-driven
// work — reconciled at start and then every `intervalMs` after it last succeeded
// (requeueAfterMs) — for the heartbeat and the adoption/drift check. A failure is retried on the
// kernel's backoff instead of a hand-made loop's.
import type { BackoffOptions } from '../../controlplane/kernel/backoff.ts';
import type { Clock } from '../../controlplane/kernel/clock.ts';
import { Controller, type ReconcileResult } from '../../controlplane/kernel/controller.ts';

/** Retry backoff, timers and randomness a controller runs with. */
export interface KernelSettings {
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
  readonly random: () => number;
}

export interface SingleKeyOptions extends KernelSettings {
  readonly name: string;
  readonly reconcile: (signal: AbortSignal) => Promise<ReconcileResult | undefined>;
  readonly onError: (err: unknown, retryInMs: number | undefined) => void;
  /** Reconcile once on every start without being asked. Default false. */
  readonly atStart?: boolean;
}

/** The key is the controller's name; `add(name)` asks for a pass. */
export function singleKeyController(options: SingleKeyOptions): Controller<string> {
  return new Controller<string>({
    name: options.name,
    backoff: options.backoff,
    clock: options.clock,
    random: options.random,
    ...(options.atStart === true ? { resync: () => [options.name] } : {}),
    reconcile: (_key, signal) => options.reconcile(signal),
    onError: (_key, err, retryInMs) => {
      options.onError(err, retryInMs);
    },
  });
}

export interface PeriodicOptions extends KernelSettings {
  readonly name: string;
  /** 0 or less: once (until it succeeds). */
  readonly intervalMs: number;
  readonly work: (signal: AbortSignal) => Promise<void>;
  readonly onError: (err: unknown, retryInMs: number | undefined) => void;
}

export function periodicController(options: PeriodicOptions): Controller<string> {
  return singleKeyController({
    ...options,
    atStart: true,
    reconcile: async (signal) => {
      await options.work(signal);
      return options.intervalMs > 0 ? { requeueAfterMs: options.intervalMs } : undefined;
    },
  });
}
