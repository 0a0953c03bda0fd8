// Everything the benchmark starts is stopped, on success, on error and on Ctrl-C: a stack of stop
// functions run in reverse order of start, and the tmpfs folder the steps' servers keep data in.
import { rmSync } from 'node:fs';
import { join } from 'node:path';

/** The run's server data, on tmpfs because etcd 3.4 has no --unsafe-no-fsync; one folder per coordinator. */
export const DATA_DIR = join('/dev/shm', `causeway-bench-${process.pid}`);

export function removeDataDir(): void {
  rmSync(DATA_DIR, { recursive: true, force: true });
}

export class Cleanups {
  private readonly stops: (() => Promise<void>)[] = [];

  push(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }

  /** Runs every stop pushed so far, the last first; one that fails does not keep the others from running. */
  async run(): Promise<void> {
    while (this.stops.length > 0)
      await this.stops
        .pop()?.()
        .catch(() => undefined);
  }
}

/** SIGINT or SIGTERM stops everything, removes the data and exits 130; a second signal exits at once. */
export function stopOnSignals(cleanups: Cleanups): void {
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write(`\n${sig}: stopping every process the benchmark started ...\n`);
      void cleanups.run().finally(() => {
        removeDataDir();
        process.exit(130);
      });
    });
  }
}
