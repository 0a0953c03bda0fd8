// One process the chaos runner runs as a service manager would: in a process group of its own,
// its output appended to a log file, and (for etcd, nats-server and the hubs) started again
// after an exit nobody asked for, 1 s later, the delay doubling up to 5 s while it keeps dying
// within 10 s of its start (systemd `Restart=always`, `RestartSec=1s`, no start limit). The
// runner's own signals (SIGKILL, SIGSTOP) go to the whole group; `stop` turns restarting off.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Start it again after an exit the runner did not ask for. */
  readonly restart: boolean;
  /** Answers true once the process serves. */
  readonly ready?: () => Promise<boolean>;
  /** Written with the pid of each start. */
  readonly pidFile?: string;
}

export interface ServiceEvent {
  readonly at: number;
  readonly what: 'start' | 'exit' | 'restart-scheduled';
  readonly detail: string;
  /** For an exit: the runner caused it (a fault's kill, or a stop). */
  readonly asked?: boolean;
}

const RESTART_BASE_MS = 1000;
const RESTART_MAX_MS = 5000;
/** Dying sooner than this after a start counts as failing to start: the delay doubles. */
const HEALTHY_AFTER_MS = 10_000;

export class Service {
  readonly name: string;
  readonly events: ServiceEvent[] = [];
  private readonly options: ServiceOptions;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private wanted = false;
  private delayMs = RESTART_BASE_MS;
  private restartTimer: AbortController | undefined;
  private starts = 0;
  /** The runner signalled the running process to end it. */
  private asked = false;

  constructor(options: ServiceOptions) {
    this.name = options.name;
    this.options = options;
  }

  /** The pid of the running process, undefined while it is down. */
  get pid(): number | undefined {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  /** Starts since the first (restarts by the runner's supervision included). */
  get startCount(): number {
    return this.starts;
  }

  /** Starts it and waits until it is ready. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.wanted = true;
    this.spawn();
    await this.waitReady(timeoutMs);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.running && (this.options.ready === undefined || (await this.options.ready().catch(() => false)))) return;
      if (!this.wanted) throw new Error(`${this.name} was stopped while waiting for it to be ready`);
      if (Date.now() > deadline) throw new Error(`${this.name} was not ready within ${timeoutMs} ms; see ${this.options.logFile}`);
      await sleep(50);
    }
  }

  /** A signal to the whole process group (SIGKILL, SIGSTOP, SIGCONT). */
  signal(sig: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // Gone meanwhile.
    }
  }

  /** SIGKILL and wait for the exit; supervision (if on) starts it again after its delay. */
  async kill(): Promise<void> {
    const exited = this.exited;
    if (this.running) this.asked = true;
    this.signal('SIGKILL');
    await exited;
  }

  /** Stops it for good: no restart, SIGCONT + SIGTERM, SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.wanted = false;
    this.restartTimer?.abort();
    if (!this.running) return;
    const exited = this.exited;
    this.asked = true;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs, true, { ref: false })]);
    if (timedOut) {
      this.signal('SIGKILL');
      await exited;
    }
  }

  private spawn(): void {
    const log = openSync(this.options.logFile, 'a');
    writeFileSync(log, `--- ${new Date().toISOString()} chaos runner starts ${this.options.command} ${this.options.args.join(' ')}\n`);
    const child = spawn(this.options.command, [...this.options.args], {
      cwd: this.options.cwd,
      env: this.options.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    child.on('error', () => undefined);
    this.child = child;
    this.starts++;
    this.asked = false;
    this.startedAt = Date.now();
    if (child.pid !== undefined && this.options.pidFile !== undefined) writeFileSync(this.options.pidFile, `${child.pid}\n`);
    this.note('start', `pid ${child.pid ?? '?'}`);
    // Never outlive the runner, however it ends.
    const killOnExit = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    };
    process.once('exit', killOnExit);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        process.removeListener('exit', killOnExit);
        // What it forked (none of ours do, but a group may hold more) goes with it.
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // Nothing left.
          }
        }
        this.note('exit', signal !== null ? `signal ${signal}` : `code ${String(code)}`, this.asked);
        resolve();
        this.exitedUnasked();
      });
    });
  }

  private exitedUnasked(): void {
    if (!this.wanted || !this.options.restart) return;
    const lived = Date.now() - this.startedAt;
    this.delayMs = lived < HEALTHY_AFTER_MS ? this.delayMs : RESTART_BASE_MS;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, RESTART_MAX_MS);
    this.note('restart-scheduled', `in ${delay} ms`);
    const timer = new AbortController();
    this.restartTimer = timer;
    sleep(delay, undefined, { signal: timer.signal }).then(
      () => {
        if (this.wanted && !this.running) this.spawn();
      },
      () => undefined,
    );
  }

  private note(what: ServiceEvent['what'], detail: string, asked?: boolean): void {
    this.events.push({ at: Date.now(), what, detail, ...(asked !== undefined ? { asked } : {}) });
  }
}
