// What the measurements of one step share: its servers, dataset, propagation tracker, worker
// processes and what must be stopped at its end; and the processes it measures, by name.
import type { Cleanups } from './cleanups.ts';
import type { Config } from './config.ts';
import type { Dataset } from './dataset.ts';
import type { Env } from './env.ts';
import type { WorkerHandle } from './pool.ts';
import type { CpuMeter } from './procs.ts';
import type { PropagationTracker } from './tracker.ts';

export interface StepContext {
  readonly config: Config;
  readonly env: Env;
  readonly ds: Dataset;
  readonly tracker: PropagationTracker;
  readonly workers: WorkerHandle[];
  readonly cpu: CpuMeter;
  readonly cleanups: Cleanups;
  /** Once the big consumer has joined, the tracker waits for it too where it imports. */
  bigActive: boolean;
  big: WorkerHandle | undefined;
}

/** The processes measured for CPU and memory, by the name the report gives them. */
export function pids(ctx: StepContext): Map<string, number | undefined> {
  const m = new Map<string, number | undefined>([
    ['hub', ctx.env.hub.pid],
    ...(ctx.env.standby !== undefined ? ([['hub-standby', ctx.env.standby.pid]] as const) : []),
    ['etcd', ctx.env.etcd.server.pid],
    ['nats', ctx.env.nats.server.pid],
    ['coordinator', process.pid],
  ]);
  for (const w of ctx.workers) m.set(w.name, w.pid);
  if (ctx.big !== undefined) m.set(ctx.big.name, ctx.big.pid);
  return m;
}
