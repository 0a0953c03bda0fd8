// The life of a child process the coordinator starts (the hub, the worker processes): a promise of
// its exit, a SIGKILL if the coordinator exits first, and a stop that kills after a grace period.
// controlplane/embedded/child-server.ts does the same for the servers it starts, but it pipes
// their output through this process and polls readiness with a backoff up to 250 ms: here the
// coordinator's CPU and the hub's restart time are measured, so children write their own log
// files and the hub's readiness is polled every 50 ms (env.ts).
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** The child's pid until it exits. */
export function livePid(child: ChildProcess | undefined): number | undefined {
  return child?.exitCode === null ? child.pid : undefined;
}

export function signalPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

/** Resolves when the child exits; until then the child is killed if the coordinator exits first. */
export function exitOf(child: ChildProcess): Promise<void> {
  const killOnExit = (): void => {
    signalPid(livePid(child), 'SIGKILL');
  };
  process.once('exit', killOnExit);
  return new Promise((done) => {
    child.once('exit', () => {
      process.removeListener('exit', killOnExit);
      done();
    });
  });
}

/** Once the child was asked to stop: SIGKILL if it has not exited within `graceMs`; resolves when it has. */
export async function exitWithin(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  // An unref'd timer: once the child has exited, nothing waits for the grace period to end.
  const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs, undefined, { ref: false }).then(() => true)]);
  if (timedOut) {
    signalPid(livePid(child), 'SIGKILL');
    await exited;
  }
}
