// The benchmark's settings: the quick and the full run, and what the command line changes in them
// (`--quick`, `--clusters 10,100`, `--rates 1000,2000`, `--full-agents 20`, `--no-extras`, `--profile`,
// `--steps-only`, `--heap-snapshot`).

export interface Config {
  readonly mode: 'quick' | 'full';
  readonly steps: readonly number[];
  readonly servicesPerCluster: number;
  readonly endpointsPerService: number;
  readonly groupSize: number;
  /**
   * Clusters per step that run the full agent with its in-memory Kubernetes side (whole groups,
   * the first ones); the others are light consumers (light-agent.ts). `--full-agents all`: every one.
   */
  readonly fullAgents: number;
  readonly rate: number;
  readonly steadyMs: number;
  /** A light load before the steady one: the latency of the path when nothing queues. */
  readonly lightRate: number;
  /** From this many clusters on, agents start spread over startSpreadMs. */
  readonly spreadFrom: number;
  readonly startSpreadMs: number;
  readonly lightMs: number;
  readonly warmupMs: number;
  readonly throughputRates: readonly number[];
  /** The step (cluster count) that runs the throughput ramp; the top step when no step has this many. */
  readonly throughputAt: number;
  readonly throughputMs: number;
  readonly bigImports: number;
  readonly workers: number;
  readonly extras: boolean;
  readonly profile: boolean;
  /** The hub writes a V8 heap snapshot when its idle memory is read (`--heap-snapshot`, to see what it holds). */
  readonly heapSnapshot: boolean;
  /** Only the cluster steps: the in-process route-plan and policy benchmarks are left out (`--steps-only`, for profiling a step). */
  readonly stepsOnly: boolean;
  /** The whole run is abandoned (and reported as far as it got) after this. */
  readonly budgetMs: number;
}

const QUICK: Config = {
  mode: 'quick',
  steps: [10, 100],
  servicesPerCluster: 10,
  endpointsPerService: 10,
  groupSize: 10,
  fullAgents: 20,
  rate: 1000,
  steadyMs: 10_000,
  lightRate: 20,
  lightMs: 5000,
  spreadFrom: 1000,
  startSpreadMs: 30_000,
  warmupMs: 1000,
  throughputRates: [100, 250, 500, 1000, 2000, 5000, 10_000],
  throughputMs: 6000,
  throughputAt: 100,
  bigImports: 100_000,
  workers: 2,
  extras: true,
  profile: false,
  heapSnapshot: false,
  stepsOnly: false,
  budgetMs: 15 * 60_000,
};

const FULL: Config = {
  mode: 'full',
  steps: [10, 100, 1000],
  servicesPerCluster: 10,
  endpointsPerService: 25,
  groupSize: 10,
  fullAgents: 20,
  rate: 1000,
  steadyMs: 30_000,
  lightRate: 20,
  lightMs: 10_000,
  spreadFrom: 1000,
  startSpreadMs: 30_000,
  warmupMs: 2000,
  throughputRates: [100, 250, 500, 1000, 2000, 5000, 10_000],
  throughputMs: 10_000,
  throughputAt: 100,
  bigImports: 100_000,
  workers: 4,
  extras: true,
  profile: false,
  heapSnapshot: false,
  stepsOnly: false,
  budgetMs: 29 * 60_000,
};

/** A comma-separated list of positive integers after `flag`; undefined when absent or empty. */
function positiveIntegers(argv: readonly string[], flag: string): number[] | undefined {
  const i = argv.indexOf(flag);
  const list = (i >= 0 ? argv[i + 1] : undefined)
    ?.split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  return list !== undefined && list.length > 0 ? list : undefined;
}

export function parseArgs(argv: readonly string[]): Config {
  const clusters = positiveIntegers(argv, '--clusters');
  const rates = positiveIntegers(argv, '--rates');
  const full = argv.indexOf('--full-agents');
  const fullArg = full >= 0 ? argv[full + 1] : undefined;
  const fullAgents = fullArg === 'all' ? Number.MAX_SAFE_INTEGER : positiveIntegers(argv, '--full-agents')?.[0];
  return {
    ...(argv.includes('--quick') ? QUICK : FULL),
    ...(clusters !== undefined ? { steps: clusters } : {}),
    ...(rates !== undefined ? { throughputRates: rates } : {}),
    ...(fullAgents !== undefined ? { fullAgents } : {}),
    extras: !argv.includes('--no-extras'),
    profile: argv.includes('--profile'),
    heapSnapshot: argv.includes('--heap-snapshot'),
    stepsOnly: argv.includes('--steps-only'),
  };
}
