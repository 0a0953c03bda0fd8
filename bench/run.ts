// `npm run bench` (full) and `npm run bench:quick`: the benchmark of issue 5. Per step of the
// cluster sweep it starts a real etcd, a real nats-server and the real hub (a child process),
// registers the clusters through the API, fetches each cluster's credential, and runs the real
// agents (worker.ts, a few processes) against in-memory Kubernetes sides; then it measures
// propagation under a steady, paced change rate, the floor, throughput, memory and resync, and
// writes bench-results/<date>.json, docs/benchmarks.{json,md,svg}.
//
//   node bench/run.ts [--quick] [--profile] [--clusters 10,100] [--rates 1000,2000] [--no-extras]
//   node bench/run.ts --render bench-results/<run>.json
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dataset, type DatasetShape } from './dataset.ts';
import { etcdCounters, hubCounters, listProfiles, startEnv, type Env } from './env.ts';
import { measureFloor, type Floor } from './floor.ts';
import { nowMs, type AgentPlan, type WorkerStatus } from './ipc.ts';
import { launchAgents, startWorkers, statusOf, type WorkerHandle } from './pool.ts';
import { CpuMeter, round, rssBytes, type Machine } from './procs.ts';
import { writeReports } from './report.ts';
import type { BenchResult, PropagationRow, ThroughputRow } from './result.ts';
import { PropagationTracker } from './tracker.ts';

const ROOT = resolve(import.meta.dirname, '..');

interface Config {
  readonly mode: 'quick' | 'full';
  readonly steps: readonly number[];
  readonly servicesPerCluster: number;
  readonly endpointsPerService: number;
  readonly groupSize: number;
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
  readonly throughputMs: number;
  readonly bigImports: number;
  readonly workers: number;
  readonly extras: boolean;
  readonly profile: boolean;
  /** The whole run is abandoned (and reported as far as it got) after this. */
  readonly budgetMs: number;
}

function parseArgs(argv: readonly string[]): Config {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const clusters = value('--clusters')
    ?.split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const rates = value('--rates')
    ?.split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const base: Config = quick
    ? {
        mode: 'quick',
        steps: [10, 100],
        servicesPerCluster: 10,
        endpointsPerService: 10,
        groupSize: 10,
        rate: 1000,
        steadyMs: 10_000,
        lightRate: 20,
        lightMs: 5000,
        spreadFrom: 1000,
        startSpreadMs: 30_000,
        warmupMs: 1000,
        throughputRates: [100, 250, 500, 1000, 2000, 5000, 10_000],
        throughputMs: 6000,
        bigImports: 100_000,
        workers: 2,
        extras: true,
        profile: false,
        budgetMs: 15 * 60_000,
      }
    : {
        mode: 'full',
        steps: [10, 100, 1000],
        servicesPerCluster: 10,
        endpointsPerService: 25,
        groupSize: 10,
        rate: 1000,
        steadyMs: 30_000,
        lightRate: 20,
        lightMs: 10_000,
        spreadFrom: 1000,
        startSpreadMs: 30_000,
        warmupMs: 2000,
        throughputRates: [100, 250, 500, 1000, 2000, 5000, 10_000],
        throughputMs: 10_000,
        bigImports: 100_000,
        workers: 4,
        extras: true,
        profile: false,
        budgetMs: 29 * 60_000,
      };
  return {
    ...base,
    ...(clusters !== undefined && clusters.length > 0 ? { steps: clusters } : {}),
    ...(rates !== undefined && rates.length > 0 ? { throughputRates: rates } : {}),
    extras: !argv.includes('--no-extras'),
    profile: argv.includes('--profile'),
  };
}

const log = (line: string): void => {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};
const mb = (bytes: number | undefined): number => round((bytes ?? 0) / 2 ** 20, 1);

// ---- cleanup: everything started is stopped, on success, error and Ctrl-C ----------------------

const cleanups: (() => Promise<void>)[] = [];
async function cleanup(): Promise<void> {
  while (cleanups.length > 0)
    await cleanups
      .pop()?.()
      .catch(() => undefined);
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping every process the benchmark started ...\n`);
    void cleanup().finally(() => {
      rmSync(join('/dev/shm', `causeway-bench-${process.pid}`), { recursive: true, force: true });
      process.exit(130);
    });
  });
}

// ---- helpers ------------------------------------------------------------------------------------

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 250): Promise<number> {
  const start = nowMs();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return nowMs() - start;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(everyMs);
  }
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        if (item !== undefined) await fn(item);
      }
    }),
  );
}

function sum(statuses: readonly WorkerStatus[], f: (s: WorkerStatus) => number): number {
  return statuses.reduce((n, s) => n + f(s), 0);
}

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

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'controlplane', 'cluster-agent'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

// ---- one step of the sweep ----------------------------------------------------------------------

interface StepContext {
  readonly config: Config;
  readonly env: Env;
  readonly ds: Dataset;
  readonly tracker: PropagationTracker;
  readonly workers: WorkerHandle[];
  readonly cpu: CpuMeter;
  bigActive: boolean;
  big: WorkerHandle | undefined;
}

interface LoadOutcome {
  readonly row: PropagationRow;
  readonly etcdWritesPerS: number;
  readonly etcdPutsPerS: number;
  readonly reportsPerS: number;
  readonly cpuCores: Record<string, number>;
  readonly peakRssMb: Record<string, number>;
  readonly behindMs: number;
  readonly agentTimings: Record<string, number>[];
  readonly hubEventLoopLagMs: Record<string, number>;
}

function pids(ctx: StepContext): Map<string, number | undefined> {
  const m = new Map<string, number | undefined>([
    ['hub', ctx.env.hub.pid],
    ['etcd', ctx.env.etcd.server.pid],
    ['nats', ctx.env.nats.server.pid],
    ['coordinator', process.pid],
  ]);
  for (const w of ctx.workers) m.set(w.name, w.pid);
  if (ctx.big !== undefined) m.set(ctx.big.name, ctx.big.pid);
  return m;
}

/** Paced open-loop load at `rate` changes/s for `durationMs`, then drain; the tracker measures. */
async function runLoad(ctx: StepContext, phase: string, rate: number, durationMs: number): Promise<LoadOutcome> {
  const { env, tracker, workers } = ctx;
  const sources = workers;
  const etcdBefore = await etcdCounters(env.etcd.url);
  const hubBefore = await hubCounters(env.hub.url);
  const peak: Record<string, number> = {};
  const sampler = setInterval(() => {
    for (const [name, pid] of pids(ctx)) peak[name] = Math.max(peak[name] ?? 0, mb(rssBytes(pid)));
  }, 1000);
  ctx.cpu.begin();
  const start = nowMs();
  for (const w of sources) w.loadDone = undefined;
  const done = Promise.all(sources.map((w) => w.next('load-done', durationMs + 300_000)));
  for (const w of sources) w.send({ type: 'load', phase, rate: rate / sources.length, durationMs });
  const finished = await done;
  const timings = await statusOf(workers)
    .then((s) => s.map((x) => x.timings))
    .catch(() => []);
  const loadSeconds = (nowMs() - start) / 1000;
  const cpuCores = ctx.cpu.end();
  const etcdAfter = await etcdCounters(env.etcd.url);
  const hubAfter = await hubCounters(env.hub.url);
  await tracker.drain(phase, 20_000);
  clearInterval(sampler);
  const made = finished.reduce((n, f) => n + f.made, 0);
  const behindMs = Math.max(...finished.map((f) => f.behindMs));
  const r = tracker.result(phase, start + ctx.config.warmupMs);
  tracker.abandon(phase);
  const delta = (a: Record<string, number>, b: Record<string, number>, k: string): number => (b[k] ?? 0) - (a[k] ?? 0);
  return {
    row: {
      clusters: ctx.ds.shape.clusters,
      services: ctx.ds.services,
      endpoints: ctx.ds.endpoints,
      changes_per_s: round((made / durationMs) * 1000, 0),
      target_changes_per_s: rate,
      p50_ms: round(r.p50, 1),
      p99_ms: round(r.p99, 1),
      max_ms: round(r.max, 1),
      measured_changes: r.made,
      incomplete: r.incomplete,
      consumers_per_change: ctx.config.groupSize,
    },
    etcdWritesPerS: round(delta(etcdBefore, etcdAfter, 'etcd_server_proposals_committed_total') / loadSeconds, 0),
    etcdPutsPerS: round(delta(etcdBefore, etcdAfter, 'etcd_mvcc_put_total') / loadSeconds, 0),
    reportsPerS: round(delta(hubBefore, hubAfter, 'report_ok') / loadSeconds, 0),
    cpuCores,
    peakRssMb: peak,
    behindMs: round(behindMs, 0),
    agentTimings: timings,
    hubEventLoopLagMs: {
      p50: round(hubAfter.eventloop_lag_p50_ms ?? Number.NaN, 1),
      p99: round(hubAfter.eventloop_lag_p99_ms ?? Number.NaN, 1),
      max: round(hubAfter.eventloop_lag_max_ms ?? Number.NaN, 1),
    },
  };
}

/** Makes one change in every exporting cluster; resolves once every worker has made its share. */
async function probe(ctx: StepContext, phase: string, endpoint = 0): Promise<number> {
  const byWorker = new Map<WorkerHandle, number[]>();
  for (let i = 0; i < ctx.ds.shape.clusters; i++) {
    const w = ctx.workers[i % ctx.workers.length];
    if (w === undefined) continue;
    const list = byWorker.get(w) ?? [];
    list.push(i);
    byWorker.set(w, list);
  }
  const made = await Promise.all(
    [...byWorker].map(async ([w, clusters]) => {
      const done = w.next('probed', 60_000);
      w.send({ type: 'probe', phase, clusters, endpoint });
      return (await done).made;
    }),
  );
  return made.reduce((a, b) => a + b, 0);
}

/** A change in every cluster at once; the time until every consumer applied each. */
async function probeAll(ctx: StepContext, phase: string, timeoutMs: number): Promise<{ p50: number; max: number; incomplete: number }> {
  await probe(ctx, phase);
  await ctx.tracker.drain(phase, timeoutMs);
  const r = ctx.tracker.result(phase);
  ctx.tracker.abandon(phase);
  return { p50: round(r.p50, 0), max: round(r.max, 0), incomplete: r.incomplete };
}

/**
 * After an outage began at `since`: a round of changes (one per cluster) every `everyMs` until a
 * round propagates completely; "served again" is when that round's last change was applied.
 */
async function servedAgain(
  ctx: StepContext,
  prefix: string,
  since: number,
  everyMs: number,
  timeoutMs: number,
): Promise<{ servedMs: number; rounds: number; roundStarts: number[] }> {
  const starts: number[] = [];
  const deadline = since + timeoutMs;
  for (let r = 0; nowMs() < deadline; r++) {
    starts.push(nowMs());
    // Each round changes another endpoint, so a later round does not stand in for a lost one.
    await probe(ctx, `${prefix}-${r}`, r);
    const next = nowMs() + everyMs;
    while (nowMs() < next) {
      for (const [k, start] of starts.entries()) {
        const phase = `${prefix}-${k}`;
        if (ctx.tracker.pending(phase) === 0) {
          const res = ctx.tracker.result(phase);
          if (res.made > 0 && res.incomplete === 0) return { servedMs: round(start + res.max - since, 0), rounds: starts.length, roundStarts: starts };
        }
      }
      await sleep(20);
    }
  }
  return { servedMs: Number.NaN, rounds: starts.length, roundStarts: starts };
}

async function converge(workers: readonly WorkerHandle[], timeoutMs: number): Promise<number> {
  return until(
    'agents converged',
    timeoutMs,
    async () => {
      const s = await statusOf(workers);
      return sum(s, (x) => x.converged) === sum(s, (x) => x.agents);
    },
    500,
  );
}

/** Waits until the agents stop writing (VIPs assigned, statuses written): the quiet before a measurement. */
async function settle(workers: readonly WorkerHandle[], timeoutMs: number): Promise<void> {
  let last = -1;
  let quiet = 0;
  await until(
    'agents settled',
    timeoutMs,
    async () => {
      const s = await statusOf(workers);
      const writes = sum(s, (x) => (x.metrics.objectsApplied ?? 0) + (x.metrics.statusesApplied ?? 0) + (x.metrics.objectsDeleted ?? 0));
      quiet = writes === last ? quiet + 1 : 0;
      last = writes;
      return quiet >= 3;
    },
    1000,
  ).catch(() => undefined);
}

interface StepResult {
  readonly clusters: number;
  readonly floor: Floor;
  readonly registerMs: number;
  readonly credentialsMs: number;
  readonly startupConvergeMs: number;
  readonly steady: LoadOutcome;
  readonly light: LoadOutcome;
  readonly idleRssMb: Record<string, number>;
  readonly etcdKeys: number | undefined;
  readonly throughput?: ThroughputRow[];
  readonly extras?: BenchResult['resync'] & { memory: BenchResult['memory'] };
  readonly problems: string[];
}

async function runStep(config: Config, clusters: number, top: boolean, runDir: string): Promise<StepResult> {
  const shape: DatasetShape = {
    clusters,
    servicesPerCluster: config.servicesPerCluster,
    endpointsPerService: config.endpointsPerService,
    groupSize: config.groupSize,
    bigImports: config.bigImports,
  };
  const ds = new Dataset(shape);
  const stepDir = join(runDir, `step-${clusters}`);
  mkdirSync(stepDir, { recursive: true });
  const profileDir = config.profile ? join(runDir, 'profiles', `step-${clusters}`) : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  log(`step ${clusters} clusters: ${ds.services} services, ${ds.endpoints} endpoints; starting etcd, nats-server and the hub`);
  const env = await startEnv({ dataDir: join('/dev/shm', `causeway-bench-${process.pid}`, `step-${clusters}`), logDir: stepDir, profileDir });
  cleanups.push(() => env.stop());
  const problems: string[] = [];

  const floor = await measureFloor(env.store, env.nats.url, env.hubCreds);
  log(`  floor: etcd put ${floor.etcd_put_ms} ms + NATS publish→deliver ${floor.nats_publish_deliver_ms} ms = ${floor.floor_ms} ms`);

  const t0 = nowMs();
  const docs = [...ds.networkManifests(), ...Array.from({ length: clusters }, (_, i) => ds.clusterManifest(i))];
  await env.client.apply(
    docs.map((object, k) => ({ source: { document: k + 1 }, object })),
    false,
  );
  const registerMs = nowMs() - t0;
  const creds = new Map<number, string>();
  const t1 = nowMs();
  await pool(
    Array.from({ length: clusters }, (_, i) => i),
    8,
    async (i) => {
      creds.set(i, (await env.client.credentials(ds.name(i), false)).creds);
    },
  );
  const credentialsMs = nowMs() - t1;
  log(`  registered ${clusters} clusters in ${Math.round(registerMs)} ms; credentials in ${Math.round(credentialsMs)} ms`);

  let bigActive = false;
  const tracker = new PropagationTracker((c) => ds.consumersOf(c, bigActive));
  const workerCount = Math.min(config.workers, clusters);
  const workers = await startWorkers(workerCount, 'w', stepDir, tracker, profileDir);
  cleanups.push(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });
  const ctx: StepContext = {
    config,
    env,
    ds,
    tracker,
    workers,
    big: undefined,
    cpu: new CpuMeter(() => pids(ctx)),
    get bigActive() {
      return bigActive;
    },
    set bigActive(v: boolean) {
      bigActive = v;
    },
  };
  const plans: AgentPlan[][] = workers.map(() => []);
  for (let i = 0; i < clusters; i++) plans[i % workerCount]?.push(ds.agentPlan(i, creds.get(i) ?? ''));
  const t2 = nowMs();
  // At the top scale the agents join over a spread: all at once, the hub's etcd watch of the
  // exports falls behind and loses events (see docs/benchmarks.md); reconnecting at once is measured later.
  const startSpreadMs = clusters >= config.spreadFrom ? config.startSpreadMs : 0;
  await launchAgents(workers, plans, env.nats.url, { startSpreadMs });
  const startupConvergeMs = nowMs() - t2 + (await converge(workers, 420_000));
  log(
    `  ${clusters} agents started ${startSpreadMs > 0 ? `over ${startSpreadMs / 1000} s` : 'at once'} and converged (${ds.endpoints} endpoints exported, each imported by ${config.groupSize}) in ${Math.round(startupConvergeMs)} ms`,
  );
  await settle(workers, 120_000);

  const idleRssMb: Record<string, number> = {};
  for (const [name, pid] of pids(ctx)) idleRssMb[name] = mb(rssBytes(pid));
  const etcdKeys = (await etcdCounters(env.etcd.url)).etcd_debugging_mvcc_keys_total;

  const light = await runLoad(ctx, 'light', config.lightRate, config.lightMs);
  log(
    `  light load (${config.lightRate} changes/s): propagation p50 ${light.row.p50_ms} ms, p99 ${light.row.p99_ms} ms, max ${light.row.max_ms} ms over ${light.row.measured_changes} changes (${light.row.incomplete} incomplete)`,
  );
  await settle(workers, 20_000);
  log(`  steady load: ${config.rate} endpoint changes/s for ${config.steadyMs / 1000} s`);
  const steady = await runLoad(ctx, 'steady', config.rate, config.steadyMs);
  log(
    `  propagation p50 ${steady.row.p50_ms} ms, p99 ${steady.row.p99_ms} ms, max ${steady.row.max_ms} ms over ${steady.row.measured_changes} changes (${steady.row.incomplete} incomplete); ` +
      `${steady.row.changes_per_s} changes/s made; etcd ${steady.etcdWritesPerS} writes/s; CPU ${JSON.stringify(steady.cpuCores)}; hub event-loop lag ${JSON.stringify(steady.hubEventLoopLagMs)}; agents ${JSON.stringify(steady.agentTimings.map((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round(v, 1)]))))}`,
  );

  let throughput: ThroughputRow[] | undefined;
  let extras: StepResult['extras'];
  if (top) {
    throughput = [];
    for (const rate of config.throughputRates) {
      if (nowMs() > deadline) {
        problems.push('throughput ramp cut short by the run budget');
        break;
      }
      await settle(workers, 20_000);
      const o = await runLoad(ctx, `rate-${rate}`, rate, config.throughputMs);
      const ok = o.row.p99_ms < 1000 && o.row.incomplete === 0 && o.row.changes_per_s >= rate * 0.9;
      throughput.push({
        target_changes_per_s: rate,
        changes_per_s: o.row.changes_per_s,
        p50_ms: o.row.p50_ms,
        p99_ms: o.row.p99_ms,
        max_ms: o.row.max_ms,
        incomplete: o.row.incomplete,
        etcd_writes_per_s: o.etcdWritesPerS,
        etcd_puts_per_s: o.etcdPutsPerS,
        reports_per_s: o.reportsPerS,
        cpu_cores: o.cpuCores,
        generator_behind_ms: o.behindMs,
        sustained: ok,
      });
      log(
        `  throughput ${rate}/s: made ${o.row.changes_per_s}/s, p50 ${o.row.p50_ms} ms, p99 ${o.row.p99_ms} ms, incomplete ${o.row.incomplete}, etcd ${o.etcdWritesPerS} writes/s, CPU ${JSON.stringify(o.cpuCores)} -> ${ok ? 'sustained' : 'not sustained'}`,
      );
      if (!ok) break;
    }
    if (config.extras && nowMs() < deadline) extras = await runExtras(ctx, stepDir, profileDir, problems);
  }

  for (const w of [...workers, ...(ctx.big !== undefined ? [ctx.big] : [])]) {
    const s = await w.status().catch(() => undefined);
    if (s !== undefined && (s.errors > 0 || s.warnings > 0))
      problems.push(`${w.name}: ${s.warnings} agent warnings, ${s.errors} errors; last: ${s.lastProblem ?? ''}`);
  }
  await cleanup();
  if (profileDir !== undefined) log(`  CPU profiles: ${listProfiles(profileDir).join(', ')}`);
  return {
    clusters,
    floor,
    registerMs: round(registerMs, 0),
    credentialsMs: round(credentialsMs, 0),
    startupConvergeMs: round(startupConvergeMs, 0),
    steady,
    light,
    idleRssMb,
    etcdKeys,
    ...(throughput !== undefined ? { throughput } : {}),
    ...(extras !== undefined ? { extras } : {}),
    problems,
  };
}

/** Memory per endpoint, the big consumer's resyncs, a hub restart and every agent reconnecting at once. */
async function runExtras(ctx: StepContext, stepDir: string, profileDir: string | undefined, problems: string[]): Promise<NonNullable<StepResult['extras']>> {
  const { env, ds, workers } = ctx;
  await settle(workers, 30_000);
  const hubRss = mb(rssBytes(env.hub.pid));
  const perCluster = ds.shape.servicesPerCluster * ds.shape.endpointsPerService;

  // The big consumer: one agent in a worker of its own, importing ~100,000 endpoints.
  const i = ds.bigIndex;
  await env.client.apply([{ source: { document: 1 }, object: ds.clusterManifest(i) }], false);
  const creds = (await env.client.credentials(ds.name(i), false)).creds;
  const [big] = await startWorkersOne(ctx, stepDir, profileDir);
  if (big === undefined) throw new Error('no big worker');
  const baseline = await big.status();
  const expected = ds.expectedImported(i);
  log(`  big consumer: joins importing ${expected} endpoints (${ds.bigGroups} groups of ${ds.shape.groupSize} clusters × ${perCluster})`);
  const tJoin = nowMs();
  await launchAgents([big], [[ds.agentPlan(i, creds)]], env.nats.url, {});
  const joinMs = nowMs() - tJoin + (await converge([big], 300_000));
  ctx.bigActive = true;
  await settle([big], 30_000);
  const after = await big.status();
  const hubRssWithBig = mb(rssBytes(env.hub.pid));
  const agentRss = mb(after.rssBytes);
  const agentDelta = mb(after.rssBytes - baseline.rssBytes);
  log(
    `  big consumer converged in ${Math.round(joinMs)} ms; worker RSS ${agentRss} MB (${agentDelta} MB over the idle worker's ${mb(baseline.rssBytes)} MB), heap ${mb(after.heapUsedBytes)} MB`,
  );

  const restart = async (cold: boolean): Promise<number> => {
    const done = big.next('restarted', 300_000);
    big.send({ type: 'restart-agent', index: i, cold, tuning: { resyncJitterMs: 0 } });
    const r = await done;
    if (r.imported !== expected) problems.push(`${cold ? 'cold' : 'warm'} resync converged to ${r.imported} of ${expected} endpoints`);
    return round(r.convergedAtMs - r.startedAtMs, 0);
  };
  const coldMs = await restart(true);
  log(`  cold resync of ${expected} endpoints: ${coldMs} ms`);
  await settle([big], 30_000);
  const warmMs = await restart(false);
  log(`  warm resync of ${expected} endpoints: ${warmMs} ms`);
  await settle([...workers, big], 30_000);

  // The hub crashes (SIGKILL) while every cluster changes one endpoint; a new hub starts at once.
  log('  hub restart: SIGKILL, a change in every cluster, new hub process');
  let hubRestart: { hub_ready_ms: number; every_agent_served_ms: number; rounds: number; outage_changes: number; outage_changes_lost: number } | undefined;
  try {
    // First crash: one change in every cluster while no hub runs, then nothing: are they delivered?
    await env.hub.kill();
    await probe(ctx, 'hub-outage', 1);
    await env.hub.start();
    await ctx.tracker.drain('hub-outage', 30_000);
    const outage = ctx.tracker.result('hub-outage');
    ctx.tracker.abandon('hub-outage');
    log(
      `  hub crash with a change in every cluster during the outage: ${outage.made - outage.incomplete} of ${outage.made} delivered to every consumer (last after ${round(outage.max, 0)} ms from the change)`,
    );
    await settle([...workers, big], 30_000);
    // Second crash: a round of changes (one per cluster) every second until one goes all the way.
    await env.hub.kill();
    const tKill = nowMs();
    const hubStarted = env.hub.start().then(() => nowMs() - tKill);
    const served = await servedAgain(ctx, 'hub-restart', tKill, 1000, 90_000);
    const hubReadyMs = await hubStarted;
    const hubProbe = { max: served.servedMs, incomplete: outage.incomplete, rounds: served.rounds };
    for (let r = 0; r < served.rounds; r++) ctx.tracker.abandon(`hub-restart-${r}`);
    log(
      `  hub ready again after ${Math.round(hubReadyMs)} ms; every agent served again (a round of changes in every cluster applied by all consumers) ${hubProbe.max} ms after the crash (${hubProbe.rounds} rounds)`,
    );
    if (hubProbe.incomplete > 0)
      problems.push(
        `hub restart: ${hubProbe.incomplete} of ${outage.made} changes made while no hub ran were not applied by every consumer within 30 s of the new hub starting (nothing else changed afterwards)`,
      );
    hubRestart = {
      hub_ready_ms: round(hubReadyMs, 0),
      every_agent_served_ms: hubProbe.max,
      rounds: hubProbe.rounds,
      outage_changes: outage.made,
      outage_changes_lost: hubProbe.incomplete,
    };
  } catch (err) {
    problems.push(`hub restart: ${(err as Error).message}`);
    log(`  hub restart failed: ${(err as Error).message}`);
  }
  const hubUp = env.hub.pid !== undefined;
  if (!hubUp) problems.push('no hub runs after the restart test: the nats-server restart was not measured');

  // nats-server restarts (SIGKILL, same port): every agent reconnects and resyncs at once.
  let reconnectMs = Number.NaN;
  let natsUpMs = Number.NaN;
  let afterProbe = { p50: Number.NaN, max: Number.NaN, incomplete: 0 };
  if (hubUp) {
    await settle([...workers, big], 30_000);
    const all = [...workers, big];
    await Promise.all(
      all.map(async (w) => {
        const s = w.next('status');
        w.send({ type: 'mark' });
        await s;
      }),
    );
    const tNats = nowMs();
    await env.restartNats();
    natsUpMs = nowMs() - tNats;
    try {
      reconnectMs =
        natsUpMs +
        (await until(
          'every agent reconnected and synced',
          300_000,
          async () => {
            const s = await statusOf(all);
            return sum(s, (x) => x.servedSinceMark) === sum(s, (x) => x.agents) && sum(s, (x) => x.connected) === sum(s, (x) => x.agents);
          },
          250,
        ));
    } catch (err) {
      problems.push((err as Error).message);
    }
    afterProbe = await probeAll(ctx, 'after-reconnect', 120_000);
    log(
      `  nats-server restart: ${ds.shape.clusters + 1} agents reconnected and synced in ${Math.round(reconnectMs)} ms; a change in every cluster then propagated in ${afterProbe.max} ms max`,
    );
  }

  return {
    memory: {
      hub_rss_mb: hubRss,
      hub_endpoints: ds.endpoints,
      hub_rss_mb_per_100k_endpoints: round((hubRss / ds.endpoints) * 100_000, 0),
      hub_rss_mb_with_big_consumer: hubRssWithBig,
      agent_worker_rss_mb: agentRss,
      agent_worker_idle_rss_mb: mb(baseline.rssBytes),
      agent_imported_endpoints: expected,
      agent_rss_mb_per_100k_imported: round((agentDelta / expected) * 100_000, 0),
      agent_heap_mb: mb(after.heapUsedBytes),
    },
    big_consumer_join_ms: round(joinMs, 0),
    cold_resync_ms: coldMs,
    warm_resync_ms: warmMs,
    resync_endpoints: expected,
    hub_restart: hubRestart ?? { hub_ready_ms: Number.NaN, every_agent_served_ms: Number.NaN, rounds: 0, outage_changes: 0, outage_changes_lost: 0 },
    nats_restart: {
      agents: ds.shape.clusters + 1,
      nats_up_ms: round(natsUpMs, 0),
      all_reconnected_and_synced_ms: round(reconnectMs, 0),
      probe_after_max_ms: afterProbe.max,
      probe_after_incomplete: afterProbe.incomplete,
    },
  };
}

async function startWorkersOne(ctx: StepContext, stepDir: string, profileDir: string | undefined): Promise<WorkerHandle[]> {
  const ws = await startWorkers(1, 'big', stepDir, ctx.tracker, profileDir, ctx.workers.length);
  ctx.big = ws[0];
  cleanups.push(async () => {
    await Promise.all(ws.map((w) => w.stop()));
  });
  return ws;
}

// ---- main ---------------------------------------------------------------------------------------

const config = parseArgs(process.argv.slice(2));
const deadline = nowMs() + config.budgetMs;

async function main(): Promise<void> {
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const runDir = join(ROOT, 'bench-results', `${stamp}-${config.mode}`);
  mkdirSync(runDir, { recursive: true });
  log(
    `causeway benchmark (${config.mode}): steps ${config.steps.join(' / ')} clusters, ${config.servicesPerCluster} services per cluster × ${config.endpointsPerService} endpoints, ` +
      `audience ${config.groupSize} clusters per service, ${config.rate} changes/s; logs in ${runDir}`,
  );
  const steps: StepResult[] = [];
  const problems: string[] = [];
  for (const [k, clusters] of config.steps.entries()) {
    if (k > 0 && nowMs() > deadline) {
      problems.push(`step ${clusters} skipped: the run budget of ${config.budgetMs / 60_000} min was spent`);
      break;
    }
    try {
      steps.push(await runStep(config, clusters, k === config.steps.length - 1, runDir));
    } catch (err) {
      const message = `step ${clusters} failed: ${(err as Error).message}`;
      log(message);
      problems.push(message);
      await cleanup();
      break;
    }
  }
  rmSync(join('/dev/shm', `causeway-bench-${process.pid}`), { recursive: true, force: true });
  if (steps.length === 0) throw new Error(problems.join('; '));
  const last = steps[steps.length - 1];
  const result: BenchResult = {
    date: started.toISOString(),
    commit: commit(),
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
    propagation: steps.map((s) => ({ ...s.steady.row, floor_ms: s.floor.floor_ms, p50_over_floor: round(s.steady.row.p50_ms / s.floor.floor_ms, 1) })),
    propagation_light: steps.map((s) => ({ ...s.light.row, floor_ms: s.floor.floor_ms, p50_over_floor: round(s.light.row.p50_ms / s.floor.floor_ms, 1) })),
    steps: steps.map((s) => ({
      clusters: s.clusters,
      register_ms: s.registerMs,
      credentials_ms: s.credentialsMs,
      startup_converge_ms: s.startupConvergeMs,
      etcd_keys: s.etcdKeys,
      idle_rss_mb: s.idleRssMb,
      steady_peak_rss_mb: s.steady.peakRssMb,
      steady_hub_event_loop_lag_ms: s.steady.hubEventLoopLagMs,
      steady_agent_timings: s.steady.agentTimings.map((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round(v, 1)]))),
      steady_cpu_cores: s.steady.cpuCores,
      steady_etcd_writes_per_s: s.steady.etcdWritesPerS,
      steady_etcd_puts_per_s: s.steady.etcdPutsPerS,
      steady_reports_per_s: s.steady.reportsPerS,
      generator_behind_ms: s.steady.behindMs,
    })),
    throughput:
      last?.throughput === undefined
        ? undefined
        : {
            clusters: last.clusters,
            steps: last.throughput,
            max_sustained_changes_per_s: Math.max(0, ...last.throughput.filter((t) => t.sustained).map((t) => t.changes_per_s)),
          },
    memory: last?.extras?.memory,
    resync: last?.extras === undefined ? undefined : (({ memory: _m, ...rest }) => rest)(last.extras),
    problems: [...problems, ...steps.flatMap((s) => s.problems.map((p) => `step ${s.clusters}: ${p}`))],
  };
  const file = writeReports(result, ROOT, join(ROOT, 'bench-results', `${stamp}-${config.mode}.json`));
  writeFileSync(join(runDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  log(`results: ${file}, docs/benchmarks.json, docs/benchmarks.md, docs/benchmarks.svg`);
}

/** `--render FILE.json`: rewrites docs/benchmarks.{json,md,svg} from a run's JSON (after editing bench/analysis.md). */
async function render(file: string): Promise<void> {
  const result = JSON.parse(await readFile(file, 'utf8')) as BenchResult;
  writeReports(result, ROOT, file);
  log(`rendered docs/benchmarks.md, .json and .svg from ${file}`);
}

const renderFile = process.argv.includes('--render') ? process.argv[process.argv.indexOf('--render') + 1] : undefined;
(renderFile !== undefined ? render(renderFile) : main())
  .catch((err: unknown) => {
    process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    rmSync(join('/dev/shm', `causeway-bench-${process.pid}`), { recursive: true, force: true });
    // Timers of abandoned waits must not keep the run alive once everything is stopped.
    process.exit();
  });
