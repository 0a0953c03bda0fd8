// The worker processes of a step, forked with an IPC channel: start them, route their reports to
// the tracker, ask for status, and stop them (killed by pid if they do not exit in time).
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exitOf, exitWithin, livePid } from './child.ts';
import type { AgentPlan, AgentTuning, FromWorker, ToWorker, WorkerStatus } from './ipc.ts';
import type { PropagationTracker } from './tracker.ts';

const WORKER = resolve(import.meta.dirname, 'worker.ts');

export class WorkerHandle {
  readonly index: number;
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly waiters: { type: FromWorker['type']; resolve: (m: FromWorker) => void }[] = [];
  private readonly exited: Promise<void>;
  loadDone: { made: number; behindMs: number } | undefined;
  error: string | undefined;

  constructor(index: number, name: string, logFile: string, tracker: PropagationTracker, profileDir: string | undefined) {
    this.index = index;
    this.name = name;
    const log = openSync(logFile, 'a');
    const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`];
    this.child = fork(WORKER, [], {
      // --expose-gc: a restarted agent is timed as a new process would run, without the garbage its
      // predecessor left in the worker's heap (worker.ts restartAgent).
      execArgv: [...profile, '--max-old-space-size=8192', '--expose-gc'],
      env: { ...process.env, BENCH_WORKER_INDEX: String(index) },
      stdio: ['ignore', log, log, 'ipc'],
    });
    closeSync(log);
    this.exited = exitOf(this.child);
    this.child.on('message', (raw) => {
      const msg = raw as FromWorker;
      switch (msg.type) {
        case 'changes':
          tracker.addChanges(msg.phase, msg.data);
          break;
        case 'applied':
          tracker.addApplied(msg.data);
          break;
        case 'load-done':
          this.loadDone = { made: msg.made, behindMs: msg.behindMs };
          break;
        case 'error':
          this.error = msg.message;
          process.stderr.write(`worker ${name}: ${msg.message}\n`);
          break;
        case 'ready':
        case 'probed':
        case 'started':
        case 'status':
        case 'restarted':
          break;
      }
      const i = this.waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(msg);
    });
  }

  get pid(): number | undefined {
    return livePid(this.child);
  }

  send(msg: ToWorker): void {
    if (this.child.connected) this.child.send(msg);
  }

  next<T extends FromWorker['type']>(type: T, timeoutMs = 600_000): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`worker ${this.name}: no ${type} within ${timeoutMs} ms${this.error !== undefined ? ` (${this.error})` : ''}`));
      }, timeoutMs);
      timer.unref();
      this.waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolvePromise(m as Extract<FromWorker, { type: T }>);
        },
      });
    });
  }

  async status(): Promise<WorkerStatus> {
    const reply = this.next('status', 60_000);
    this.send({ type: 'status' });
    return (await reply).status;
  }

  /** From now on an agent counts as served only after a sync that completes later (WorkerStatus.servedSinceMark). */
  async mark(): Promise<WorkerStatus> {
    const reply = this.next('status');
    this.send({ type: 'mark' });
    return (await reply).status;
  }

  async stop(): Promise<void> {
    if (this.pid === undefined) return;
    this.send({ type: 'stop' });
    await exitWithin(this.child, this.exited, 20_000);
  }
}

export async function startWorkers(
  count: number,
  prefix: string,
  logDir: string,
  tracker: PropagationTracker,
  profileDir: string | undefined,
  firstIndex = 0,
): Promise<WorkerHandle[]> {
  const workers = Array.from(
    { length: count },
    (_, k) => new WorkerHandle(firstIndex + k, `${prefix}${k}`, join(logDir, `${prefix}${k}.log`), tracker, profileDir),
  );
  await Promise.all(workers.map((w) => w.next('ready', 30_000)));
  return workers;
}

export async function launchAgents(workers: readonly WorkerHandle[], plans: readonly AgentPlan[][], natsUrl: string, tuning: AgentTuning): Promise<void> {
  await Promise.all(
    workers.map(async (w, k) => {
      const started = w.next('started');
      w.send({ type: 'start', natsUrl, agents: plans[k] ?? [], tuning });
      await started;
    }),
  );
}

export async function statusOf(workers: readonly WorkerHandle[]): Promise<WorkerStatus[]> {
  return Promise.all(workers.map((w) => w.status()));
}

/** Stops every worker of a set (each killed if it does not exit in time). */
export async function stopWorkers(workers: readonly WorkerHandle[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}
