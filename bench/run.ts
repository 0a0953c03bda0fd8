// `npm run bench` (full) and `npm run bench:quick`: the benchmark of issue 5. Per step of the
// cluster sweep it starts a real etcd, a real nats-server and the real hub (a child process),
// registers the clusters through the API, fetches each cluster's credential, and runs the real
// agents (worker.ts, a few processes) against in-memory Kubernetes sides; then it measures
// propagation under a steady, paced change rate, the floor, throughput, memory and resync, and
// writes bench-results/<date>.json, docs/benchmarks.{json,md,svg}.
//
//   node bench/run.ts [--quick] [--profile] [--clusters 10,100] [--rates 1000,2000] [--no-extras] [--steps-only]
//   node bench/run.ts --render bench-results/<run>.json
//
// This file is the composition root: settings (config.ts), one step (step.ts, with load.ts,
// extras.ts and restarts.ts), the results (run-result.ts) and the report (report.ts).
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Cleanups, removeDataDir, stopOnSignals } from './cleanups.ts';
import { parseArgs, type Config } from './config.ts';
import { nowMs } from './ipc.ts';
import { log } from './log.ts';
import { writeReports } from './report.ts';
import type { BenchResult } from './result.ts';
import { goalRecords } from './goal-records.ts';
import type { PolicyFigures } from './policy.ts';
import type { RoutePlanFigures } from './route-plan.ts';
import { buildResult } from './run-result.ts';
import { runStep, type RunContext, type StepResult } from './step.ts';

const ROOT = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

/**
 * Every step in turn, the top one with the extras and the throughput ramp at `throughputAt` clusters
 * (issue 11's goal is stated at 100; the top step when no step has that many); a failed step ends
 * the sweep, and what ran is still reported.
 */
async function runSteps(run: RunContext): Promise<{ steps: StepResult[]; problems: string[] }> {
  const { config } = run;
  const steps: StepResult[] = [];
  const problems: string[] = [];
  for (const [k, clusters] of config.steps.entries()) {
    if (k > 0 && nowMs() > run.deadline) {
      problems.push(`step ${clusters} skipped: the run budget of ${config.budgetMs / 60_000} min was spent`);
      break;
    }
    try {
      const top = k === config.steps.length - 1;
      const ramp = clusters === config.throughputAt || (top && !config.steps.includes(config.throughputAt));
      steps.push(await runStep(run, clusters, top, ramp));
    } catch (err) {
      const message = `step ${clusters} failed: ${(err as Error).message}`;
      log(message);
      problems.push(message);
      await run.cleanups.run();
      break;
    }
  }
  return { steps, problems };
}

/**
 * The in-process, CPU-bound benchmarks (route plan, policy), run after the servers of the sweep are
 * gone, each in a node process of its own: in the coordinator they shared its heap and timers with
 * what the sweep left (the incremental route plan's p99 read 47-93 ms there in full runs, 20-27 ms
 * alone), and the policy figure's peak RSS was the coordinator's.
 */
async function inProcessBenchmarks(
  config: Config,
  problems: string[],
): Promise<{ routePlan: RoutePlanFigures | undefined; policy: PolicyFigures | undefined }> {
  log('route plan: 1,000 clusters over 100 domains, full and incremental; a steady AWS reconcile against the EC2 double');
  const routePlan = await figuresOf<RoutePlanFigures>('route-plan.ts', []).catch((err: unknown) => {
    problems.push(`route plan: ${(err as Error).message}`);
    return undefined;
  });
  // Issue 10's world in a full run (1,000 clusters, 10,000 policies: about a minute), a quarter of it in a quick one.
  log(`policy: compile, incremental recompile and explain at ${config.mode === 'full' ? '1,000 clusters / 10,000 policies' : '250 clusters / 2,500 policies'}`);
  const policy = await figuresOf<PolicyFigures>('policy.ts', [config.mode === 'full' ? '--full' : '--quick']).catch((err: unknown) => {
    problems.push(`policy: ${(err as Error).message}`);
    return undefined;
  });
  return { routePlan, policy };
}

/** Runs `node bench/<script> ...args` and reads the figures it prints as JSON. */
async function figuresOf<T>(script: string, args: readonly string[]): Promise<T> {
  const { stdout } = await run(process.execPath, [join(ROOT, 'bench', script), ...args], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

async function main(argv: readonly string[], cleanups: Cleanups): Promise<void> {
  const config = parseArgs(argv);
  const deadline = nowMs() + config.budgetMs;
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const runDir = join(ROOT, 'bench-results', `${stamp}-${config.mode}`);
  mkdirSync(runDir, { recursive: true });
  log(
    `causeway benchmark (${config.mode}): steps ${config.steps.join(' / ')} clusters, ${config.servicesPerCluster} services per cluster × ${config.endpointsPerService} endpoints, ` +
      `audience ${config.groupSize} clusters per service, ${config.rate} changes/s; logs in ${runDir}`,
  );
  const { steps, problems } = await runSteps({ config, cleanups, runDir, deadline });
  removeDataDir();
  if (steps.length === 0) throw new Error(problems.join('; '));
  if (config.stepsOnly) problems.push('route plan and policy: not measured (--steps-only)');
  const { routePlan, policy } = config.stepsOnly ? { routePlan: undefined, policy: undefined } : await inProcessBenchmarks(config, problems);
  const result = buildResult(config, steps, problems, started, ROOT, routePlan, policy);
  const file = writeReports(result, ROOT, join(ROOT, 'bench-results', `${stamp}-${config.mode}.json`));
  writeFileSync(join(runDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  log(`results: ${file}, docs/benchmarks.json, docs/benchmarks.md, docs/benchmarks.svg`);
}

/** `--render FILE.json`: rewrites docs/benchmarks.{json,md,svg} from a run's JSON (after editing bench/analysis.md). */
async function render(file: string): Promise<void> {
  const read = JSON.parse(await readFile(file, 'utf8')) as BenchResult;
  // The goal records follow the current rules (bench/goal-records.ts), whatever the run wrote.
  const result: BenchResult = { ...read, goals: goalRecords(read) };
  writeReports(result, ROOT, file);
  log(`rendered docs/benchmarks.md, .json and .svg from ${file}`);
}

const argv = process.argv.slice(2);
const cleanups = new Cleanups();
stopOnSignals(cleanups);
const renderFile = argv.includes('--render') ? argv[argv.indexOf('--render') + 1] : undefined;
(renderFile !== undefined ? render(renderFile) : main(argv, cleanups))
  .catch((err: unknown) => {
    process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanups.run();
    removeDataDir();
    // Timers of abandoned waits must not keep the run alive once everything is stopped.
    process.exit();
  });
