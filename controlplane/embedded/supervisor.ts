// Keeps one server the hub started running (issue 13 §2): when it exits without being asked to, the
// supervisor logs how (exit code or signal, and the last lines of its log), starts it again on the
// same address with backoff, and gives up — resolving `fatal`, on which the hub exits non-zero —
// only when it could not be brought back within `giveUpAfterMs`. What it sees is what /readyz and
// /metrics report.
import { UnavailableError } from '../api/errors.ts';
import { aborted, abortedPromise, sleep } from '../kernel/async.ts';
import { Backoff, type BackoffOptions } from '../kernel/backoff.ts';
import { tailOf, type ChildExit, type ChildServer } from './child-server.ts';

export interface Supervisable {
  readonly server: ChildServer;
  stop(): Promise<void>;
}

export type SupervisorState = 'running' | 'restarting' | 'stopped' | 'failed';

export type SupervisorEvent =
  | { readonly kind: 'exited'; readonly name: string; readonly exit: ChildExit; readonly logTail: string }
  | { readonly kind: 'restarted'; readonly name: string; readonly attempt: number; readonly downMs: number }
  | { readonly kind: 'restart-failed'; readonly name: string; readonly attempt: number; readonly err: unknown; readonly retryInMs: number }
  | { readonly kind: 'gave-up'; readonly name: string; readonly err: Error };

export interface SupervisorOptions<T extends Supervisable> {
  readonly name: string;
  /** Starts the server; called again for each restart (it must serve the same address). */
  readonly start: () => Promise<T>;
  readonly logFile: string;
  readonly onEvent: (event: SupervisorEvent) => void;
  /** Default 250 ms doubling to 5 s. */
  readonly backoff?: BackoffOptions;
  /** How long the server may stay down before the supervisor gives up; default 60 s. */
  readonly giveUpAfterMs?: number;
}

export const DEFAULT_GIVE_UP_AFTER_MS = 60_000;

export class Supervisor<T extends Supervisable> {
  readonly name: string;
  /** Resolves with the reason once the supervisor has given up; never rejects. */
  readonly fatal: Promise<Error>;
  private current: T;
  private status: SupervisorState = 'running';
  private restartCount = 0;
  private downSince: number | undefined;
  private readonly options: SupervisorOptions<T>;
  private readonly stopping = new AbortController();
  private giveUp: (err: Error) => void = () => undefined;
  private readonly loop: Promise<void>;
  private readonly restartListeners: (() => void)[] = [];

  private constructor(options: SupervisorOptions<T>, first: T) {
    this.name = options.name;
    this.options = options;
    this.current = first;
    this.fatal = new Promise((resolve) => {
      this.giveUp = resolve;
    });
    this.loop = this.watch();
  }

  /** Starts the server the first time; a failure here is the caller's (nothing to restart yet). */
  static async start<T extends Supervisable>(options: SupervisorOptions<T>): Promise<Supervisor<T>> {
    return new Supervisor(options, await options.start());
  }

  get server(): T {
    return this.current;
  }

  get state(): SupervisorState {
    return this.status;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** Called after each restart (the hub counts them in /metrics). */
  onRestart(listener: () => void): void {
    this.restartListeners.push(listener);
  }

  /** Milliseconds the server has been down, 0 while it runs. */
  downForMs(now = Date.now()): number {
    return this.downSince === undefined ? 0 : now - this.downSince;
  }

  /** Stops supervising, then the server; no restart after this. */
  async stop(): Promise<void> {
    if (this.status !== 'failed') this.status = 'stopped';
    this.stopping.abort();
    await this.current.stop();
    await this.loop;
  }

  private async watch(): Promise<void> {
    const signal = this.stopping.signal;
    const backoff = new Backoff(this.options.backoff ?? { baseMs: 250, maxMs: 5000 });
    const giveUpAfterMs = this.options.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS;
    while (!aborted(signal)) {
      const exit = await Promise.race([this.current.server.whenExited(), abortedPromise(signal)]);
      if (exit === undefined || aborted(signal)) return;
      this.status = 'restarting';
      this.downSince = Date.now();
      this.options.onEvent({ kind: 'exited', name: this.name, exit, logTail: await tailOf(this.options.logFile) });
      backoff.reset();
      for (let attempt = 1; ; attempt++) {
        if (aborted(signal)) return;
        try {
          const started = await this.options.start();
          if (aborted(signal)) {
            await started.stop();
            return;
          }
          this.current = started;
          this.restartCount += 1;
          this.options.onEvent({ kind: 'restarted', name: this.name, attempt, downMs: this.downForMs() });
          this.status = 'running';
          this.downSince = undefined;
          for (const l of this.restartListeners) l();
          break;
        } catch (err) {
          const downMs = this.downForMs();
          if (downMs >= giveUpAfterMs) {
            const reason = new UnavailableError(
              `${this.name} could not be started again within ${Math.round(giveUpAfterMs / 1000)} s (${attempt} attempts): ${(err as Error).message}`,
              { cause: err },
            );
            this.status = 'failed';
            this.options.onEvent({ kind: 'gave-up', name: this.name, err: reason });
            this.giveUp(reason);
            return;
          }
          const retryInMs = Math.min(backoff.next(), giveUpAfterMs - downMs);
          this.options.onEvent({ kind: 'restart-failed', name: this.name, attempt, err, retryInMs });
          await sleep(retryInMs, signal);
          if (aborted(signal)) return;
        }
      }
    }
  }
}
