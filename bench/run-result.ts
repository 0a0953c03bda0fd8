// The run's results (result.ts) from its steps: what ran where (machine, commit), the workload, a
// row per step for each table, and the top step's throughput ramp, memory and resync figures.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { Config } from './config.ts';
import { round, roundValues, type Machine } from './procs.ts';
import { goalRecords } from './goal-records.ts';
import type { PolicyFigures } from './policy.ts';
import type { RoutePlanFigures } from './route-plan.ts';
import type { BenchResult, PropagationRow } from './result.ts';
import type { StepResult } from './step.ts';

function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

/** The commit measured; `+dirty` when the product's code differs from it. */
function commit(root: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'controlplane', 'cluster-agent'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

function againstFloor(row: PropagationRow, s: StepResult): PropagationRow {
  return { ...row, floor_ms: s.floor.floor_ms, p50_over_floor: round(row.p50_ms / s.floor.floor_ms, 1) };
}

function stepRow(s: StepResult): BenchResult['steps'][number] {
  return {
    clusters: s.clusters,
    register_ms: s.registerMs,
    credentials_ms: s.credentialsMs,
    startup_converge_ms: s.startupConvergeMs,
    etcd_keys: s.etcdKeys,
    idle_rss_mb: s.idleRssMb,
    steady_peak_rss_mb: s.steady.peakRssMb,
    steady_hub_event_loop_lag_ms: s.steady.hubEventLoopLagMs,
    steady_agent_timings: s.steady.agentTimings.map((t) => roundValues(t)),
    steady_cpu_cores: s.steady.cpuCores,
    steady_etcd_writes_per_s: s.steady.etcdWritesPerS,
    steady_etcd_puts_per_s: s.steady.etcdPutsPerS,
    steady_reports_per_s: s.steady.reportsPerS,
    steady_report_outcomes: s.steady.reportOutcomes,
    generator_behind_ms: s.steady.behindMs,
  };
}

export function buildResult(
  config: Config,
  steps: readonly StepResult[],
  problems: readonly string[],
  started: Date,
  root: string,
  routePlan?: RoutePlanFigures,
  policy?: PolicyFigures,
): BenchResult {
  const last = steps[steps.length - 1];
  const ramp = steps.find((s) => s.throughput !== undefined);
  const figures: Omit<BenchResult, 'goals'> = {
    date: started.toISOString(),
    commit: commit(root),
    mode: config.mode,
    duration_s: round((Date.now() - started.getTime()) / 1000, 0),
    machine: machine(),
    setup: {
      services_per_cluster: config.servicesPerCluster,
      endpoints_per_service: config.endpointsPerService,
      consumers_per_service: config.groupSize,
      steady_changes_per_s: config.rate,
      steady_seconds: config.steadyMs / 1000,
      warmup_seconds: config.warmupMs / 1000,
      worker_processes: config.workers,
    },
    floor_ms: last?.floor.floor_ms ?? Number.NaN,
    floor: steps.map((s) => ({ clusters: s.clusters, ...s.floor })),
    propagation: steps.map((s) => againstFloor(s.steady.row, s)),
    propagation_light: steps.map((s) => againstFloor(s.light.row, s)),
    steps: steps.map(stepRow),
    throughput:
      ramp?.throughput === undefined
        ? undefined
        : {
            clusters: ramp.clusters,
            steps: ramp.throughput,
            max_sustained_changes_per_s: Math.max(0, ...ramp.throughput.filter((t) => t.sustained).map((t) => t.changes_per_s)),
          },
    memory: last?.extras?.memory,
    resync: last?.extras === undefined ? undefined : (({ memory: _m, ...rest }) => rest)(last.extras),
    ...(routePlan !== undefined ? { route_plan: routePlan } : {}),
    ...(policy !== undefined ? { policy } : {}),
    clusters: last?.clusters ?? 0,
    endpoints: last?.steady.row.endpoints ?? 0,
    problems: [...problems, ...steps.flatMap((s) => s.problems.map((p) => `step ${s.clusters}: ${p}`))],
  };
  return { ...figures, goals: goalRecords(figures) };
}
