// GlobalPolicy compilation and explain figures (issue 10 §7), measured in-process on one core:
// the compiler, the dependency index and the evaluator are pure functions over plain data, so
// nothing but this process's CPU (and its garbage collector) bounds these figures — no etcd, no
// NATS, no agent, no Kubernetes API server is on the path. The hub adds its registry reads and
// the agents their server-side apply on top of them.
//
// - World (the goal's, the default): 1,000 clusters (env, provider, region, gpu and role labels;
//   a few take remote peers as pod CIDRs), 200 teams each deployed in 15 clusters (namespace
//   `team-N` labelled with its team and env), 3,000 workloads (app and track labels), one global
//   service per team plus journey 3's `inference/llm-serving`; 10,000 policies: journey 3's two,
//   platform rules on cluster labels (dev must not reach prod payments, monitoring scrapes
//   everything), tenant rules between teams' namespaces, pods and services on port ranges with
//   Allow, Deny and Pass and a default deny per team, baseline rules (external CIDRs in, no
//   cross-env traffic). `--quick`: a quarter of it (250 clusters, 2,500 policies, 50 teams).
// - Full compile: prepare, the dependency index and every cluster's NetworkPolicies
//   (`compileAll`), median of the runs. Bounded by the evaluation and rendering per cluster (every
//   object lists every other cluster's pod CIDR).
// - Incremental: one workload moves to a new address; `recompileAfterEndpointChange` compares the
//   clusters the change may reach on what they read of its cluster, patches the new address into
//   those that write it and compiles those whose classes changed. p50/p99 over the runs (goal
//   p99 ≤ 50 ms), with the clusters patched and compiled per change. Restart: a workload removed,
//   then added with a new address, as two changes (the hub sees a restart so when the removal and
//   the addition arrive in two batches; within one it pairs them into a move): a class that goes
//   away changes decisions, so every cluster where it was a source compiles. Measured last.
// - Explain: 1,000 random flows (workload or service destination, a random port) through
//   `explain` without a route plan (the policy layer is what scales with the policies). Goal p99 ≤ 20 ms.
// - Peak RSS: the process's maximum resident set size after the moves and explain, and after the
//   restarts (measured last: they compile many clusters and leave garbage that would slow explain).
//
//   node bench/policy.ts [--quick|--full]  prints the figures as JSON (--full: as `npm run bench` runs it)
import { performance } from 'node:perf_hooks';
import { compileAll, recompileAfterEndpointChange, type Compilation } from '../controlplane/policy/compile/incremental.ts';
import { explain } from '../controlplane/policy/explain.ts';
import type { Flow, ServiceInfo, Workload, World } from '../controlplane/policy/model.ts';
import { policyWorld, random, type PolicyBenchOptions } from './policy-world.ts';
import { summarize } from './stats.ts';

export { policyWorld, type PolicyBenchOptions, type PolicyBenchWorld } from './policy-world.ts';

export interface PolicyFigures {
  readonly clusters: number;
  readonly policies: number;
  readonly workloads: number;
  readonly services: number;
  /** Median of `full_compile_runs`: prepare, dependency index and every cluster compiled. */
  readonly full_compile_ms: number;
  readonly full_compile_runs: number;
  readonly full_compile_spread_ms: readonly [number, number];
  readonly objects: number;
  readonly refused_clusters: number;
  readonly policy_incremental_p50_ms: number;
  readonly policy_incremental_p99_ms: number;
  readonly incremental_runs: number;
  /** Clusters compiled again per endpoint change: median and max. */
  readonly incremental_clusters_p50: number;
  readonly incremental_clusters_max: number;
  /** Clusters whose objects had the address patched in per endpoint change: median and max. */
  readonly incremental_patched_p50: number;
  readonly incremental_patched_max: number;
  /** A restart (removal, then addition with a new address): p50/p99 of both changes together, clusters compiled at the median and most. */
  readonly restart_p50_ms: number;
  readonly restart_p99_ms: number;
  readonly restart_runs: number;
  readonly restart_clusters_p50: number;
  readonly restart_clusters_max: number;
  /** Maximum resident set size of the process after the full compile, the moves and explain, MiB. */
  readonly peak_rss_mib: number;
  /** The same after the restarts (each compiles clusters anew while the previous results are alive), MiB. */
  readonly peak_rss_after_restarts_mib: number;
  readonly explain_p50_ms: number;
  readonly explain_p99_ms: number;
  readonly explain_flows: number;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function moved(w: Workload, n: number): Workload {
  // A new address in the workload's own /20 (the generator uses the low hosts only).
  const [a, b, c] = (w.ips[0] ?? '10.0.0.1').split('.');
  const base = Math.floor(Number(c ?? '0') / 16) * 16;
  return { ...w, ips: [`${a ?? '10'}.${b ?? '0'}.${base + 15 - (n % 4)}.${(n % 250) + 2}`] };
}

export function measurePolicy(options: PolicyBenchOptions = {}): PolicyFigures {
  const { world, policies } = policyWorld(options);
  const rnd = random((options.seed ?? 10) + 1);

  const fullRuns = options.fullRuns ?? 1;
  const full: number[] = [];
  let state: Compilation | undefined;
  for (let i = 0; i < fullRuns; i++) {
    const t0 = performance.now();
    state = compileAll(policies, world);
    full.push(performance.now() - t0);
  }
  if (state === undefined) throw new Error('fullRuns must be at least 1');
  let objects = 0;
  let refused = 0;
  for (const r of state.results.values()) {
    objects += r.objects.length;
    if (r.problems.some((p) => p.severity === 'error')) refused++;
  }

  const incremental: number[] = [];
  const touched: number[] = [];
  const patched: number[] = [];
  const runs = options.incrementalRuns ?? 200;
  let current = state;
  let currentWorld = world;
  for (let i = 0; i < runs; i++) {
    const k = Math.floor(rnd() * currentWorld.workloads.length);
    const before = currentWorld.workloads[k] as Workload;
    const after = moved(before, i);
    const t0 = performance.now();
    const nextWorld: World = { ...currentWorld, workloads: currentWorld.workloads.map((w, j) => (j === k ? after : w)) };
    const next = recompileAfterEndpointChange(current, nextWorld, { before, after });
    incremental.push(performance.now() - t0);
    touched.push(next.recompiled.length);
    patched.push(next.patched.length);
    current = next.compilation;
    currentWorld = nextWorld;
  }

  const explains: number[] = [];
  const nFlows = options.explainFlows ?? 1000;
  const inputs = { policies: current.prepared, world: currentWorld };
  for (let i = 0; i < nFlows; i++) {
    const a = currentWorld.workloads[Math.floor(rnd() * currentWorld.workloads.length)] as Workload;
    const b = currentWorld.workloads[Math.floor(rnd() * currentWorld.workloads.length)] as Workload;
    const s = currentWorld.services[Math.floor(rnd() * currentWorld.services.length)] as ServiceInfo;
    const flow: Flow = {
      from: { kind: 'workload', cluster: a.cluster, namespace: a.namespace, labels: a.labels, ip: a.ips[0] },
      to:
        rnd() < 0.3
          ? { kind: 'service', namespace: s.namespace, name: s.name }
          : { kind: 'workload', cluster: b.cluster, namespace: b.namespace, labels: b.labels },
      protocol: rnd() < 0.9 ? 'TCP' : 'UDP',
      port: [22, 80, 443, 5432, 8000, 8080, 8085, 9100][Math.floor(rnd() * 8)] ?? 80,
    };
    const t0 = performance.now();
    explain(inputs, flow);
    explains.push(performance.now() - t0);
  }

  const rssAfterMoves = Math.round(process.resourceUsage().maxRSS / 1024);

  const restarts: number[] = [];
  const restartTouched: number[] = [];
  for (let i = 0; i < (options.restartRuns ?? 10); i++) {
    const k = Math.floor(rnd() * currentWorld.workloads.length);
    const before = currentWorld.workloads[k] as Workload;
    const after = moved(before, runs + i);
    const t0 = performance.now();
    const gone: World = { ...currentWorld, workloads: currentWorld.workloads.filter((_, j) => j !== k) };
    const removed = recompileAfterEndpointChange(current, gone, { before });
    const back: World = { ...gone, workloads: [...gone.workloads, after] };
    const added = recompileAfterEndpointChange(removed.compilation, back, { after });
    restarts.push(performance.now() - t0);
    restartTouched.push(removed.recompiled.length + added.recompiled.length);
    current = added.compilation;
    currentWorld = back;
  }

  const inc = summarize(incremental);
  const ex = summarize(explains);
  const cl = summarize(touched);
  const pa = summarize(patched);
  const rs = summarize(restarts);
  const rc = summarize(restartTouched);
  const fs = summarize(full);
  return {
    clusters: world.clusters.length,
    policies: policies.length,
    workloads: world.workloads.length,
    services: world.services.length,
    full_compile_ms: round(fs.p50),
    full_compile_runs: fullRuns,
    full_compile_spread_ms: [round(Math.min(...full)), round(fs.max)],
    objects,
    refused_clusters: refused,
    policy_incremental_p50_ms: round(inc.p50),
    policy_incremental_p99_ms: round(inc.p99),
    incremental_runs: inc.count,
    incremental_clusters_p50: cl.p50,
    incremental_clusters_max: cl.max,
    incremental_patched_p50: pa.p50,
    incremental_patched_max: pa.max,
    restart_p50_ms: round(rs.p50),
    restart_p99_ms: round(rs.p99),
    restart_runs: rs.count,
    restart_clusters_p50: rc.p50,
    restart_clusters_max: rc.max,
    explain_p50_ms: round(ex.p50),
    explain_p99_ms: round(ex.p99),
    explain_flows: ex.count,
    peak_rss_mib: rssAfterMoves,
    peak_rss_after_restarts_mib: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/** A quarter of the goal's world, for `--quick` (seconds instead of a minute). */
export const QUICK_POLICY_OPTIONS: PolicyBenchOptions = { clusters: 250, policies: 2500, teams: 50, incrementalRuns: 50, restartRuns: 10, explainFlows: 1000 };

/** What a full `npm run bench` measures: the goal's world, with more runs than the defaults (about a minute). */
export const FULL_POLICY_OPTIONS: PolicyBenchOptions = { incrementalRuns: 100, restartRuns: 10, explainFlows: 1000 };

if (import.meta.main) {
  const options = process.argv.includes('--quick') ? QUICK_POLICY_OPTIONS : process.argv.includes('--full') ? FULL_POLICY_OPTIONS : {};
  process.stdout.write(`${JSON.stringify(measurePolicy(options), null, 2)}\n`);
}
